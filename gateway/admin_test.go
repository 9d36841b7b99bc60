package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/persistence"
)

// TestAdminJobsUI: River's UI under /admin/jobs opens only for admin keys
// of the operators' tenant (HTTP Basic password or Bearer): no key is 401
// with a Basic challenge, a channel key or another tenant's admin key 403.
func TestAdminJobsUI(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.AdminTenant = tenantA })
	lite, ok := e.store.(*persistence.SQLiteStore)
	if !ok {
		t.Fatalf("store is %T", e.store)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ui, err := jobs.NewUISQLite(ctx, lite.DB(), gateway.AdminJobsPrefix, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(e.store, e.engine, zap.NewNop(), gateway.WithClock(gateway.Options{AdminTenant: tenantA, AdminJobs: ui}, envNow))
	t.Cleanup(srv.Close)
	get := func(path string, set func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if set != nil {
			set(r)
		}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w
	}
	w := get("/admin/jobs/", nil)
	mustError(t, w, http.StatusUnauthorized, "unauthorized")
	if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no Basic challenge: %v", w.Header())
	}
	for _, key := range []string{"a-channel", "b-admin"} {
		mustError(t, get("/admin/jobs/", func(r *http.Request) { r.SetBasicAuth("ops", e.keys[key]) }), http.StatusForbidden, "forbidden")
	}
	w = get("/admin/jobs/", func(r *http.Request) { r.SetBasicAuth("ops", e.keys["a-admin"]) })
	if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("admin: %d %s %.200s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = get("/admin/jobs/api/jobs?state=available", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+e.keys["a-admin"]) })
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "data") {
		t.Errorf("job list API: %d %.300s", w.Code, w.Body.String())
	}
	// A server without the UI (no ADMIN_TENANT in serve) has no such page.
	mustError(t, e.do("GET", "/admin/jobs/", "a-admin", ""), http.StatusNotFound, "not_found")
}
