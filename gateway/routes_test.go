package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/docs"
	"github.com/staylock/staylock/gateway"
)

// publicRoutes are the only routes served without a key.
var publicRoutes = map[string]bool{
	"GET /livez": true, "GET /readyz": true, "GET /health": true, "GET /metrics": true,
	"GET /": true, "GET /assets/*file": true, // the dashboard's page and files
}

// viewerMayPost are the non-GET routes that change nothing, so a viewer may
// use them.
var viewerMayPost = map[string]bool{
	"POST /v1/stream-tokens": true,
}

// guestData are the GET routes that carry guests' personal data: a viewer
// key (the one pasted into dashboards) may not read them.
var guestData = map[string]bool{
	"GET /v1/properties/:property/reservations":       true,
	"GET /v1/reservations/:reservation":               true,
	"GET /v1/reservations/:reservation/notifications": true,
}

// plainStatus is what a route answers an authorised plain request when
// that is not 200: the stream wants a WebSocket handshake (stream_test.go
// tests the upgrade itself).
var plainStatus = map[string]int{
	"GET /v1/stream": http.StatusBadRequest,
}

// adminOnly are the setup routes a channel key may not use.
var adminOnly = map[string]bool{
	"PUT /v1/properties/:property":                          true,
	"PUT /v1/properties/:property/room-types/:room_type":    true,
	"POST /v1/properties/:property/inventory":               true,
	"GET /v1/webhooks":                                      true,
	"PUT /v1/webhooks/:webhook":                             true,
	"GET /v1/webhooks/:webhook":                             true,
	"DELETE /v1/webhooks/:webhook":                          true,
	"GET /v1/webhooks/:webhook/deliveries":                  true,
	"POST /v1/webhooks/:webhook/rotate-secret":              true,
	"POST /v1/webhooks/:webhook/deliveries/:delivery/retry": true,
}

// sampleBodies are valid bodies of the routes that take one, for the seeded
// data. A new route with a body must get one here (the test says so).
var sampleBodies = map[string]string{
	"PUT /v1/properties/:property":                          propertyJSON,
	"PUT /v1/properties/:property/room-types/:room_type":    roomTypeJSON,
	"POST /v1/properties/:property/inventory":               inventoryJSON,
	"POST /v1/properties/:property/reservations":            reservationJSON,
	"PATCH /v1/reservations/:reservation":                   modifyJSON,
	"POST /v1/reservations/:reservation/cancel":             "",
	"POST /v1/properties/:property/holds":                   holdJSON,
	"DELETE /v1/holds/:hold":                                "",
	"POST /v1/stream-tokens":                                "",
	"PUT /v1/webhooks/:webhook":                             webhookJSON,
	"POST /v1/webhooks/:webhook/deliveries/:delivery/retry": "",
	"DELETE /v1/webhooks/:webhook":                          "",
	"POST /v1/webhooks/:webhook/rotate-secret":              `{"previous_valid_seconds":3600}`,
}

// sampleQueries complete the routes that need query parameters.
var sampleQueries = map[string]string{
	"GET /v1/properties/:property/availability": "?from=2026-12-01&to=2026-12-03",
}

// fill replaces the path's parameters with tenant A's ids.
func (e *env) fill(t *testing.T, path string) string {
	t.Helper()
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if !strings.HasPrefix(p, ":") && !strings.HasPrefix(p, "*") {
			continue
		}
		switch p[1:] {
		case "property":
			parts[i] = property
		case "room_type":
			parts[i] = roomType
		case "reservation":
			parts[i] = e.resID
		case "hold":
			parts[i] = e.holdID
		case "webhook":
			parts[i] = webhookID
		case "delivery":
			parts[i] = e.deliveryID
		default:
			t.Fatalf("route %s: no sample id for parameter %s; add one to fill", path, p)
		}
	}
	return strings.Join(parts, "/")
}

