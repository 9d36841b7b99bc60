package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/docs"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
	"github.com/staylock/staylock/persistence/storetest"
)

// faultEngine wraps an engine with hooks that tests use to make the next
// state change fail, panic or wait, and counts the state changes.
type faultEngine struct {
	gateway.Engine

	failNext  atomic.Pointer[error]
	panicNext atomic.Bool
	delay     atomic.Int64 // nanoseconds slept before every state change
	calls     atomic.Int64
	notReady  atomic.Pointer[error]
}

// failOnce makes the next state change return err without doing anything.
func (f *faultEngine) failOnce(err error) { f.failNext.Store(&err) }

// setReady makes Ready fail with err (nil: ready again).
func (f *faultEngine) setReady(err error) {
	if err == nil {
		f.notReady.Store(nil)
		return
	}
	f.notReady.Store(&err)
}

func (f *faultEngine) enter() error {
	f.calls.Add(1)
	if d := f.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if f.panicNext.CompareAndSwap(true, false) {
		panic("engine: boom")
	}
	if p := f.failNext.Swap(nil); p != nil {
		return *p
	}
	return nil
}

func (f *faultEngine) PutRoomType(ctx context.Context, rt booking.RoomType) (booking.RoomType, bool, error) {
	if err := f.enter(); err != nil {
		return booking.RoomType{}, false, err
	}
	return f.Engine.PutRoomType(ctx, rt)
}

func (f *faultEngine) UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *booking.Idempotency) (int, error) {
	if err := f.enter(); err != nil {
		return 0, err
	}
	return f.Engine.UpdateInventory(ctx, tenant, property, updates, idem)
}

func (f *faultEngine) CreateReservation(ctx context.Context, r booking.NewReservation, idem *booking.Idempotency) (booking.Reservation, error) {
	if err := f.enter(); err != nil {
		return booking.Reservation{}, err
	}
	return f.Engine.CreateReservation(ctx, r, idem)
}

func (f *faultEngine) ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *booking.Idempotency) (booking.Reservation, error) {
	if err := f.enter(); err != nil {
		return booking.Reservation{}, err
	}
	return f.Engine.ModifyReservation(ctx, tenant, id, stays, guest, idem)
}

func (f *faultEngine) CancelReservation(ctx context.Context, tenant, id string, idem *booking.Idempotency) (booking.Reservation, error) {
	if err := f.enter(); err != nil {
		return booking.Reservation{}, err
	}
	return f.Engine.CancelReservation(ctx, tenant, id, idem)
}

func (f *faultEngine) CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *booking.Idempotency) (booking.Hold, error) {
	if err := f.enter(); err != nil {
		return booking.Hold{}, err
	}
	return f.Engine.CreateHold(ctx, tenant, property, stays, ttl, idem)
}

func (f *faultEngine) ReleaseHold(ctx context.Context, tenant, id string, idem *booking.Idempotency) error {
	if err := f.enter(); err != nil {
		return err
	}
	return f.Engine.ReleaseHold(ctx, tenant, id, idem)
}

func (f *faultEngine) Ready(ctx context.Context) error {
	if p := f.notReady.Load(); p != nil {
		return *p
	}
	return f.Engine.Ready(ctx)
}

// Tenants, keys and ids every env starts with.
const (
	tenantA  = "ta"
	tenantB  = "tb"
	property = "p1"
	roomType = "dlx"
)

// env is one server over a fresh store, seeded with two tenants, a key of
// every role in each, and in tenant A a property, a room type, a
// reservation and a hold.
type env struct {
	t       *testing.T
	store   persistence.Store
	engine  *faultEngine
	srv     *gateway.Server
	handler http.Handler
	reg     *prometheus.Registry

	// keys by name: "a-admin", "a-channel", "a-viewer", "a-revoked", "b-admin", …
	keys   map[string]string
	keyIDs map[string]string
	resID  string
	holdID string
	// deliveryID is a logged attempt of tenant A's webhook webhookID.
	deliveryID string
}

