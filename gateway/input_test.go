package gateway_test

import (
	"strings"
	"testing"

	"github.com/staylock/staylock/gateway"
)

// stay builds a one-stay reservation body around a stay's JSON.
func stayBody(stay string) string {
	return `{"stays":[` + stay + `],"guest":{"name":"Ada"}}`
}

// TestBadInputIsNamed sends malformed and invalid requests: each answers its
// documented status and code, and an invalid_request names every bad field
// in details.fields.
func TestBadInputIsNamed(t *testing.T) {
	const limit = 4096
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.BodyLimit = limit })
	res := "/v1/properties/" + property + "/reservations"
	holds := "/v1/properties/" + property + "/holds"
	inv := "/v1/properties/" + property + "/inventory"
	avail := "/v1/properties/" + property + "/availability"
	rt := "/v1/properties/" + property + "/room-types/"
	longKey := strings.Repeat("k", 201)
	callsBefore := e.engine.calls.Load()

	cases := []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		code         string
		fields       []string // each must be named in details.fields
	}{
		{"truncated JSON", "POST", res, `{"stays":[{"room_type":"dlx"`, nil, 400, "invalid_request", []string{"body"}},
		{"malformed JSON", "POST", res, `{"stays":[}`, nil, 400, "invalid_request", []string{"body"}},
		{"empty body", "POST", res, ``, nil, 400, "invalid_request", []string{"body"}},
		{"array instead of object", "POST", res, `[]`, nil, 400, "invalid_request", []string{"body"}},
		{"trailing data", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}`) + ` {}`, nil, 400, "invalid_request", []string{"body"}},
		{"unknown top-level field", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"guest":{"name":"A"},"coupon":"X"}`, nil, 400, "invalid_request", []string{"coupon"}},
		{"unknown stay field", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1,"adults":2}`), nil, 400, "invalid_request", []string{"stays[0].adults"}},
		{"unknown guest field", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"guest":{"name":"A","age":3}}`, nil, 400, "invalid_request", []string{"guest.age"}},
		{"impossible date", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-02-30","departure":"2026-03-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].arrival"}},
		{"date with time", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01T00:00:00Z","departure":"2026-12-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].arrival"}},
		{"date as number", "POST", res, stayBody(`{"room_type":"dlx","arrival":20261201,"departure":"2026-12-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].arrival"}},
		{"missing dates", "POST", res, stayBody(`{"room_type":"dlx","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].arrival", "stays[0].departure"}},
		{"departure equals arrival", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-02","departure":"2026-12-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].departure"}},
		{"departure before arrival", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-03","departure":"2026-12-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].departure"}},
		{"stay over 400 nights", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-01-01","departure":"2027-02-06","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].departure"}},
		{"quantity zero", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":0}`), nil, 400, "invalid_request", []string{"stays[0].quantity"}},
		{"quantity negative", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":-2}`), nil, 400, "invalid_request", []string{"stays[0].quantity"}},
		{"quantity not a number", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":"one"}`), nil, 400, "invalid_request", []string{"stays[0].quantity"}},
		{"quantity fraction", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1.5}`), nil, 400, "invalid_request", []string{"stays[0].quantity"}},
		{"bad room type id", "POST", res, stayBody(`{"room_type":"Deluxe Room","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}`), nil, 400, "invalid_request", []string{"stays[0].room_type"}},
		{"second stay bad, fields of each", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":0},{"room_type":"dlx","arrival":"2026-12-05","departure":"2026-12-04","quantity":1}],"guest":{}}`, nil, 400, "invalid_request", []string{"stays[0].quantity", "stays[1].departure", "guest.name"}},
		{"no stays", "POST", res, `{"stays":[],"guest":{"name":"A"}}`, nil, 400, "invalid_request", []string{"stays"}},
		{"no guest", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}]}`, nil, 400, "invalid_request", []string{"guest.name"}},
		{"bad email", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"guest":{"name":"A","email":"nope"}}`, nil, 400, "invalid_request", []string{"guest.email"}},
		{"bad channel", "POST", res, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"guest":{"name":"A"},"channel":"no spaces please"}`, nil, 400, "invalid_request", []string{"channel"}},
		{"body over the limit", "POST", res, `{"guest":{"name":"` + strings.Repeat("a", limit) + `"}}`, nil, 413, "payload_too_large", nil},
		{"bad idempotency key", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}`), []string{"Idempotency-Key", longKey}, 400, "invalid_request", []string{"Idempotency-Key"}},
		{"non-ASCII idempotency key", "POST", res, stayBody(`{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}`), []string{"Idempotency-Key", "schlüssel"}, 400, "invalid_request", []string{"Idempotency-Key"}},
		{"bad property id in path", "POST", "/v1/properties/Hotel!/reservations", stayBody(`{}`), nil, 400, "invalid_request", []string{"property"}},

		{"hold ttl zero", "POST", holds, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"ttl_seconds":0}`, nil, 400, "invalid_request", []string{"ttl_seconds"}},
		{"hold ttl over an hour", "POST", holds, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"ttl_seconds":3601}`, nil, 400, "invalid_request", []string{"ttl_seconds"}},

		{"availability range over 400 nights", "GET", avail + "?from=2026-01-01&to=2027-02-06", "", nil, 400, "invalid_request", []string{"to"}},
		{"availability to before from", "GET", avail + "?from=2026-12-05&to=2026-12-01", "", nil, 400, "invalid_request", []string{"to"}},
		{"availability impossible date", "GET", avail + "?from=2026-02-30&to=2026-03-05", "", nil, 400, "invalid_request", []string{"from"}},
		{"availability without dates", "GET", avail, "", nil, 400, "invalid_request", []string{"from", "to"}},
		{"availability bad room type", "GET", avail + "?from=2026-12-01&to=2026-12-02&room_type=DLX!", "", nil, 400, "invalid_request", []string{"room_type"}},

		{"property bad id", "PUT", "/v1/properties/P_1", propertyJSON, nil, 400, "invalid_request", []string{"property"}},
		{"property id too long", "PUT", "/v1/properties/" + strings.Repeat("p", 65), propertyJSON, nil, 400, "invalid_request", []string{"property"}},
		{"property bad fields", "PUT", "/v1/properties/p2", `{"name":"","timezone":"Mars/Base","currency":"eur"}`, nil, 400, "invalid_request", []string{"name", "timezone", "currency"}},
		{"property unknown field", "PUT", "/v1/properties/p2", `{"name":"H","timezone":"UTC","currency":"EUR","stars":5}`, nil, 400, "invalid_request", []string{"stars"}},
		{"room type bad id", "PUT", rt + "Deluxe", roomTypeJSON, nil, 400, "invalid_request", []string{"room_type"}},
		{"room type bad fields", "PUT", rt + "std", `{"name":"Std","rooms":-1}`, nil, 400, "invalid_request", []string{"rooms", "price"}},
		{"room type rooms not an integer", "PUT", rt + "std", `{"name":"Std","rooms":"ten","price":1}`, nil, 400, "invalid_request", []string{"rooms"}},

		{"inventory without updates", "POST", inv, `{"updates":[]}`, nil, 400, "invalid_request", []string{"updates"}},
		{"inventory bad update", "POST", inv, `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-05","total":-1},{"room_type":"dlx","from":"2026-12-01","to":"2028-02-01","min_stay":0}]}`, nil, 400, "invalid_request", []string{"updates[0].total", "updates[1].to", "updates[1].min_stay"}},
		{"inventory impossible date", "POST", inv, `{"updates":[{"room_type":"dlx","from":"2026-13-01","to":"2026-12-05"}]}`, nil, 400, "invalid_request", []string{"updates[0].from"}},
		{"inventory unknown field", "POST", inv, `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-05","colour":"red"}]}`, nil, 400, "invalid_request", []string{"updates[0].colour"}},
		{"inventory unknown room type", "POST", inv, `{"updates":[{"room_type":"suite","from":"2026-12-01","to":"2026-12-05","total":1}]}`, nil, 404, "not_found", nil},

		{"list bad status", "GET", res + "?status=pending", "", nil, 400, "invalid_request", []string{"status"}},
		{"list bad limit", "GET", res + "?limit=0", "", nil, 400, "invalid_request", []string{"limit"}},
		{"list bad arrival", "GET", res + "?arrival_from=2026-02-30", "", nil, 400, "invalid_request", []string{"arrival_from"}},
		{"list bad cursor", "GET", res + "?cursor=bm9wZQ", "", nil, 400, "invalid_request", []string{"cursor"}},

		{"patch bad stays", "PATCH", "/v1/reservations/" + e.resID, `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-01","quantity":1}]}`, nil, 400, "invalid_request", []string{"stays[0].departure"}},
		{"cancel with unknown field", "POST", "/v1/reservations/" + e.resID + "/cancel", `{"reason":"x"}`, nil, 400, "invalid_request", []string{"reason"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.method, tc.path, "a-admin", tc.body, tc.header...)
			got := mustError(t, w, tc.status, tc.code)
			for _, f := range tc.fields {
				if _, ok := got.fields()[f]; !ok {
					t.Errorf("details.fields does not name %q: %s", f, w.Body.String())
				}
			}
		})
	}
	if n := e.engine.calls.Load() - callsBefore; n != 0 {
		t.Errorf("the engine was asked %d changes for bad input", n)
	}
}