// TestEveryRouteIsGuarded walks every route the server declares, so a new
// route is covered without touching this test: without a key or with a
// bad, unknown or revoked one it answers 401; a viewer may only GET, and not guests' data (403);
// a channel key may not change setup (403); another tenant's key naming
// tenant A's ids answers 404 as if they did not exist; and tenant A's admin
// reaches every route (so the 404s are not a wrong sample).
func TestEveryRouteIsGuarded(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend)
		routes := e.srv.Routes()
		if len(routes) < 10 {
			t.Fatalf("only %d routes", len(routes))
		}
		seen := map[string]bool{}
		for _, r := range routes {
			name := r.Method + " " + r.Path
			seen[name] = true
			if !strings.HasPrefix(r.Path, "/v1/") {
				if !publicRoutes[name] {
					t.Errorf("route %s is outside /v1 but not a known public endpoint", name)
				}
				continue
			}
			body, hasBody := sampleBodies[name]
			if r.Method != http.MethodGet && !hasBody {
				t.Fatalf("route %s has no sample body; add one to sampleBodies", name)
			}
			path := e.fill(t, r.Path) + sampleQueries[name]
			t.Run(name, func(t *testing.T) {
				for _, key := range []string{"", "Bearer ", "Bearer sl_nope", "Basic " + e.keys["a-admin"], "a-revoked"} {
					w := e.do(r.Method, path, key, body)
					mustError(t, w, http.StatusUnauthorized, string(booking.CodeUnauthorized))
				}
				switch {
				case guestData[name] || adminOnly[name] || r.Method != http.MethodGet && !viewerMayPost[name]:
					mustError(t, e.do(r.Method, path, "a-viewer", body), http.StatusForbidden, string(booking.CodeForbidden))
				case plainStatus[name] != 0:
					if w := e.do(r.Method, path, "a-viewer", body); w.Code != plainStatus[name] {
						t.Errorf("viewer %s %s: %d %s", r.Method, path, w.Code, w.Body.String())
					}
				default:
					if w := e.do(r.Method, path, "a-viewer", body); w.Code >= 300 {
						t.Errorf("viewer %s %s: %d %s", r.Method, path, w.Code, w.Body.String())
					}
				}
				if adminOnly[name] {
					mustError(t, e.do(r.Method, path, "a-channel", body), http.StatusForbidden, string(booking.CodeForbidden))
				}
				if !strings.Contains(r.Path, ":") {
					return
				}
				if name == "PUT /v1/properties/:property" || name == "PUT /v1/webhooks/:webhook" {
					return // an upsert into B's own tenant: checked below
				}
				mustError(t, e.do(r.Method, path, "b-admin", body), http.StatusNotFound, string(booking.CodeNotFound))
			})
		}
		for name := range publicRoutes {
			if !seen[name] {
				t.Errorf("public route %s is not served", name)
			}
		}

		// Positive control, last since it changes state: tenant A's admin
		// reaches every route.
		for _, r := range routes {
			name := r.Method + " " + r.Path
			if !strings.HasPrefix(r.Path, "/v1/") {
				continue
			}
			w := e.do(r.Method, e.fill(t, r.Path)+sampleQueries[name], "a-admin", sampleBodies[name])
			if want := plainStatus[name]; want != 0 {
				if w.Code != want {
					t.Errorf("tenant A admin %s: %d %s", name, w.Code, w.Body.String())
				}
			} else if w.Code >= 400 && w.Code != http.StatusConflict {
				t.Errorf("tenant A admin %s: %d %s", name, w.Code, w.Body.String())
			}
		}
		// Tenant B's PUT of A's property id makes B's own; A's is untouched.
		e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/"+property, "b-admin", `{"name":"B's","timezone":"UTC","currency":"USD"}`))
		var p booking.Property
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/"+property, "a-viewer", "")), &p)
		if p.Name != "Hotel One" || p.Currency != "EUR" {
			t.Errorf("tenant A's property became %+v", p)
		}
		var list struct {
			RoomTypes []booking.RoomType `json:"room_types"`
		}
		e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/"+property+"/room-types", "b-viewer", "")), &list)
		if len(list.RoomTypes) != 0 {
			t.Errorf("tenant B sees room types %+v of tenant A", list.RoomTypes)
		}
	})
}

