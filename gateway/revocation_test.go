package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/persistence"
)

// TestRevocationReachesEveryNode: two nodes over one database both trust a
// key from their caches; once the revocation is confirmed by every live
// node (what `keys revoke` waits for) the key answers 401 on both at once,
// with no cache expiry to wait for. Revoking again is refused and changes
// nothing.
func TestRevocationReachesEveryNode(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, func(o *gateway.Options) { o.KeyPoll = 20 * time.Millisecond })
		other := gateway.New(e.store, e.engine, zap.NewNop(), gateway.WithClock(gateway.Options{KeyPoll: 20 * time.Millisecond}, envNow))
		t.Cleanup(other.Close)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		for name, srv := range map[string]*gateway.Server{"node-1": e.srv, "node-2": other} {
			go func() { srv.Watch(ctx, name); done <- struct{}{} }()
		}
		t.Cleanup(func() { cancel(); <-done; <-done })

		onOther := func() int {
			r := httptest.NewRequest(http.MethodGet, "/v1/properties", nil)
			r.Header.Set("Authorization", "Bearer "+e.keys["a-channel"])
			w := httptest.NewRecorder()
			other.Handler().ServeHTTP(w, r)
			return w.Code
		}
		// Both nodes have confirmed and cached the key.
		waitLaggards(t, e.store, 0, []string{"node-1", "node-2"})
		e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-channel", ""))
		if code := onOther(); code != http.StatusOK {
			t.Fatalf("node 2 before revocation: %d", code)
		}

		gen, err := e.store.RevokeAPIKey(context.Background(), e.keyIDs["a-channel"], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		waitLaggards(t, e.store, gen, []string{"node-1", "node-2"})
		mustError(t, e.do("GET", "/v1/properties", "a-channel", ""), http.StatusUnauthorized, "unauthorized")
		if code := onOther(); code != http.StatusUnauthorized {
			t.Fatalf("node 2 after every node confirmed the revocation: %d, want 401", code)
		}
		if _, err := e.store.RevokeAPIKey(context.Background(), e.keyIDs["a-channel"], time.Now()); !errors.Is(err, persistence.ErrAlreadyRevoked) {
			t.Fatalf("revoke twice: %v, want ErrAlreadyRevoked", err)
		}
	})
}

// waitLaggards waits until each of nodes has confirmed generation gen and
// none lags behind it.
func waitLaggards(t *testing.T, st persistence.Store, gen int64, nodes []string) {
	t.Helper()
	poll.EventuallyNil(t, 10*time.Second, fmt.Sprintf("generation %d confirmed by %v", gen, nodes), func() error {
		// Who is live first, then who lags: the other order can miss a
		// node whose first confirmation lands between the two reads.
		since := time.Now().Add(-gateway.KeyNodeLive)
		seen, serr := st.KeyGenerationLaggards(context.Background(), 1<<62, since)
		lag, err := st.KeyGenerationLaggards(context.Background(), gen, since)
		if err == nil && serr == nil && len(lag) == 0 && containsAll(seen, nodes) {
			return nil
		}
		return fmt.Errorf("lagging %v, live %v (%v %v)", lag, seen, err, serr)
	})
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}
