package docs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/docs"
)

// mustLoad loads and validates the document (examples included).
func mustLoad(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func schema(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	ref, ok := doc.Components.Schemas[name]
	if !ok || ref.Value == nil {
		t.Fatalf("no schema %s", name)
	}
	return ref.Value
}

// asJSON turns v into the generic value kin-openapi validates.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDocumentIsValid(t *testing.T) {
	doc := mustLoad(t)
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
}

// Which operations the document holds is not listed here: the gateway's
// route table is the one list, and gateway's TestRoutesAreTheOpenAPIDocument
// compares it with this document in both directions.

func TestStreamDocumentsTheUpgrade(t *testing.T) {
	doc := mustLoad(t)
	item := doc.Paths.Find("/v1/stream")
	if item == nil || item.Get == nil {
		t.Fatal("GET /v1/stream is not documented")
	}
	if item.Get.Responses.Status(http.StatusSwitchingProtocols) == nil {
		t.Error("GET /v1/stream does not document 101")
	}
}

// closed reports the first object schema under s (following properties,
// items, allOf) that accepts unknown properties.
func closed(s *openapi3.Schema, path string, seen map[*openapi3.Schema]bool) string {
	if s == nil || seen[s] {
		return ""
	}
	seen[s] = true
	if s.Type.Is("object") && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) && s.AdditionalProperties.Schema == nil {
		return path
	}
	for name, p := range s.Properties {
		if bad := closed(p.Value, path+"."+name, seen); bad != "" {
			return bad
		}
	}
	if s.Items != nil {
		if bad := closed(s.Items.Value, path+"[]", seen); bad != "" {
			return bad
		}
	}
	for _, a := range s.AllOf {
		if bad := closed(a.Value, path, seen); bad != "" {
			return bad
		}
	}
	return ""
}

func TestOperationsDocumentTheirOutcomes(t *testing.T) {
	doc := mustLoad(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			has := func(statuses ...int) {
				t.Helper()
				for _, st := range statuses {
					if op.Responses.Status(st) == nil {
						t.Errorf("%s does not document %d", name, st)
					}
				}
			}
			api := strings.HasPrefix(path, "/v1/")
			if api {
				has(401, 429, 500, 503)
				if op.Security != nil && len(*op.Security) == 0 {
					t.Errorf("%s needs no key", name)
				}
			} else if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s must not need a key", name)
			}
			if op.RequestBody != nil {
				has(400, 413)
				for mt, c := range op.RequestBody.Value.Content {
					if bad := closed(c.Schema.Value, "body", map[*openapi3.Schema]bool{}); bad != "" {
						t.Errorf("%s %s: %s accepts unknown fields", name, mt, bad)
					}
				}
			}
			if strings.Contains(path, "{") && name != "PUT /v1/properties/{property}" && name != "PUT /v1/webhooks/{webhook}" { // those create
				has(404)
			}
			changes := method == http.MethodPost || method == http.MethodPatch || method == http.MethodDelete
			if changes && path != "/v1/stream-tokens" {
				has(422)
				found := false
				for _, p := range op.Parameters {
					if p.Value.In == "header" && p.Value.Name == "Idempotency-Key" {
						found = true
					}
				}
				if !found {
					t.Errorf("%s does not take Idempotency-Key", name)
				}
			}
			// Every operation with a JSON 2xx body names its schema.
			for code, resp := range op.Responses.Map() {
				if !strings.HasPrefix(code, "2") || resp.Value.Content == nil {
					continue
				}
				for mt, c := range resp.Value.Content {
					if c.Schema == nil {
						t.Errorf("%s %s %s has no schema", name, code, mt)
					}
				}
			}
		}
	}
}