// backends are the stores every end-to-end test runs against.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs f in a subtest per store.
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// MustOpenStore opens a fresh, migrated store of the backend.
func MustOpenStore(t *testing.T, backend string) persistence.Store {
	t.Helper()
	dbURL := ""
	if backend == "postgres" {
		dbURL = pgtest.NewDatabase(t)
	}
	return storetest.MustOpen(t, dbURL)
}

// newEngine starts the real engine: a local cluster node with the actors
// on the test's store, and the coordinator over it.
func newEngine(t *testing.T, store persistence.Store) gateway.Engine {
	t.Helper()
	n, err := cluster.Start(store, cluster.Options{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatalf("start cluster node: %v", err)
	}
	t.Cleanup(func() { n.Shutdown(false) })
	return actors.NewCoordinator(n, store, n.RequestTimeout(), zap.NewNop())
}

// newEnv builds a seeded env; opts may adjust the server options.
func newEnv(t *testing.T, backend string, opts ...func(*gateway.Options)) *env {
	t.Helper()
	store := MustOpenStore(t, backend)
	e := &env{t: t, store: store, keys: map[string]string{}, keyIDs: map[string]string{}}
	e.engine = &faultEngine{Engine: newEngine(t, store)}
	e.reg = prometheus.NewRegistry()
	o := gateway.WithClock(gateway.Options{Version: "test-1.2.3", Registry: e.reg}, envNow)
	for _, f := range opts {
		f(&o)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	e.srv = gateway.New(store, e.engine, log, o)
	e.handler = e.srv.Handler()

	ctx := context.Background()
	for _, tenant := range []string{tenantA, tenantB} {
		if _, err := store.EnsureTenant(ctx, tenant); err != nil {
			t.Fatalf("ensure tenant: %v", err)
		}
		for _, role := range []booking.Role{booking.RoleAdmin, booking.RoleChannel, booking.RoleViewer, booking.RoleAdmin} {
			name := tenant[1:] + "-" + string(role)
			if _, ok := e.keys[name]; ok {
				name = tenant[1:] + "-revoked"
			}
			id, secret, hash := auth.NewAPIKey()
			err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: tenant, Role: role, Name: name, Hash: hash, CreatedAt: time.Now()})
			if err != nil {
				t.Fatalf("create key: %v", err)
			}
			e.keys[name], e.keyIDs[name] = secret, id
		}
	}
	for _, name := range []string{"a-revoked", "b-revoked"} {
		if _, err := store.RevokeAPIKey(ctx, e.keyIDs[name], time.Now()); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}

	e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/"+property, "a-admin", propertyJSON))
	e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/"+property+"/room-types/"+roomType, "a-admin", roomTypeJSON))
	var res booking.Reservation
	e.decode(e.mustStatus(http.StatusCreated, e.do("POST", "/v1/properties/"+property+"/reservations", "a-admin", reservationJSON)), &res)
	e.resID = res.ID
	var hold booking.Hold
	e.decode(e.mustStatus(http.StatusCreated, e.do("POST", "/v1/properties/"+property+"/holds", "a-admin", holdJSON)), &hold)
	e.holdID = hold.ID
	// Straight into the store: the rate limit tests count the env's
	// requests against their burst.
	if _, _, err := store.PutWebhook(ctx, persistence.WebhookEndpoint{Tenant: tenantA, ID: webhookID, URL: "https://crm.example.com/staylock",
		Events: []string{"reservation.cancelled", "reservation.confirmed"}, Secret: "whsec_c2VlZC1zZWNyZXQtZm9yLXRoZS1nYXRld2F5LXRlc3Q="}); err != nil {
		t.Fatalf("seed webhook: %v", err)
	}
	d, err := store.RecordDelivery(ctx, persistence.WebhookDelivery{Tenant: tenantA, Endpoint: webhookID, MessageID: "msg_seed",
		Event: "reservation.confirmed", Attempt: 1, StatusCode: 500, LatencyMS: 2, Error: "endpoint answered 500", Payload: "{}"})
	if err != nil {
		t.Fatalf("seed delivery: %v", err)
	}
	e.deliveryID = strconv.FormatInt(d, 10)
	return e
}

