package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// TestResponseBasics: JSON content type, security headers and request ids
// on every answer, and 404/405 in the error shape.
func TestResponseBasics(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, w := range []struct {
		name string
		code int
		resp interface {
			Header() http.Header
		}
	}{
		{"ok", 200, e.do("GET", "/v1/properties", "a-viewer", "")},
		{"unauthorized", 401, e.do("GET", "/v1/properties", "", "")},
		{"livez", 200, e.do("GET", "/livez", "", "")},
	} {
		h := w.resp.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: security headers missing: %v", w.name, h)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s: Content-Type %q", w.name, h.Get("Content-Type"))
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h.Get("X-Request-ID")) {
			t.Errorf("%s: generated X-Request-ID %q", w.name, h.Get("X-Request-ID"))
		}
	}
	if got := e.do("GET", "/livez", "", "", "X-Request-ID", "lb-7f3a.42").Header().Get("X-Request-ID"); got != "lb-7f3a.42" {
		t.Errorf("sane incoming request id not kept: %q", got)
	}
	if got := e.do("GET", "/livez", "", "", "X-Request-ID", "<script>").Header().Get("X-Request-ID"); got == "<script>" {
		t.Error("insane incoming request id echoed")
	}

	mustError(t, e.do("GET", "/v2/nothing", "a-admin", ""), http.StatusNotFound, "not_found")
	w := e.do("DELETE", "/v1/properties", "a-admin", "")
	mustError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	if w.Header().Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

// TestPanicIsContained: a panic answers the JSON 500 shape and the server
// goes on serving.
func TestPanicIsContained(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.engine.panicNext.Store(true)
	w := e.do("POST", "/v1/properties/p1/holds", "a-channel", holdJSON)
	got := mustError(t, w, http.StatusInternalServerError, "internal")
	if strings.Contains(got.Error.Message, "boom") {
		t.Errorf("panic value leaked: %s", w.Body.String())
	}
	e.mustStatus(http.StatusCreated, e.do("POST", "/v1/properties/p1/holds", "a-channel", holdJSON))
}