// goValues are real values of the Go types the API answers with, as the
// gateway marshals them.
func goValues(t *testing.T) map[string]any {
	now := time.Now() // local zone and monotonic clock, as in production
	d := func(s string) booking.Date {
		v, err := booking.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	stays := []booking.Stay{{RoomType: "dlx", Arrival: d("2026-12-01"), Departure: d("2026-12-03"), Quantity: 1}}
	inv := booking.NewInventory()
	e, _ := inv.DecideRoomType("dlx", "Deluxe", 10, 12900)
	inv.Apply(e)
	e, _ = inv.DecideBook("dlx", "r1", stays)
	inv.Apply(e)
	stop := true
	e, _, _ = inv.DecideInventory("dlx", []booking.InventoryUpdate{{RoomType: "dlx", From: d("2026-12-05"), To: d("2026-12-06"), StopSell: &stop}})
	inv.Apply(e)
	_, soldOut := inv.DecideBook("dlx", "r2", []booking.Stay{{RoomType: "dlx", Arrival: d("2026-12-01"), Departure: d("2026-12-02"), Quantity: 10}})
	_, restricted := inv.DecideBook("dlx", "r2", []booking.Stay{{RoomType: "dlx", Arrival: d("2026-12-04"), Departure: d("2026-12-06"), Quantity: 1}})
	fe := booking.FieldErrors{}
	booking.ValidateStays(fe, []booking.Stay{{}})

	property := booking.Property{Tenant: "t1", ID: "p1", Name: "Hotel One", Timezone: "Europe/Berlin", Currency: "EUR",
		BookingHorizonDays: 730, LateCheckinUntil: "12:00", CreatedAt: now, UpdatedAt: now}
	roomType := booking.RoomType{Tenant: "t1", Property: "p1", ID: "dlx", Name: "Deluxe", Rooms: 10, Price: 12900, CreatedAt: now, UpdatedAt: now}
	reservation := booking.Reservation{Tenant: "t1", ID: "r_abc", Property: "p1", Status: booking.StatusConfirmed, Stays: stays,
		Guest: booking.Guest{Name: "Ada Lovelace", Email: "ada@example.com"}, Channel: "booking.com", ExternalRef: "BDC-123",
		TotalPrice: inv.PriceOf(stays), Currency: "EUR", Version: 1, CreatedAt: now, UpdatedAt: now, Primary: "dlx"}
	cancelled := reservation
	cancelled.Status, cancelled.Version, cancelled.Guest, cancelled.ExternalRef = booking.StatusCancelled, 2, booking.Guest{Name: "X"}, ""
	type roomTypeAvailability struct {
		RoomType string              `json:"room_type"`
		Seq      int64               `json:"seq"`
		Nights   []booking.NightView `json:"nights"`
	}
	rta := roomTypeAvailability{RoomType: "dlx", Seq: inv.Seq, Nights: inv.Availability(d("2026-12-01"), d("2026-12-08"))}
	return map[string]any{
		"Property":     property,
		"PropertyList": map[string]any{"properties": []booking.Property{property, property}},
		"RoomType":     roomType,
		"RoomTypeList": map[string]any{"room_types": []booking.RoomType{}},
		"Reservation":  reservation,
		"ReservationList": map[string]any{"reservations": []booking.Reservation{reservation, cancelled},
			"next_cursor": nil},
		"Hold": booking.Hold{Tenant: "t1", ID: "h_abc", Property: "p1", Stays: stays, ExpiresAt: now.Add(10 * time.Minute)},
		"Availability": map[string]any{"property": "p1", "from": d("2026-12-01"), "to": d("2026-12-08"),
			"room_types": []roomTypeAvailability{rta}},
		"InventoryResult": map[string]int{"updated_nights": 30},
		"StreamSnapshot":  map[string]any{"type": "snapshot", "property": "p1", "room_types": []roomTypeAvailability{rta}},
		"StreamDelta": map[string]any{"type": "delta", "property": "p1", "room_type": "dlx", "prev_seq": 42, "seq": 44,
			"nights": rta.Nights[:1]},
		"StreamError":     map[string]any{"type": "error", "error": fe.Err()},
		"StreamToken":     map[string]any{"token": "st_x", "expires_at": now.Add(time.Minute)},
		"StreamSubscribe": map[string]any{"type": "subscribe", "property": "p1", "from": "2026-12-01", "to": "2027-01-01"},
		"OpsStatus": map[string]any{"status": "degraded", "version": "dev", "checks": map[string]any{
			"database": map[string]any{"status": "ok", "latency_ms": 1.2},
			"redis":    map[string]any{"status": "failing", "latency_ms": 2000, "error": "timeout"}}},
		"ErrorResponse/sold_out":   map[string]any{"error": soldOut},
		"ErrorResponse/restricted": map[string]any{"error": restricted},
		"ErrorResponse/invalid":    map[string]any{"error": fe.Err()},
		"ErrorResponse/plain":      map[string]any{"error": booking.Errorf(booking.CodeUnavailable, "down")},
	}
}

func TestGoValuesMatchTheSchemas(t *testing.T) {
	doc := mustLoad(t)
	for name, v := range goValues(t) {
		t.Run(name, func(t *testing.T) {
			s := schema(t, doc, strings.Split(name, "/")[0])
			if err := s.VisitJSON(asJSON(t, v), openapi3.VisitAsResponse()); err != nil {
				t.Fatalf("%s does not match its schema: %v\njson: %s", name, err, mustMarshal(t, v))
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchemasRefuseWhatTheAPINeverSends(t *testing.T) {
	doc := mustLoad(t)
	values := goValues(t)
	tests := []struct {
		name   string
		schema string
		edit   func(m map[string]any)
	}{
		{"reservation without total_price", "Reservation", func(m map[string]any) { delete(m, "total_price") }},
		{"reservation with an extra field", "Reservation", func(m map[string]any) { m["tenant"] = "t1" }},
		{"reservation with an unknown status", "Reservation", func(m map[string]any) { m["status"] = "pending" }},
		{"reservation with a fractional price", "Reservation", func(m map[string]any) { m["total_price"] = 1.5 }},
		{"reservation with a bad date", "Reservation", func(m map[string]any) {
			m["stays"].([]any)[0].(map[string]any)["arrival"] = "2026-02-30"
		}},
		{"reservation with a bad timestamp", "Reservation", func(m map[string]any) { m["created_at"] = "yesterday" }},
		{"reservation whose guest has extra fields", "Reservation", func(m map[string]any) {
			m["guest"].(map[string]any)["age"] = 36
		}},
		{"property without updated_at", "Property", func(m map[string]any) { delete(m, "updated_at") }},
		{"room type with rooms as a string", "RoomType", func(m map[string]any) { m["rooms"] = "10" }},
		{"hold without expires_at", "Hold", func(m map[string]any) { delete(m, "expires_at") }},
		{"availability night without available", "Availability", func(m map[string]any) {
			delete(m["room_types"].([]any)[0].(map[string]any)["nights"].([]any)[0].(map[string]any), "available")
		}},
		{"negative available", "Availability", func(m map[string]any) {
			m["room_types"].([]any)[0].(map[string]any)["nights"].([]any)[0].(map[string]any)["available"] = -1
		}},
		{"list without next_cursor", "ReservationList", func(m map[string]any) { delete(m, "next_cursor") }},
		{"error with a code outside the contract", "ErrorResponse/plain", func(m map[string]any) {
			m["error"].(map[string]any)["code"] = "teapot"
		}},
		{"error without a message", "ErrorResponse/plain", func(m map[string]any) { delete(m["error"].(map[string]any), "message") }},
		{"error beside the error", "ErrorResponse/plain", func(m map[string]any) { m["status"] = 503 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := asJSON(t, values[tc.schema]).(map[string]any)
			tc.edit(v)
			s := schema(t, doc, strings.Split(tc.schema, "/")[0])
			err := s.VisitJSON(v, openapi3.VisitAsResponse())
			if err == nil {
				t.Fatalf("schema %s accepts %v", tc.schema, v)
			}
			t.Logf("refused as expected: %v", strings.SplitN(err.Error(), "\n", 2)[0])
		})
	}
}

func TestRequestSchemas(t *testing.T) {
	doc := mustLoad(t)
	const stay = `{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1}`
	tests := []struct {
		schema string
		body   string
		ok     bool
	}{
		{"PropertyInput", `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR"}`, true},
		{"PropertyInput", `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR","id":"p1"}`, false},
		{"PropertyInput", `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"eur"}`, false},
		{"PropertyInput", `{"name":"Hotel One","timezone":"Europe/Berlin"}`, false},
		{"RoomTypeInput", `{"name":"Deluxe","rooms":10,"price":12900}`, true},
		{"RoomTypeInput", `{"name":"Deluxe","rooms":10.5,"price":12900}`, false},
		{"RoomTypeInput", `{"name":"Deluxe","rooms":100001,"price":12900}`, false},
		{"RoomTypeInput", `{"name":"Deluxe","rooms":10,"price":-1}`, false},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31","total":12,"price":13900,"stop_sell":false,"min_stay":2}]}`, true},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31"}]}`, true},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31","total":null}]}`, true},
		{"InventoryRequest", `{"updates":[]}`, false},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01"}]}`, false},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31","closed":true}]}`, false},
		{"InventoryRequest", `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31","min_stay":0}]}`, false},
		{"ReservationCreate", `{"stays":[` + stay + `],"guest":{"name":"Ada Lovelace","email":"ada@example.com"},"channel":"booking.com","external_ref":"BDC-123","hold_id":null}`, true},
		{"ReservationCreate", `{"stays":[` + stay + `],"guest":{"name":"Ada"},"hold_id":"h_abc"}`, true},
		{"ReservationCreate", `{"stays":[` + stay + `],"guest":{"name":"Ada"},"note":"x"}`, false},
		{"ReservationCreate", `{"stays":[` + stay + `],"guest":{"name":"Ada","vip":true}}`, false},
		{"ReservationCreate", `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1,"rate":"bar"}],"guest":{"name":"Ada"}}`, false},
		{"ReservationCreate", `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":0}],"guest":{"name":"Ada"}}`, false},
		{"ReservationCreate", `{"stays":[{"room_type":"dlx","arrival":"2026-12-1","departure":"2026-12-03","quantity":1}],"guest":{"name":"Ada"}}`, false},
		{"ReservationCreate", `{"stays":[],"guest":{"name":"Ada"}}`, false},
		{"ReservationCreate", `{"stays":[` + stay + `]}`, false},
		{"ReservationModify", `{"stays":[` + stay + `]}`, true},
		{"ReservationModify", `{"stays":[` + stay + `],"guest":null}`, true},
		{"ReservationModify", `{"stays":[` + stay + `],"guest":{"name":"Grace Hopper"}}`, true},
		{"ReservationModify", `{"stays":[` + stay + `],"guest":{"name":"Grace Hopper","x":1}}`, false},
		{"ReservationModify", `{"guest":{"name":"Grace Hopper"}}`, false},
		{"HoldCreate", `{"stays":[` + stay + `],"ttl_seconds":600}`, true},
		{"HoldCreate", `{"stays":[` + stay + `]}`, true},
		{"HoldCreate", `{"stays":[` + stay + `],"ttl_seconds":0}`, false},
		{"HoldCreate", `{"stays":[` + stay + `],"ttl_seconds":3601}`, false},
		{"EmptyObject", `{}`, true},
		{"EmptyObject", `{"reason":"x"}`, false},
	}
	for _, tc := range tests {
		var v any
		if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		err := schema(t, doc, tc.schema).VisitJSON(v, openapi3.VisitAsRequest())
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: error %v, want ok %v", tc.schema, tc.body, err, tc.ok)
		}
	}
}

