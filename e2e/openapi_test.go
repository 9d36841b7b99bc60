package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/docs"
	"github.com/staylock/staylock/internal/testserver"
)

// validatingTransport checks every request and response that passes through
// it against docs/openapi.yaml, so the document stays true to the server.
type validatingTransport struct {
	t      *testing.T
	router routers.Router
	next   http.RoundTripper
	mu     sync.Mutex
	seen   map[string]bool // "METHOD path-template status" checked
}

func newValidatingTransport(t *testing.T) *validatingTransport {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return &validatingTransport{t: t, router: router, next: http.DefaultTransport, seen: map[string]bool{}}
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(check)
	if err != nil {
		v.t.Errorf("openapi: %s %s is not documented: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if resp.StatusCode < 400 {
		// a request the server accepted must be one the document allows
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("openapi: accepted request %s %s breaks the document: %v", req.Method, req.URL.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("openapi: response %d to %s %s breaks the document: %v\n%s", resp.StatusCode, req.Method, req.URL.Path, err, respBody)
	}
	v.mu.Lock()
	v.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, resp.StatusCode)] = true
	v.mu.Unlock()
	return resp, nil
}

// TestOpenAPI_RealResponsesMatchTheDocument drives a whole session through
// a client that validates every exchange against docs/openapi.yaml.
func TestOpenAPI_RealResponsesMatchTheDocument(t *testing.T) {
	s := testserver.Start(t, "", testserver.Options{})
	d := func(n int) string { return dayAfter(windowFrom, n) }
	vt := newValidatingTransport(t)
	with := func(key string) *client {
		c := newClient(s.URL, key)
		c.http.Transport = vt
		return c
	}
	admin := with(s.MustKey(t, "acme", booking.RoleAdmin))
	viewer := with(s.MustKey(t, "acme", booking.RoleViewer))
	other := with(s.MustKey(t, "globex", booking.RoleAdmin))
	anon := with("")

	mustSetUpHotel(t, admin, []string{"std", "dlx"}, 3)
	admin.MustDo(t, "PUT", "/v1/properties/p1", map[string]any{"name": "Hotel Uno", "timezone": "Europe/Rome", "currency": "EUR"}, http.StatusOK, nil)
	admin.MustDo(t, "GET", "/v1/properties", nil, http.StatusOK, nil)
	admin.MustDo(t, "GET", "/v1/properties/p1", nil, http.StatusOK, nil)
	admin.MustDo(t, "GET", "/v1/properties/p1/room-types", nil, http.StatusOK, nil)
	admin.MustDo(t, "PUT", "/v1/properties/p1/room-types/std", map[string]any{"name": "Standard", "rooms": 4, "price": 9000}, http.StatusOK, nil)
	admin.MustDo(t, "POST", "/v1/properties/p1/inventory", map[string]any{"updates": []map[string]any{
		{"room_type": "std", "from": d(0), "to": d(9), "price": 9900, "min_stay": 1},
		{"room_type": "dlx", "from": d(4), "to": d(5), "stop_sell": true}}}, http.StatusOK, nil)
	viewer.MustDo(t, "GET", "/v1/properties/p1/availability?from="+d(0)+"&to="+d(7), nil, http.StatusOK, nil)
	viewer.MustDo(t, "GET", "/v1/properties/p1/availability?from="+d(0)+"&to="+d(7)+"&room_type=dlx", nil, http.StatusOK, nil)

	var res reservation
	admin.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "std", Arrival: d(0), Departure: d(2), Quantity: 1},
			{RoomType: "dlx", Arrival: d(0), Departure: d(1), Quantity: 1}},
		"guest": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com"}, "channel": "booking.com", "external_ref": "BDC-1",
	}, http.StatusCreated, &res)
	admin.MustDo(t, "GET", "/v1/reservations/"+res.ID, nil, http.StatusOK, nil)
	admin.MustDo(t, "GET", "/v1/properties/p1/reservations?status=confirmed&limit=1", nil, http.StatusOK, nil)
	admin.MustDo(t, "GET", "/v1/properties/p1/reservations?external_ref=BDC-1&arrival_from="+d(0)+"&arrival_to="+d(28), nil, http.StatusOK, nil)
	admin.MustDo(t, "PATCH", "/v1/reservations/"+res.ID, map[string]any{
		"stays": []stay{{RoomType: "std", Arrival: d(0), Departure: d(3), Quantity: 1}},
		"guest": map[string]string{"name": "Ada King"}}, http.StatusOK, nil)
	admin.MustDo(t, "POST", "/v1/reservations/"+res.ID+"/cancel", nil, http.StatusOK, nil)
	admin.MustDo(t, "POST", "/v1/reservations/"+res.ID+"/cancel", nil, http.StatusOK, nil)
	admin.MustDo(t, "PATCH", "/v1/reservations/"+res.ID, map[string]any{
		"stays": []stay{{RoomType: "std", Arrival: d(0), Departure: d(1), Quantity: 1}}}, http.StatusConflict, nil)

	var hold struct {
		ID string `json:"id"`
	}
	holdStays := []stay{{RoomType: "dlx", Arrival: d(1), Departure: d(3), Quantity: 2}}
	admin.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{"stays": holdStays, "ttl_seconds": 600}, http.StatusCreated, &hold)
	admin.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{"stays": holdStays,
		"guest": map[string]string{"name": "Held Guest"}, "channel": "direct", "hold_id": hold.ID}, http.StatusCreated, nil)
	admin.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{"stays": []stay{{RoomType: "std", Arrival: d(5), Departure: d(6), Quantity: 1}}}, http.StatusCreated, &hold)
	admin.MustDo(t, "DELETE", "/v1/holds/"+hold.ID, nil, http.StatusNoContent, nil)
	admin.MustDo(t, "DELETE", "/v1/holds/"+hold.ID, nil, http.StatusNotFound, nil)

	// the error answers
	admin.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: d(1), Departure: d(2), Quantity: 3}},
		"guest": map[string]string{"name": "Too Many"}}, http.StatusConflict, nil) // sold_out
	admin.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: d(4), Departure: d(5), Quantity: 1}},
		"guest": map[string]string{"name": "Stopped"}}, http.StatusConflict, nil) // restricted
	admin.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: d(4), Departure: d(4), Quantity: 0}}}, http.StatusBadRequest, nil)
	admin.MustDo(t, "GET", "/v1/properties/p1/availability?from="+d(0)+"&to="+d(731), nil, http.StatusBadRequest, nil)
	admin.MustDo(t, "PUT", "/v1/properties/p1/room-types/dlx", map[string]any{"name": "Deluxe", "rooms": 0, "price": 1}, http.StatusConflict, nil)
	other.MustDo(t, "GET", "/v1/properties/p1", nil, http.StatusNotFound, nil)
	other.MustDo(t, "GET", "/v1/reservations/"+res.ID, nil, http.StatusNotFound, nil)
	viewer.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{"stays": holdStays}, http.StatusForbidden, nil)
	viewer.MustDo(t, "GET", "/v1/reservations/"+res.ID, nil, http.StatusForbidden, nil) // guests' data is not for dashboards
	anon.MustDo(t, "GET", "/v1/properties", nil, http.StatusUnauthorized, nil)
	if status, body, err := admin.do(context.Background(), "POST", "/v1/properties/p1/holds", map[string]any{"stays": holdStays, "ttl_seconds": 60},
		"Idempotency-Key", "k-1"); err != nil || status != http.StatusConflict && status != http.StatusCreated {
		t.Fatalf("keyed hold: %d %s %v", status, body, err)
	}
	if status, body, _ := admin.do(context.Background(), "POST", "/v1/properties/p1/holds", map[string]any{"stays": holdStays, "ttl_seconds": 61},
		"Idempotency-Key", "k-1"); status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", status, body)
	}
	status, body, err := admin.do(context.Background(), "POST", "/v1/properties/p1/holds", strings.Repeat("x", 2<<20))
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s %v", status, body, err)
	}
	for _, p := range []string{"/livez", "/readyz", "/health", "/metrics"} {
		anon.MustDo(t, "GET", p, nil, http.StatusOK, nil)
	}
	t.Logf("%d distinct exchanges validated against the document", len(vt.seen))
	if len(vt.seen) < 25 {
		t.Errorf("only %d distinct exchanges validated", len(vt.seen))
	}
}
