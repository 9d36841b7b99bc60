package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestKeysRevoke_TakesEffectBeforeItReturns: a key a running node has
// cached answers 401 on the very next request once `keys revoke` returns
// (no cache lifetime to wait out), and revoking it again says so and exits
// non-zero.
func TestKeysRevoke_TakesEffectBeforeItReturns(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		key := b.MustCreateKey(t, "acme", "channel")
		s := b.MustStart(t)
		c := newClient(s.url, key)
		for range 3 { // the node now serves the key from its cache
			c.MustDo(t, "GET", "/v1/properties", nil, http.StatusOK, nil)
		}
		var keys []struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		}
		if err := json.Unmarshal([]byte(b.MustRunCommand(t, "keys", "list", "--json")), &keys); err != nil || len(keys) != 1 {
			t.Fatalf("keys list --json: %v %+v", err, keys)
		}
		out := b.MustRunCommand(t, "keys", "revoke", keys[0].ID)
		if !strings.Contains(out, "no live node accepts it") {
			t.Errorf("revoke said %q", out)
		}
		c.MustDo(t, "GET", "/v1/properties", nil, http.StatusUnauthorized, nil)

		cmdOut, err := b.runCommand("keys", "revoke", keys[0].ID)
		if err == nil || !strings.Contains(cmdOut, "already revoked") {
			t.Errorf("revoke twice: %v %s", err, cmdOut)
		}
	})
}