// TestResponsesThroughTheFilter validates whole responses the way the
// gateway's tests do: route by method and URL, then check status, headers
// and body with openapi3filter.
func TestResponsesThroughTheFilter(t *testing.T) {
	doc := mustLoad(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	values := goValues(t)
	body := func(name string) []byte { return mustMarshal(t, values[name]) }
	const jsonType = "application/json; charset=utf-8"
	tests := []struct {
		name        string
		method, url string
		status      int
		contentType string
		header      http.Header
		body        []byte
		ok          bool
	}{
		{"livez", "GET", "/livez", 200, jsonType, nil, []byte(`{"status":"ok"}`), true},
		{"readyz draining", "GET", "/readyz", 503, jsonType, nil, []byte(`{"status":"draining"}`), true},
		{"health", "GET", "/health", 200, jsonType, nil, body("OpsStatus"), true},
		{"metrics", "GET", "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", nil, []byte("hotel_http_requests_total 1\n"), true},
		{"properties", "GET", "/v1/properties", 200, jsonType, nil, body("PropertyList"), true},
		{"put property", "PUT", "/v1/properties/p1", 201, jsonType, nil, body("Property"), true},
		{"room types", "GET", "/v1/properties/p1/room-types", 200, jsonType, nil, body("RoomTypeList"), true},
		{"put room type", "PUT", "/v1/properties/p1/room-types/dlx", 200, jsonType, nil, body("RoomType"), true},
		{"inventory", "POST", "/v1/properties/p1/inventory", 200, jsonType, nil, body("InventoryResult"), true},
		{"availability", "GET", "/v1/properties/p1/availability?from=2026-12-01&to=2026-12-08", 200, jsonType, nil, body("Availability"), true},
		{"book", "POST", "/v1/properties/p1/reservations", 201, jsonType, http.Header{"Idempotent-Replayed": {"true"}}, body("Reservation"), true},
		{"sold out", "POST", "/v1/properties/p1/reservations", 409, jsonType, nil, body("ErrorResponse/sold_out"), true},
		{"restricted", "PATCH", "/v1/reservations/r_abc", 409, jsonType, nil, body("ErrorResponse/restricted"), true},
		{"bad request", "POST", "/v1/properties/p1/holds", 400, jsonType, nil, body("ErrorResponse/invalid"), true},
		{"rate limited", "GET", "/v1/reservations/r_abc", 429, jsonType, http.Header{"Retry-After": {"1"}},
			[]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`), true},
		{"rate limited without Retry-After", "GET", "/v1/reservations/r_abc", 429, jsonType, nil,
			[]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`), false},
		{"list", "GET", "/v1/properties/p1/reservations?status=confirmed&limit=10", 200, jsonType, nil, body("ReservationList"), true},
		{"cancel", "POST", "/v1/reservations/r_abc/cancel", 200, jsonType, nil, body("Reservation"), true},
		{"hold", "POST", "/v1/properties/p1/holds", 201, jsonType, nil, body("Hold"), true},
		{"release", "DELETE", "/v1/holds/h_abc", 204, "", nil, nil, true},
		{"stream token", "POST", "/v1/stream-tokens", 201, jsonType, nil, body("StreamToken"), true},
		{"unavailable", "POST", "/v1/properties/p1/reservations", 503, jsonType, nil, body("ErrorResponse/plain"), true},
		{"undocumented status", "GET", "/v1/properties", 418, jsonType, nil, []byte(`{}`), false},
		{"reservation where a hold belongs", "POST", "/v1/properties/p1/holds", 201, jsonType, nil, body("Reservation"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://localhost:8080"+tc.url, nil)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("no route for %s %s: %v", tc.method, tc.url, err)
			}
			h := http.Header{}
			if tc.contentType != "" {
				h.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				h[k] = v
			}
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 tc.status,
				Header:                 h,
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			}
			in.SetBodyBytes(tc.body)
			err = openapi3filter.ValidateResponse(context.Background(), in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateResponse: %v, want ok %v\nbody: %s", err, tc.ok, tc.body)
			}
			if err != nil {
				t.Logf("refused as expected: %v", err)
			}
		})
	}
}

