// Package auth makes and hashes API keys. Only the SHA-256 of a key's
// secret is ever stored; the secret is shown once, when the key is created.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Prefixes of the two parts of an API key.
const (
	// SecretPrefix starts every secret (the bearer token): "sl_…".
	SecretPrefix = "sl_"
	// IDPrefix starts every key id: "key_…", safe to show and log.
	IDPrefix = "key_"
)

const (
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	secretChars = 43 // 43 base62 characters carry 256 bits (62^43 > 2^256)
	idChars     = 12 // 12 base62 characters carry 71 bits
)

// NewAPIKey makes a new key: its public id ("key_" + 12 base62
// characters), its secret ("sl_" + 43 base62 characters, 256 random bits)
// and the secret's hash, which is what gets stored.
func NewAPIKey() (id, secret string, hash []byte) {
	id = IDPrefix + randomBase62(idChars)
	secret = SecretPrefix + randomBase62(secretChars)
	return id, secret, HashAPIKey(secret)
}

// HashAPIKey is the SHA-256 of a secret: the lookup key of the stored key.
// (A fast hash is right here: the secret is 256 random bits, not a password.)
func HashAPIKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// LooksLikeAPIKey reports whether s has the shape of a secret made by
// NewAPIKey, so that garbage can be refused without a database lookup.
func LooksLikeAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok || len(rest) != secretChars {
		return false
	}
	for i := range len(rest) {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// randomBase62 returns n uniformly random base62 characters, by rejection
// sampling bytes from crypto/rand (so no character is more likely than
// another).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b < 248 { // 248 = 4*62: keeps b%62 uniform
				out = append(out, base62[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}
