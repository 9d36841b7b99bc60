package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// reencode returns the same JSON written differently (indented, keys in
// another order), which must count as the same request.
func reencode(t *testing.T, body string) string {
	t.Helper()
	if body == "" {
		return "{}"
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, " ", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) == body {
		t.Fatal("re-encoding changed nothing")
	}
	return string(b)
}

// TestIdempotentReplay: on every state-changing route, the same key with
// the same request replays the first response byte for byte (also when the
// body is re-encoded) without asking the engine again, and the same key
// with another request is 422.
func TestIdempotentReplay(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		cases := []struct {
			name, method, path, body, other string
			status                          int
			// hot routes skip the database lookup: the engine is asked each
			// time and its actor answers a known key without a second effect
			hot bool
		}{
			{"create reservation", "POST", "/v1/properties/p1/reservations", reservationJSON,
				strings.Replace(reservationJSON, "BDC-123", "BDC-124", 1), http.StatusCreated, true},
			{"create hold", "POST", "/v1/properties/p1/holds", holdJSON,
				strings.Replace(holdJSON, "600", "60", 1), http.StatusCreated, true},
			{"update inventory", "POST", "/v1/properties/p1/inventory", inventoryJSON,
				strings.Replace(inventoryJSON, "13900", "14900", 1), http.StatusOK, false},
			{"modify reservation", "PATCH", "/v1/reservations/" + e.resID, modifyJSON,
				strings.Replace(modifyJSON, "2026-12-04", "2026-12-05", 1), http.StatusOK, false},
			{"cancel reservation", "POST", "/v1/reservations/" + e.resID + "/cancel", "", "", http.StatusOK, false},
			{"release hold", "DELETE", "/v1/holds/" + e.holdID, "", "", http.StatusNoContent, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				key := "key " + tc.name
				calls := e.engine.calls.Load()
				first := e.do(tc.method, tc.path, "a-admin", tc.body, "Idempotency-Key", key)
				if first.Code != tc.status {
					t.Fatalf("first: %d %s", first.Code, first.Body.String())
				}
				if first.Header().Get(gateway.HeaderReplayed) != "" {
					t.Fatal("first response marked as replayed")
				}
				for _, body := range []string{tc.body, reencode(t, tc.body)} {
					again := e.do(tc.method, tc.path, "a-admin", body, "Idempotency-Key", key)
					if again.Code != first.Code || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
						t.Fatalf("replay %d %q, first %d %q", again.Code, again.Body.String(), first.Code, first.Body.String())
					}
					if again.Header().Get(gateway.HeaderReplayed) != "true" {
						t.Error("replay lacks Idempotent-Replayed: true")
					}
				}
				other, path := tc.other, tc.path
				if other == "" { // no body to vary: the same key on another id
					path = strings.Replace(path, e.resID, e.resID+"x", 1)
					path = strings.Replace(path, e.holdID, e.holdID+"x", 1)
				}
				w := e.do(tc.method, path, "a-admin", other, "Idempotency-Key", key)
				mustError(t, w, http.StatusUnprocessableEntity, "idempotency_key_reused")
				want := int64(1)
				if tc.hot {
					want = 4 // first, two replays, the other request; one effect (TestIdempotentConcurrent counts it)
				}
				if n := e.engine.calls.Load() - calls; n != want {
					t.Errorf("the engine was asked %d times, want %d", n, want)
				}
			})
		}

		// Keys are scoped by tenant: B may use A's key for its own request.
		e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/p1", "b-admin", propertyJSON))
		e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/p1/room-types/dlx", "b-admin", roomTypeJSON))
		w := e.do("POST", "/v1/properties/p1/reservations", "b-channel", reservationJSON, "Idempotency-Key", "key create reservation")
		if w.Code != http.StatusCreated || w.Header().Get(gateway.HeaderReplayed) != "" {
			t.Fatalf("tenant B with A's key: %d %s (replayed %q)", w.Code, w.Body.String(), w.Header().Get(gateway.HeaderReplayed))
		}
	})
}

