package auth_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/staylock/staylock/auth"
)

func TestNewAPIKeyShape(t *testing.T) {
	id, secret, hash := auth.NewAPIKey()
	if !strings.HasPrefix(id, "key_") || len(id) != len("key_")+12 {
		t.Errorf("id %q: want key_ + 12 characters", id)
	}
	if !strings.HasPrefix(secret, "sl_") || len(secret) != len("sl_")+43 {
		t.Errorf("secret %q: want sl_ + 43 characters", secret)
	}
	if !auth.LooksLikeAPIKey(secret) {
		t.Errorf("LooksLikeAPIKey(%q) = false", secret)
	}
	want := sha256.Sum256([]byte(secret))
	if !bytes.Equal(hash, want[:]) || !bytes.Equal(auth.HashAPIKey(secret), hash) {
		t.Errorf("hash is not the SHA-256 of the secret")
	}
	if strings.Contains(secret, strings.TrimPrefix(id, "key_")) {
		t.Errorf("the id must not reveal part of the secret")
	}
}

func TestNewAPIKeyUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id, secret, _ := auth.NewAPIKey()
		if seen[id] || seen[secret] {
			t.Fatalf("repeated id or secret after %d keys", len(seen)/2)
		}
		seen[id], seen[secret] = true, true
	}
}

func TestSecretCharactersAreSpread(t *testing.T) {
	counts := map[rune]int{}
	for range 2000 {
		_, secret, _ := auth.NewAPIKey()
		for _, r := range strings.TrimPrefix(secret, "sl_") {
			counts[r]++
		}
	}
	// 86000 characters over 62 symbols: about 1387 each.
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for r, n := range counts {
		if n < 1100 || n > 1700 {
			t.Errorf("character %q appears %d times, want about 1387", r, n)
		}
	}
}

func TestLooksLikeAPIKey(t *testing.T) {
	_, good, _ := auth.NewAPIKey()
	tests := map[string]bool{
		good:                            true,
		"":                              false,
		"sl_":                           false,
		strings.TrimPrefix(good, "sl_"): false,
		good + "x":                      false,
		good[:len(good)-1] + "-":        false,
		"Bearer " + good:                false,
		"sl_" + strings.Repeat("a", 43): true,
	}
	for in, want := range tests {
		if got := auth.LooksLikeAPIKey(in); got != want {
			t.Errorf("LooksLikeAPIKey(%q) = %v, want %v", in, got, want)
		}
	}
}