// TestRequestsThroughTheFilter checks whole requests, parameters included.
func TestRequestsThroughTheFilter(t *testing.T) {
	doc := mustLoad(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method, url string
		header      http.Header
		body        string
		ok          bool
	}{
		{"availability", "GET", "/v1/properties/p1/availability?from=2026-12-01&to=2026-12-03&room_type=dlx", nil, "", true},
		{"availability without to", "GET", "/v1/properties/p1/availability?from=2026-12-01", nil, "", false},
		{"availability with a bad date", "GET", "/v1/properties/p1/availability?from=2026-12-01&to=2026-13-01", nil, "", false},
		{"bad property id", "GET", "/v1/properties/Hotel/availability?from=2026-12-01&to=2026-12-03", nil, "", false},
		{"list with a bad status", "GET", "/v1/properties/p1/reservations?status=pending", nil, "", false},
		{"list with limit 501", "GET", "/v1/properties/p1/reservations?limit=501", nil, "", false},
		{"book with a key", "POST", "/v1/properties/p1/reservations", http.Header{"Idempotency-Key": {"k-1 2"}},
			`{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1}],"guest":{"name":"Ada"}}`, true},
		{"book with a key too long", "POST", "/v1/properties/p1/reservations", http.Header{"Idempotency-Key": {strings.Repeat("k", 201)}},
			`{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1}],"guest":{"name":"Ada"}}`, false},
		{"cancel without a body", "POST", "/v1/reservations/r_abc/cancel", nil, "", true},
		{"release", "DELETE", "/v1/holds/h_abc", http.Header{"Idempotency-Key": {"abc"}}, "", true},
		{"stream upgrade", "GET", "/v1/stream?token=st_x", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rd *bytes.Reader
			if tc.body != "" {
				rd = bytes.NewReader([]byte(tc.body))
			}
			var req *http.Request
			if rd != nil {
				req = httptest.NewRequest(tc.method, "http://localhost:8080"+tc.url, rd)
				req.Header.Set("Content-Type", "application/json")
			} else {
				req = httptest.NewRequest(tc.method, "http://localhost:8080"+tc.url, nil)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				if tc.ok {
					t.Fatalf("no route: %v", err)
				}
				return
			}
			err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			})
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateRequest: %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				t.Logf("refused as expected: %v", err)
			}
		})
	}
}

func TestErrorCodesMatchTheDomain(t *testing.T) {
	doc := mustLoad(t)
	var enum []string
	for _, v := range schema(t, doc, "ErrorCode").Enum {
		enum = append(enum, v.(string))
	}
	for _, c := range []booking.Code{booking.CodeInvalid, booking.CodeUnauthorized, booking.CodeForbidden, booking.CodeNotFound,
		booking.CodeSoldOut, booking.CodeRestricted, booking.CodeConflict, booking.CodeIdempotencyKeyReused,
		booking.CodeUnprocessable, booking.CodePayloadTooLarge, booking.CodeRateLimited, booking.CodeMaintenance, booking.CodeUnavailable, booking.CodeInternal} {
		if !slices.Contains(enum, string(c)) {
			t.Errorf("ErrorCode lacks %s", c)
		}
	}
}