// TestIdempotentConcurrent: ten identical requests at once have one effect
// and all get the same answer, on the unclaimed hot path (create) and on a
// claimed one (modify).
func TestIdempotentConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		e.engine.delay.Store(int64(30 * time.Millisecond))
		run := func(method, path, body, key string) []*httptest.ResponseRecorder {
			out := make([]*httptest.ResponseRecorder, 10)
			var wg sync.WaitGroup
			for i := range out {
				wg.Go(func() { out[i] = e.do(method, path, "a-channel", body, "Idempotency-Key", key) })
			}
			wg.Wait()
			for i, w := range out {
				if w.Code != out[0].Code || !bytes.Equal(w.Body.Bytes(), out[0].Body.Bytes()) {
					t.Fatalf("response %d: %d %s; response 0: %d %s", i, w.Code, w.Body.String(), out[0].Code, out[0].Body.String())
				}
			}
			return out
		}

		body := strings.Replace(reservationJSON, "BDC-123", "CONC-1", 1)
		out := run("POST", "/v1/properties/p1/reservations", body, "conc-create")
		if out[0].Code != http.StatusCreated {
			t.Fatalf("create: %d %s", out[0].Code, out[0].Body.String())
		}
		rs, _, err := e.store.ListReservations(context.Background(), tenantA, property, persistence.ReservationFilter{ExternalRef: "CONC-1", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 {
			t.Fatalf("%d reservations made by 10 identical requests, want 1", len(rs))
		}

		out = run("PATCH", "/v1/reservations/"+e.resID, modifyJSON, "conc-modify")
		if out[0].Code != http.StatusOK {
			t.Fatalf("modify: %d %s", out[0].Code, out[0].Body.String())
		}
		r, err := e.store.GetReservation(context.Background(), tenantA, e.resID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != 2 {
			t.Fatalf("version %d after 10 identical modifications, want 2", r.Version)
		}
	})
}

// TestIdempotencyOutcomes: a 5xx is not stored (a retry with the key can
// succeed, also on a claimed route), a 4xx decision is stored and replayed,
// and a key in flight for another request is 422.
func TestIdempotencyOutcomes(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		create := "/v1/properties/p1/reservations"

		t.Run("5xx is not stored", func(t *testing.T) {
			e.engine.failOnce(context.DeadlineExceeded)
			w := e.do("POST", create, "a-channel", reservationJSON, "Idempotency-Key", "k-5xx")
			mustError(t, w, http.StatusServiceUnavailable, "unavailable")
			w = e.do("POST", create, "a-channel", reservationJSON, "Idempotency-Key", "k-5xx")
			if w.Code != http.StatusCreated || w.Header().Get(gateway.HeaderReplayed) != "" {
				t.Fatalf("retry after 503: %d %s", w.Code, w.Body.String())
			}

			cancel := "/v1/reservations/" + e.resID + "/cancel"
			e.engine.failOnce(errors.New("disk on fire at /var/lib/secret"))
			w = e.do("POST", cancel, "a-channel", "", "Idempotency-Key", "k-5xx-claimed")
			mustError(t, w, http.StatusInternalServerError, "internal")
			if strings.Contains(w.Body.String(), "secret") {
				t.Errorf("internal error leaked: %s", w.Body.String())
			}
			w = e.do("POST", cancel, "a-channel", "", "Idempotency-Key", "k-5xx-claimed")
			if w.Code != http.StatusOK || w.Header().Get(gateway.HeaderReplayed) != "" {
				t.Fatalf("retry after 500 on a claimed route: %d %s", w.Code, w.Body.String())
			}
		})

		t.Run("4xx is stored", func(t *testing.T) {
			tooMany := strings.Replace(reservationJSON, `"quantity":1`, `"quantity":11`, 1)
			first := e.do("POST", create, "a-channel", tooMany, "Idempotency-Key", "k-4xx")
			got := mustError(t, first, http.StatusConflict, "sold_out")
			if got.Error.Details["room_type"] != roomType {
				t.Errorf("sold_out details %v lack the room type", got.Error.Details)
			}
			e.mustStatus(http.StatusOK, e.do("PUT", "/v1/properties/p1/room-types/dlx", "a-admin", `{"name":"Deluxe","rooms":50,"price":12900}`))
			again := e.do("POST", create, "a-channel", tooMany, "Idempotency-Key", "k-4xx")
			if again.Code != first.Code || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) || again.Header().Get(gateway.HeaderReplayed) != "true" {
				t.Fatalf("retry of a stored 409: %d %s", again.Code, again.Body.String())
			}
			e.mustStatus(http.StatusCreated, e.do("POST", create, "a-channel", tooMany, "Idempotency-Key", "k-4xx-new"))
		})

		t.Run("in flight for another request", func(t *testing.T) {
			now := time.Now()
			claimed, err := e.store.ClaimIdempotency(context.Background(), persistence.IdempotencyRecord{
				Tenant: tenantA, Key: "k-busy", RequestHash: "another request", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			if err != nil || !claimed {
				t.Fatalf("claim: %v %v", claimed, err)
			}
			w := e.do("POST", create, "a-channel", reservationJSON, "Idempotency-Key", "k-busy")
			mustError(t, w, http.StatusUnprocessableEntity, "idempotency_key_reused")
		})
	})
}

// TestDebugShowsInternalErrors: only with Options.Debug does a 500 carry
// the underlying error's text.
func TestDebugShowsInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.Debug = true })
	e.engine.failOnce(errors.New("disk on fire"))
	w := e.do("POST", "/v1/properties/p1/reservations", "a-channel", reservationJSON)
	got := mustError(t, w, http.StatusInternalServerError, string(booking.CodeInternal))
	if !strings.Contains(got.Error.Message, "disk on fire") {
		t.Errorf("debug message %q lacks the error", got.Error.Message)
	}
}