// undocumented are the routes the server serves that docs/openapi.yaml
// leaves out on purpose, each with the reason. Every other route must be
// documented, and every documented operation served
// (TestRoutesAreTheOpenAPIDocument).
var undocumented = map[string]string{
	"GET /":              "the dashboard's page: HTML for browsers, not the API",
	"GET /assets/{file}": "the dashboard's scripts and styles",
}

// undocumentedTrees are path prefixes served by another program's handler,
// any method, mounted only when configured.
var undocumentedTrees = map[string]string{
	gateway.AdminJobsPrefix: "River's job UI for operators (its own pages and API), with AdminJobs and AdminTenant",
}

// openAPIPath writes a gin route's path as OpenAPI does: /a/:b/*c is
// /a/{b}/{c}.
func openAPIPath(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// TestRoutesAreTheOpenAPIDocument compares the one route table
// (Server.routes, as served) with docs/openapi.yaml in both directions: a
// served route missing from the document fails, and so does a documented
// path and method that is not served. The only exceptions are the
// commented lists above.
func TestRoutesAreTheOpenAPIDocument(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.AdminJobs, o.AdminTenant = http.NotFoundHandler(), tenantA })
	doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	trees := map[string]bool{}
	for _, r := range e.srv.Routes() {
		name := r.Method + " " + openAPIPath(r.Path)
		served[name] = true
		tree := ""
		for prefix := range undocumentedTrees {
			if r.Path == prefix || strings.HasPrefix(r.Path, prefix+"/") {
				tree = prefix
			}
		}
		switch {
		case tree != "":
			trees[tree] = true
			if documented[name] {
				t.Errorf("%s is documented, but undocumentedTrees lists %s", name, tree)
			}
		case documented[name] && undocumented[name] != "":
			t.Errorf("%s is documented, but undocumented lists it: remove it there", name)
		case !documented[name] && undocumented[name] == "":
			t.Errorf("%s is served but not in docs/openapi.yaml: document it, or add it to undocumented saying why", name)
		}
	}
	for name := range documented {
		if !served[name] {
			t.Errorf("docs/openapi.yaml documents %s, which is not served", name)
		}
	}
	for name := range undocumented {
		if !served[name] {
			t.Errorf("undocumented lists %s, which is not served: remove it", name)
		}
	}
	for prefix := range undocumentedTrees {
		if !trees[prefix] {
			t.Errorf("undocumentedTrees lists %s, under which nothing is served: remove it", prefix)
		}
	}
	if len(documented) < 20 {
		t.Fatalf("only %d operations in docs/openapi.yaml", len(documented))
	}
}

// paramKind is the kind a path parameter names in not_found details.
var paramKind = map[string]string{
	"property": "property", "room_type": "room_type", "reservation": "reservation", "hold": "hold",
	"webhook": "webhook", "delivery": "delivery",
}

// upserts are routes whose last parameter names what they create: an
// unknown id there is not a 404.
var upserts = map[string]string{
	"PUT /v1/properties/:property":                       "property",
	"PUT /v1/properties/:property/room-types/:room_type": "room_type",
	"PUT /v1/webhooks/:webhook":                          "webhook",
}