// TestSetupAndBookingFlow walks the documented happy paths and their shapes.
func TestSetupAndBookingFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)

		// Properties: PUT again is an update (200) keeping created_at.
		var p1, p2 booking.Property
		e.decode(e.mustStatus(http.StatusOK, e.do("PUT", "/v1/properties/p1", "a-admin", `{"name":"Hotel Uno","timezone":"Europe/Rome","currency":"EUR"}`)), &p2)
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1", "a-viewer", "")), &p1)
		if p1.Name != "Hotel Uno" || p1.ID != "p1" || !p1.CreatedAt.Equal(p2.CreatedAt) {
			t.Errorf("property %+v after update %+v", p1, p2)
		}
		var props struct {
			Properties []booking.Property `json:"properties"`
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-viewer", "")), &props)
		if len(props.Properties) != 1 {
			t.Errorf("properties %+v", props)
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "b-viewer", "")), &props)
		if len(props.Properties) != 0 {
			t.Errorf("tenant B lists %+v", props)
		}
		if w := e.do("GET", "/v1/properties", "b-viewer", ""); !strings.Contains(w.Body.String(), `"properties":[]`) {
			t.Errorf("empty list is not []: %s", w.Body.String())
		}

		// Room types: a new one is 201, into a missing property 404.
		e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/p1/room-types/std", "a-admin", `{"name":"Standard","rooms":2,"price":9900}`))
		mustError(t, e.do("PUT", "/v1/properties/p9/room-types/std", "a-admin", roomTypeJSON), http.StatusNotFound, "not_found")
		var rts struct {
			RoomTypes []booking.RoomType `json:"room_types"`
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/room-types", "a-viewer", "")), &rts)
		if len(rts.RoomTypes) != 2 {
			t.Errorf("room types %+v", rts)
		}
		var rt booking.RoomType
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/room-types/std", "a-viewer", "")), &rt)
		if rt.Rooms != 2 || rt.Price != 9900 {
			t.Errorf("room type %+v", rt)
		}
		mustError(t, e.do("GET", "/v1/properties/p1/room-types/none", "a-viewer", ""), http.StatusNotFound, "not_found")

		// Inventory and availability.
		var upd map[string]int
		e.decode(e.mustStatus(http.StatusOK, e.do("POST", "/v1/properties/p1/inventory", "a-admin", inventoryJSON)), &upd)
		if upd["updated_nights"] != 30 {
			t.Errorf("inventory answer %v", upd)
		}
		var av struct {
			Property  string `json:"property"`
			From      string `json:"from"`
			To        string `json:"to"`
			RoomTypes []struct {
				RoomType string              `json:"room_type"`
				Seq      int64               `json:"seq"`
				Nights   []booking.NightView `json:"nights"`
			} `json:"room_types"`
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/availability?from=2026-12-01&to=2026-12-03&room_type=dlx", "a-viewer", "")), &av)
		if av.Property != "p1" || av.From != "2026-12-01" || av.To != "2026-12-03" || len(av.RoomTypes) != 1 || len(av.RoomTypes[0].Nights) != 2 {
			t.Fatalf("availability %+v", av)
		}
		n := av.RoomTypes[0].Nights[0]
		if n.Total != 12 || n.Booked != 1 || n.Available != 11 || n.Price != 13900 || av.RoomTypes[0].Seq == 0 {
			t.Errorf("night %+v", n)
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/availability?from=2026-12-05&to=2026-12-06", "a-viewer", "")), &av)
		if len(av.RoomTypes) != 2 {
			t.Errorf("availability of all room types %+v", av)
		}
		mustError(t, e.do("GET", "/v1/properties/p1/availability?from=2026-12-01&to=2026-12-03&room_type=none", "a-viewer", ""), http.StatusNotFound, "not_found")

		// Reservations: the GET equals the 201, the list pages.
		w := e.mustStatus(http.StatusCreated, e.do("POST", "/v1/properties/p1/reservations", "a-channel",
			`{"stays":[{"room_type":"std","arrival":"2026-12-10","departure":"2026-12-12","quantity":2}],"guest":{"name":"Grace"}}`))
		var r booking.Reservation
		e.decode(w, &r)
		if r.Channel != "direct" || r.Status != "confirmed" || r.Currency != "EUR" || r.TotalPrice != 2*2*9900 || r.Version != 1 {
			t.Errorf("reservation %+v", r)
		}
		got := e.mustStatus(http.StatusOK, e.do("GET", "/v1/reservations/"+r.ID, "a-channel", ""))
		if !bytes.Equal(got.Body.Bytes(), w.Body.Bytes()) {
			t.Errorf("GET %s\n201 %s", got.Body.String(), w.Body.String())
		}
		mustError(t, e.do("GET", "/v1/reservations/"+r.ID, "b-channel", ""), http.StatusNotFound, "not_found")
		mustError(t, e.do("POST", "/v1/properties/p1/reservations", "a-channel",
			`{"stays":[{"room_type":"std","arrival":"2026-12-11","departure":"2026-12-12","quantity":1}],"guest":{"name":"Late"}}`),
			http.StatusConflict, "sold_out")

		var page struct {
			Reservations []booking.Reservation `json:"reservations"`
			NextCursor   *string               `json:"next_cursor"`
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/reservations?limit=1", "a-channel", "")), &page)
		if len(page.Reservations) != 1 || page.NextCursor == nil {
			t.Fatalf("page 1 %+v", page)
		}
		first := page.Reservations[0].ID
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/reservations?limit=1&cursor="+*page.NextCursor, "a-channel", "")), &page)
		if len(page.Reservations) != 1 || page.Reservations[0].ID == first {
			t.Fatalf("page 2 %+v", page)
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/p1/reservations?external_ref=BDC-123", "a-channel", "")), &page)
		if len(page.Reservations) != 1 || page.Reservations[0].ID != e.resID || page.NextCursor != nil {
			t.Errorf("by external_ref %+v", page)
		}
		if w := e.do("GET", "/v1/properties/p1/reservations?status=cancelled", "a-channel", ""); !strings.Contains(w.Body.String(), `"next_cursor":null`) {
			t.Errorf("last page without next_cursor null: %s", w.Body.String())
		}

		// Modify, cancel, cancel again.
		var m booking.Reservation
		e.decode(e.mustStatus(http.StatusOK, e.do("PATCH", "/v1/reservations/"+e.resID, "a-channel",
			`{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-04","quantity":1}],"guest":{"name":"Ada King"}}`)), &m)
		if m.Version != 2 || m.Guest.Name != "Ada King" || len(m.Stays) != 1 || m.Stays[0].Departure.String() != "2026-12-04" {
			t.Errorf("modified %+v", m)
		}
		for range 2 {
			var c booking.Reservation
			e.decode(e.mustStatus(http.StatusOK, e.do("POST", "/v1/reservations/"+e.resID+"/cancel", "a-channel", "")), &c)
			if c.Status != "cancelled" {
				t.Errorf("cancel %+v", c)
			}
		}
		mustError(t, e.do("PATCH", "/v1/reservations/"+e.resID, "a-channel", modifyJSON), http.StatusConflict, "conflict")

		// Holds: created with expires_at, released with 204 and no body.
		var h struct {
			ID        string         `json:"id"`
			Stays     []booking.Stay `json:"stays"`
			ExpiresAt time.Time      `json:"expires_at"`
		}
		e.decode(e.mustStatus(http.StatusCreated, e.do("POST", "/v1/properties/p1/holds", "a-channel",
			`{"stays":[{"room_type":"dlx","arrival":"2026-12-20","departure":"2026-12-21","quantity":1}]}`)), &h)
		if h.ID == "" || len(h.Stays) != 1 || time.Until(h.ExpiresAt) < 9*time.Minute || time.Until(h.ExpiresAt) > 11*time.Minute {
			t.Errorf("hold with the default ttl %+v", h)
		}
		mustError(t, e.do("DELETE", "/v1/holds/"+h.ID, "b-admin", ""), http.StatusNotFound, "not_found")
		w = e.mustStatus(http.StatusNoContent, e.do("DELETE", "/v1/holds/"+h.ID, "a-channel", ""))
		if w.Body.Len() != 0 {
			t.Errorf("204 with a body %q", w.Body.String())
		}
		mustError(t, e.do("DELETE", "/v1/holds/"+h.ID, "a-channel", ""), http.StatusNotFound, "not_found")
	})
}

// TestResponsesAreCompact: success bodies are json.Marshal output (no
// indentation, no trailing newline), the bytes the engine stores for replays.
func TestResponsesAreCompact(t *testing.T) {
	e := newEnv(t, "sqlite")
	w := e.mustStatus(http.StatusOK, e.do("GET", "/v1/reservations/"+e.resID, "a-channel", ""))
	var r booking.Reservation
	e.decode(w, &r)
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Body.Bytes(), want) {
		t.Errorf("body %s\nwant %s", w.Body.String(), want)
	}
}

// TestAccessLog: one line per request with a static message and the route
// template, status, latency, request id and tenant as fields; probes of the
// operational endpoints stay out of the info log.
func TestAccessLog(t *testing.T) {
	store := MustOpenStore(t, "sqlite")
	core, logs := observer.New(zap.InfoLevel)
	srv := gateway.New(store, newEngine(t, store), zap.New(core), gateway.Options{})
	ctx := context.Background()
	if _, err := store.EnsureTenant(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	id, secret, hash := auth.NewAPIKey()
	if err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: tenantA, Role: booking.RoleViewer, Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/properties/p1", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set("X-Request-ID", "req-1")
	srv.Handler().ServeHTTP(httptest.NewRecorder(), r)
	srv.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/livez", nil))

	lines := logs.FilterMessage("http request").All()
	if len(lines) != 1 {
		t.Fatalf("%d access lines, want 1 (probes at debug level): %+v", len(lines), logs.All())
	}
	f := lines[0].ContextMap()
	if f["method"] != "GET" || f["route"] != "/v1/properties/:property" || f["status"] != int64(404) ||
		f["request_id"] != "req-1" || f["tenant"] != tenantA {
		t.Errorf("access line fields %v", f)
	}
	if _, ok := f["latency"]; !ok {
		t.Errorf("access line without latency: %v", f)
	}
}

// countingStore counts key lookups.
type countingStore struct {
	persistence.Store
	keyLookups atomic.Int64
}

func (s *countingStore) APIKeyByHash(ctx context.Context, hash []byte) (persistence.APIKey, error) {
	s.keyLookups.Add(1)
	return s.Store.APIKeyByHash(ctx, hash)
}

// TestKeyLookupsAreCached: the hot path does not ask the store for the key
// on every request, and malformed keys never reach it.
func TestKeyLookupsAreCached(t *testing.T) {
	store := &countingStore{Store: MustOpenStore(t, "sqlite")}
	srv := gateway.New(store, newEngine(t, store), zap.NewNop(), gateway.Options{})
	ctx := context.Background()
	if _, err := store.EnsureTenant(ctx, tenantA); err != nil {
		t.Fatal(err)
	}
	id, secret, hash := auth.NewAPIKey()
	if err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: tenantA, Role: booking.RoleViewer, Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	send := func(auth string) int {
		r := httptest.NewRequest("GET", "/v1/properties", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for range 50 {
		if code := send("Bearer " + secret); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if n := store.keyLookups.Load(); n != 1 {
		t.Errorf("%d key lookups for 50 requests, want 1", n)
	}
	if code := send("Bearer not-a-key"); code != http.StatusUnauthorized {
		t.Fatalf("malformed key: %d", code)
	}
	if n := store.keyLookups.Load(); n != 1 {
		t.Errorf("a malformed key was looked up")
	}
}
