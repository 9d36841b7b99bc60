package gateway_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// TestMaintenance: once every node confirmed `down` (the generation it
// raised), every API route answers 503 maintenance with Retry-After and
// the message, whatever the key; the bypass secret passes; the operational
// endpoints stay 200 and /health reports it; `up` restores.
func TestMaintenance(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.KeyPoll = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Watch(ctx, "node-1"); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	sum := sha256.Sum256([]byte("let-me-in"))
	gen, err := e.store.SetMaintenance(context.Background(), persistence.Maintenance{On: true, RetryAfter: 90,
		Message: "Upgrading the database", SecretHash: sum[:], Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	waitLaggards(t, e.store, gen, []string{"node-1"})

	for _, r := range e.srv.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		name := r.Method + " " + r.Path
		w := e.do(r.Method, e.fill(t, r.Path)+sampleQueries[name], "a-admin", sampleBodies[name])
		got := mustError(t, w, http.StatusServiceUnavailable, "maintenance")
		if w.Header().Get("Retry-After") != "90" || got.Error.Message != "Upgrading the database" || got.Error.Details["retry_after"] != float64(90) {
			t.Errorf("%s: Retry-After %q, %+v", name, w.Header().Get("Retry-After"), got.Error)
		}
	}
	mustError(t, e.do("GET", "/v1/properties", "", ""), http.StatusServiceUnavailable, "maintenance") // before auth too
	mustError(t, e.do("GET", "/v1/properties", "a-admin", "", gateway.HeaderMaintenanceBypass, "wrong"), http.StatusServiceUnavailable, "maintenance")
	e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-admin", "", gateway.HeaderMaintenanceBypass, "let-me-in"))
	for _, p := range []string{"/livez", "/readyz", "/metrics", "/"} {
		e.mustStatus(http.StatusOK, e.do("GET", p, "", ""))
	}
	if b := e.ops(t, "/health", http.StatusOK); !strings.Contains(e.do("GET", "/health", "", "").Body.String(), `"maintenance":{"on":true,"retry_after":90,"message":"Upgrading the database"`) {
		t.Errorf("health during maintenance: %+v", b)
	}

	gen, err = e.store.SetMaintenance(context.Background(), persistence.Maintenance{})
	if err != nil {
		t.Fatal(err)
	}
	waitLaggards(t, e.store, gen, []string{"node-1"})
	e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-admin", ""))
}