// TestEveryRouteErrorClass walks every /v1 route through each class of
// client error, as tenant A's admin, so a new route is covered without
// touching this test. Every answer has the documented JSON shape and, for a
// documented route, matches the OpenAPI document (e.do checks it):
//   - a malformed path id (bad characters, 300 bytes) is 400 naming the
//     parameter, and the answer does not echo it;
//   - a well-formed unknown id is 404 whose details name the kind and id;
//   - a malformed body is 400, one over the limit 413;
//   - a method the path does not serve is 405 naming the route;
//   - an unknown path is 404 naming the route (cut to a bounded length).
func TestEveryRouteErrorClass(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *gateway.Options) { o.BodyLimit = 4 << 10 })
	served := map[string]map[string]bool{} // path → methods
	for _, r := range e.srv.Routes() {
		if served[r.Path] == nil {
			served[r.Path] = map[string]bool{}
		}
		served[r.Path][r.Method] = true
	}
	hostile := "Bad%20Id%21" + strings.Repeat("x", 300)
	for _, r := range e.srv.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") || r.Path == "/v1/stream" {
			continue // the stream's errors: stream_test.go
		}
		name := r.Method + " " + r.Path
		body := sampleBodies[name]
		query := sampleQueries[name]
		t.Run(name, func(t *testing.T) {
			for _, param := range pathParams(r.Path) {
				w := e.do(r.Method, e.fillWith(t, r.Path, param, hostile)+query, "a-admin", body)
				got := mustError(t, w, http.StatusBadRequest, string(booking.CodeInvalid))
				if fields, _ := got.Error.Details["fields"].(map[string]any); fields[param] == nil {
					t.Errorf("malformed %s: details %v do not name it", param, got.Error.Details)
				}
				if strings.Contains(w.Body.String(), strings.Repeat("x", 100)) || w.Body.Len() > 1024 {
					t.Errorf("malformed %s echoed back (%d bytes): %.200s", param, w.Body.Len(), w.Body.String())
				}

				if upserts[name] == param {
					continue
				}
				unknown := "nope"
				if param == "reservation" {
					unknown = "r_nope"
				} else if param == "hold" {
					unknown = "h_nope"
				} else if param == "delivery" {
					unknown = "999999"
				}
				w = e.do(r.Method, e.fillWith(t, r.Path, param, unknown)+query, "a-admin", body)
				got = mustError(t, w, http.StatusNotFound, string(booking.CodeNotFound))
				if got.Error.Details["kind"] != paramKind[param] || got.Error.Details["id"] != unknown {
					t.Errorf("unknown %s: details %v, want kind %s and id %s", param, got.Error.Details, paramKind[param], unknown)
				}
			}

			path := e.fill(t, r.Path) + query
			if _, hasBody := sampleBodies[name]; hasBody && body != "" {
				mustError(t, e.do(r.Method, path, "a-admin", "{"), http.StatusBadRequest, string(booking.CodeInvalid))
				big := `{"name":"` + strings.Repeat("x", 8<<10) + `"}`
				mustError(t, e.do(r.Method, path, "a-admin", big), http.StatusRequestEntityTooLarge, string(booking.CodePayloadTooLarge))
			}

			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
				if served[r.Path][m] {
					continue
				}
				got := mustError(t, e.do(m, path, "a-admin", ""), http.StatusMethodNotAllowed, "method_not_allowed")
				if got.Error.Details["kind"] != "route" || got.Error.Details["method"] != m {
					t.Errorf("%s %s: details %v", m, path, got.Error.Details)
				}
				break
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		got := mustError(t, e.do("GET", "/v1/nothing/"+strings.Repeat("y", 300), "a-admin", ""), http.StatusNotFound, string(booking.CodeNotFound))
		if got.Error.Details["kind"] != "route" || len(got.Error.Details["id"].(string)) > 80 {
			t.Errorf("unknown path: details %v", got.Error.Details)
		}
	})
}

// pathParams lists the parameters of a route's path, in order.
func pathParams(path string) []string {
	var out []string
	for _, p := range strings.Split(path, "/") {
		if strings.HasPrefix(p, ":") {
			out = append(out, p[1:])
		}
	}
	return out
}

// fillWith fills the path like fill, but puts value in parameter param.
func (e *env) fillWith(t *testing.T, path, param, value string) string {
	t.Helper()
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p == ":"+param {
			parts[i] = "{{value}}"
		}
	}
	return strings.Replace(e.fill(t, strings.Join(parts, "/")), "{{value}}", value, 1)
}