// envNow is the env's booking clock: the sample dates below (December
// 2026) stay bookable whatever the day the tests run.
func envNow() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }

// Sample bodies, valid for the seeded data.
const (
	propertyJSON    = `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR"}`
	roomTypeJSON    = `{"name":"Deluxe","rooms":10,"price":12900}`
	inventoryJSON   = `{"updates":[{"room_type":"dlx","from":"2026-12-01","to":"2026-12-31","total":12,"price":13900,"stop_sell":false,"min_stay":1}]}`
	reservationJSON = `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1}],` +
		`"guest":{"name":"Ada Lovelace","email":"ada@example.com"},"channel":"booking.com","external_ref":"BDC-123","hold_id":null}`
	modifyJSON  = `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-04","quantity":1}]}`
	holdJSON    = `{"stays":[{"room_type":"dlx","arrival":"2026-12-05","departure":"2026-12-06","quantity":1}],"ttl_seconds":600}`
	webhookID   = "crm"
	webhookJSON = `{"url":"https://crm.example.com/staylock","events":["reservation.confirmed","reservation.cancelled"]}`
)

// do sends one request; key names a key of the env ("" for none; a value
// with a space is sent as the raw Authorization header).
func (e *env) do(method, path, key, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.Contains(key, " "):
		r.Header.Set("Authorization", key)
	case key != "":
		secret, ok := e.keys[key]
		if !ok {
			e.t.Fatalf("no key named %q", key)
		}
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	checkAgainstOpenAPI(e.t, r, w)
	return w
}

var openAPI struct {
	once   sync.Once
	router routers.Router
	err    error
}

// checkAgainstOpenAPI validates a response (status, headers, body) against
// docs/openapi.yaml, for every request the route of which it documents.
func checkAgainstOpenAPI(t *testing.T, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	openAPI.once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(docs.OpenAPI)
		if err == nil {
			openAPI.router, err = legacy.NewRouter(doc)
		}
		openAPI.err = err
	})
	if openAPI.err != nil {
		t.Fatalf("load openapi.yaml: %v", openAPI.err)
	}
	req := r.Clone(context.Background())
	req.URL.Scheme, req.URL.Host = "http", "localhost:8080"
	route, params, err := openAPI.router.FindRoute(req)
	if err != nil || route.Method != req.Method ||
		strings.Count(route.Path, "/") != strings.Count(strings.TrimSuffix(req.URL.Path, "/"), "/") {
		// Not a documented path and method (404 and 405 probes); the
		// legacy router also matches /a against /a/{b} with b empty.
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 w.Code,
		Header:                 w.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match docs/openapi.yaml: %v\nbody: %s", r.Method, r.URL, w.Code, err, w.Body.String())
	}
}

func (e *env) mustStatus(want int, w *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	e.t.Helper()
	if w.Code != want {
		e.t.Fatalf("status %d, want %d; body %s", w.Code, want, w.Body.String())
	}
	return w
}

func (e *env) decode(w *httptest.ResponseRecorder, v any) {
	e.t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		e.t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
}

// apiError is the error shape of every failed response.
type apiError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// errorOf decodes an error response strictly: it must have exactly the
// documented shape.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q, want JSON; body %s", ct, w.Body.String())
	}
	var out apiError
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("error body %q is not the error shape: %v", w.Body.String(), err)
	}
	if out.Error.Code == "" || out.Error.Message == "" {
		t.Fatalf("error body %q lacks code or message", w.Body.String())
	}
	return out
}

// mustError checks status and code of an error response.
func mustError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) apiError {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	e := errorOf(t, w)
	if e.Error.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Error.Code, code, w.Body.String())
	}
	return e
}

// fields returns details.fields of an error.
func (a apiError) fields() map[string]any {
	f, _ := a.Error.Details["fields"].(map[string]any)
	return f
}
