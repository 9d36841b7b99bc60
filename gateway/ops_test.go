package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/persistence"
)

type opsBody struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Draining bool   `json:"draining"`
	Checks   map[string]struct {
		Status    string   `json:"status"`
		LatencyMS *float64 `json:"latency_ms"`
		Error     string   `json:"error"`
	} `json:"checks"`
}

func (e *env) ops(t *testing.T, path string, want int) opsBody {
	t.Helper()
	w := e.do("GET", path, "", "")
	if w.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, w.Code, w.Body.String(), want)
	}
	var b opsBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return b
}

// TestOperations: liveness, readiness (checks, added checks, draining) and
// health need no key and report what fails.
func TestOperations(t *testing.T) {
	e := newEnv(t, "sqlite")

	if b := e.ops(t, "/livez", http.StatusOK); b.Status != "ok" {
		t.Errorf("livez %+v", b)
	}
	b := e.ops(t, "/readyz", http.StatusOK)
	if b.Status != "ok" || b.Checks["database"].Status != "ok" || b.Checks["actors"].Status != "ok" {
		t.Errorf("readyz %+v", b)
	}
	b = e.ops(t, "/health", http.StatusOK)
	if b.Status != "ok" || b.Version != "test-1.2.3" || b.Checks["database"].LatencyMS == nil {
		t.Errorf("health %+v", b)
	}

	e.engine.setReady(errors.New("no cluster member"))
	b = e.ops(t, "/readyz", http.StatusServiceUnavailable)
	if b.Status != "failing" || b.Checks["actors"].Status != "failing" || b.Checks["database"].Status != "ok" {
		t.Errorf("readyz with actors down %+v", b)
	}
	if b = e.ops(t, "/health", http.StatusServiceUnavailable); b.Status != "failing" {
		t.Errorf("health with actors down %+v", b)
	}
	e.engine.setReady(nil)

	// A soft check (the bus) failing degrades, and keeps the node in
	// rotation: bookings go on without Redis.
	e.srv.AddSoftCheck("bus", func(context.Context) error { return errors.New("redis: connection refused") })
	b = e.ops(t, "/readyz", http.StatusOK)
	if b.Status != "degraded" || b.Checks["bus"].Status != "degraded" || b.Checks["database"].Status != "ok" {
		t.Errorf("readyz with bus down %+v", b)
	}
	if strings.Contains(b.Checks["bus"].Error, "redis") {
		t.Errorf("check error text shown without debug: %q", b.Checks["bus"].Error)
	}
	if b = e.ops(t, "/health", http.StatusOK); b.Status != "degraded" {
		t.Errorf("health with bus down %+v", b)
	}
	// A hard check failing takes the node out, whatever the soft ones say.
	e.srv.AddCheck("queue", func(context.Context) error { return errors.New("queue: no table") })
	if b = e.ops(t, "/readyz", http.StatusServiceUnavailable); b.Status != "failing" || b.Checks["queue"].Status != "failing" {
		t.Errorf("readyz with queue down %+v", b)
	}
	if b = e.ops(t, "/health", http.StatusServiceUnavailable); b.Status != "failing" {
		t.Errorf("health with queue down %+v", b)
	}
	e.srv.AddCheck("queue", func(context.Context) error { return nil }) // replaces
	e.srv.AddSoftCheck("bus", func(ctx context.Context) error { return nil })
	if b = e.ops(t, "/readyz", http.StatusOK); b.Status != "ok" || b.Checks["bus"].Status != "ok" {
		t.Errorf("readyz with bus back %+v", b)
	}

	e.srv.SetDraining(true)
	if b = e.ops(t, "/readyz", http.StatusServiceUnavailable); b.Status != "draining" {
		t.Errorf("readyz while draining %+v", b)
	}
	e.ops(t, "/livez", http.StatusOK)
	e.srv.SetDraining(false)
	e.ops(t, "/readyz", http.StatusOK)
}

// TestMetrics: /metrics (no key) has the request counter labelled by route
// template ("unmatched" for unknown paths), the latency histogram and the
// booking outcomes.
func TestMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1", "a-viewer", ""))
	e.do("GET", "/no/such/path", "", "")
	tooMany := strings.Replace(reservationJSON, `"quantity":1`, `"quantity":99`, 1)
	e.do("POST", "/v1/properties/p1/reservations", "a-channel", tooMany)
	e.mustStatus(http.StatusOK, e.do("POST", "/v1/reservations/"+e.resID+"/cancel", "a-channel", ""))
	e.mustStatus(http.StatusOK, e.do("POST", "/v1/reservations/"+e.resID+"/cancel", "a-channel", "")) // counted once

	w := e.do("GET", "/metrics", "", "")
	if w.Code != http.StatusOK {
		t.Fatalf("metrics: %d", w.Code)
	}
	text := w.Body.String()
	for _, want := range []string{
		`hotel_http_requests_total{method="GET",route="/v1/properties/:property",status="200"} 1`,
		`hotel_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`hotel_http_requests_total{method="POST",route="/v1/properties/:property/reservations",status="201"} 1`,
		`hotel_http_request_duration_seconds_bucket{method="GET",route="/v1/properties/:property",le=`,
		`hotel_bookings_total{channel="booking.com",outcome="confirmed"} 1`,
		`hotel_bookings_total{channel="booking.com",outcome="sold_out"} 1`,
		`hotel_bookings_total{channel="booking.com",outcome="cancelled"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, e.resID) {
		t.Error("a reservation id is a metric label: routes must be templates")
	}
}

// TestQueueCheck: /health and /readyz show the queue (jobs waiting, the
// oldest one's age, dead jobs); a job waiting too long degrades, never
// fails, readiness.
func TestQueueCheck(t *testing.T) {
	e := newEnv(t, "sqlite")
	if err := e.store.CommitBatch(context.Background(), persistence.Batch{ActorID: "test/queue",
		Jobs: []persistence.JobRow{{Kind: "reservation_mail", Queue: "mail", Key: "r_x.confirmed.v1", Args: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Status string `json:"status"`
		Checks map[string]struct {
			Status string         `json:"status"`
			Info   map[string]any `json:"info"`
		} `json:"checks"`
	}
	e.srv.AddQueueCheck(time.Hour)
	e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/health", "", "")), &body)
	q := body.Checks["queue"]
	if q.Status != "ok" || q.Info["available"] != float64(1) || q.Info["discarded"] != float64(0) || q.Info["oldest_available_seconds"] == nil {
		t.Errorf("queue check %+v", q)
	}
	e.srv.AddQueueCheck(-time.Second) // any waiting job is too old
	e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/readyz", "", "")), &body)
	if body.Status != "degraded" || body.Checks["queue"].Status != "degraded" || body.Checks["queue"].Info["available"] != float64(1) {
		t.Errorf("readyz with a stale queue %+v", body)
	}
}
