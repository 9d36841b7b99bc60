package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/docs"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/testserver"
)

// streamEnv is one in-process node (real actors, SQLite) with a property
// p1 and a room type dlx of 10 rooms in tenant acme.
type streamEnv struct {
	t      *testing.T
	srv    *testserver.Server
	admin  string
	viewer string
	wsURL  string
}

// newStreamEnv starts a node; every goroutine it and its connections
// started must be gone when the test ends.
func newStreamEnv(t *testing.T, stream gateway.StreamOptions) *streamEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { // registered first, so it runs last
		goleak.VerifyNone(t, ignore,
			// protoactor's test membership provider and gossip throttle outlive a cluster shutdown
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/cluster/clusterproviders/test.(*Provider).startTtlReport.func1"),
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/cluster.(*Gossiper).StartGossiping.NewThrottle.func3.1"),
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.(*Future).start.func1"))
	})
	srv := testserver.Start(t, "", testserver.Options{Gateway: gateway.WithClock(gateway.Options{Stream: stream}, envNow)})
	e := &streamEnv{t: t, srv: srv, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/stream",
		admin: srv.MustKey(t, "acme", booking.RoleAdmin), viewer: srv.MustKey(t, "acme", booking.RoleViewer)}
	e.mustDo("PUT", "/v1/properties/p1", e.admin, `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR"}`, http.StatusCreated)
	e.mustDo("PUT", "/v1/properties/p1/room-types/dlx", e.admin, `{"name":"Deluxe","rooms":10,"price":12900}`, http.StatusCreated)
	return e
}

func (e *streamEnv) do(method, path, key, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *streamEnv) mustDo(method, path, key, body string, want int) []byte {
	e.t.Helper()
	status, b := e.do(method, path, key, body)
	if status != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
	return b
}

// book reserves one dlx room for 2026-12-01..03.
func (e *streamEnv) book(i int) {
	e.t.Helper()
	e.mustDo("POST", "/v1/properties/p1/reservations", e.admin, fmt.Sprintf(
		`{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-03","quantity":1}],"guest":{"name":"Guest %d"},"channel":"test"}`, i),
		http.StatusCreated)
}

// dial opens the stream; header may carry Authorization and Origin.
func (e *streamEnv) dial(query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, e.wsURL+query, header)
	if err == nil {
		e.t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

func (e *streamEnv) mustDial(header http.Header) *websocket.Conn {
	e.t.Helper()
	ws, resp, err := e.dial("", header)
	if err != nil {
		e.t.Fatalf("dial: %v (%s)", err, body(resp))
	}
	return ws
}

func body(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// serverMsg is any message the server sends.
type serverMsg struct {
	Type      string              `json:"type"`
	Property  string              `json:"property"`
	RoomType  string              `json:"room_type"`
	PrevSeq   int64               `json:"prev_seq"`
	Seq       int64               `json:"seq"`
	Nights    []booking.NightView `json:"nights"`
	RoomTypes []struct {
		RoomType string              `json:"room_type"`
		Seq      int64               `json:"seq"`
		Nights   []booking.NightView `json:"nights"`
	} `json:"room_types"`
	Error *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

var streamSchemas struct {
	once sync.Once
	doc  *openapi3.T
	err  error
}

// checkSchema validates a server message against its schema in
// docs/openapi.yaml (StreamSnapshot, StreamDelta, StreamError).
func checkSchema(t *testing.T, raw []byte, typ string) {
	t.Helper()
	streamSchemas.once.Do(func() {
		streamSchemas.doc, streamSchemas.err = openapi3.NewLoader().LoadFromData(docs.OpenAPI)
	})
	if streamSchemas.err != nil {
		t.Fatalf("load openapi.yaml: %v", streamSchemas.err)
	}
	name := map[string]string{"snapshot": "StreamSnapshot", "delta": "StreamDelta", "error": "StreamError"}[typ]
	ref := streamSchemas.doc.Components.Schemas[name]
	if ref == nil {
		t.Fatalf("message type %q has no schema: %s", typ, raw)
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	if err := ref.Value.VisitJSON(v); err != nil {
		t.Errorf("%s message does not match %s: %v\n%s", typ, name, err, raw)
	}
}

// read returns the next message, within d.
func read(t *testing.T, ws *websocket.Conn, d time.Duration) serverMsg {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(d))
	typ, raw, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d", typ)
	}
	var m serverMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	checkSchema(t, raw, m.Type)
	return m
}

func send(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

const subscribeDecember = `{"type":"subscribe","property":"p1","from":"2026-12-01","to":"2027-01-01"}`

// mustSubscribe subscribes to p1 for December and returns dlx's snapshot seq.
func mustSubscribe(t *testing.T, ws *websocket.Conn) int64 {
	t.Helper()
	send(t, ws, subscribeDecember)
	m := read(t, ws, 10*time.Second)
	if m.Type != "snapshot" || m.Property != "p1" || len(m.RoomTypes) != 1 || m.RoomTypes[0].RoomType != "dlx" {
		t.Fatalf("want the snapshot of p1 with dlx, got %+v", m)
	}
	if n := len(m.RoomTypes[0].Nights); n != 31 {
		t.Fatalf("snapshot has %d nights, want 31", n)
	}
	return m.RoomTypes[0].Seq
}

// TestStreamTwentyBookingsTwentyChainedDeltas: each committed booking
// reaches a subscriber as one delta whose prev_seq is the seq it saw last,
// with the new counts of exactly the nights it changed.
func TestStreamTwentyBookingsTwentyChainedDeltas(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{})
	ws := e.mustDial(bearer(e.viewer))
	last := mustSubscribe(t, ws)
	total := int32(10)
	for i := 1; i <= 20; i++ {
		start := time.Now()
		e.book(i)
		m := read(t, ws, 2*time.Second)
		if m.Type != "delta" || m.RoomType != "dlx" || m.Property != "p1" {
			t.Fatalf("booking %d: got %+v, want a dlx delta", i, m)
		}
		if m.PrevSeq != last || m.Seq != last+1 {
			t.Fatalf("booking %d: delta %d→%d after seq %d: not chained", i, m.PrevSeq, m.Seq, last)
		}
		last = m.Seq
		if len(m.Nights) != 2 || m.Nights[0].Date.String() != "2026-12-01" || m.Nights[1].Date.String() != "2026-12-02" {
			t.Fatalf("booking %d: nights %+v, want 12-01 and 12-02", i, m.Nights)
		}
		for _, n := range m.Nights {
			if n.Booked != int32(i) || n.Available != total-int32(i) || n.Total != total {
				t.Fatalf("booking %d: night %+v, want booked %d", i, n, i)
			}
		}
		t.Logf("booking %d: delta after %v", i, time.Since(start))
		if i == 10 { // sold out: rejected requests send nothing; then more rooms
			for j := 0; j < 3; j++ {
				e.mustDo("POST", "/v1/properties/p1/reservations", e.admin,
					`{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}],"guest":{"name":"x"}}`,
					http.StatusConflict)
			}
			e.mustDo("PUT", "/v1/properties/p1/room-types/dlx", e.admin, `{"name":"Deluxe","rooms":30,"price":12900}`, http.StatusOK)
			m := read(t, ws, 2*time.Second) // every night changed: a new snapshot
			if m.Type != "snapshot" || m.RoomTypes[0].Seq != last+1 || m.RoomTypes[0].Nights[0].Total != 30 {
				t.Fatalf("after the room type change: %+v, want a snapshot at seq %d", m, last+1)
			}
			last, total = m.RoomTypes[0].Seq, 30
		}
	}
}

// TestStreamBadMessagesAnswerErrors: a bad subscribe (or any bad message)
// gets {"type":"error"} naming the problem, and the connection stays
// usable; another tenant's property is not found.
func TestStreamBadMessagesAnswerErrors(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{})
	other := e.srv.MustKey(t, "other", booking.RoleAdmin)
	ws := e.mustDial(bearer(e.admin))
	for _, c := range []struct {
		name, msg, code string
		fields          []string
	}{
		{"bad dates", `{"type":"subscribe","property":"p1","from":"2026-13-01","to":"soon"}`, "invalid_request", []string{"from", "to"}},
		{"range too long", `{"type":"subscribe","property":"p1","from":"2026-01-01","to":"2027-12-01"}`, "invalid_request", []string{"to"}},
		{"bad property", `{"type":"subscribe","property":"P 1","from":"2026-12-01","to":"2026-12-02"}`, "invalid_request", []string{"property"}},
		{"unknown type", `{"type":"watch","property":"p1"}`, "invalid_request", []string{"type"}},
		{"unknown field", `{"type":"subscribe","property":"p1","from":"2026-12-01","to":"2026-12-02","x":1}`, "invalid_request", nil},
		{"not JSON", `subscribe p1`, "invalid_request", nil},
		{"unknown property", `{"type":"subscribe","property":"nope","from":"2026-12-01","to":"2026-12-02"}`, "not_found", nil},
	} {
		send(t, ws, c.msg)
		m := read(t, ws, 5*time.Second)
		if m.Type != "error" || m.Error == nil || m.Error.Code != c.code || m.Error.Message == "" {
			t.Fatalf("%s: got %+v, want error %s", c.name, m, c.code)
		}
		fields, _ := m.Error.Details["fields"].(map[string]any)
		for _, f := range c.fields {
			if _, ok := fields[f]; !ok {
				t.Errorf("%s: details.fields %v lacks %s", c.name, fields, f)
			}
		}
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if m := read(t, ws, 5*time.Second); m.Type != "error" {
		t.Fatalf("binary message: %+v", m)
	}
	mustSubscribe(t, ws) // still usable

	// Another tenant sees p1 as not found, and never its deltas.
	ow := e.mustDial(bearer(other))
	send(t, ow, subscribeDecember)
	if m := read(t, ow, 5*time.Second); m.Type != "error" || m.Error.Code != "not_found" {
		t.Fatalf("other tenant: %+v", m)
	}
	e.mustDo("PUT", "/v1/properties/p1", other, `{"name":"Other's","timezone":"UTC","currency":"USD"}`, http.StatusCreated)
	send(t, ow, subscribeDecember)
	if m := read(t, ow, 5*time.Second); m.Type != "snapshot" || len(m.RoomTypes) != 0 {
		t.Fatalf("other tenant's own p1: %+v", m)
	}
	e.book(1)
	if m := read(t, ws, 2*time.Second); m.Type != "delta" {
		t.Fatalf("owner: %+v", m)
	}
	_ = ow.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, raw, err := ow.ReadMessage(); err == nil {
		t.Fatalf("other tenant got %s", raw)
	}
}

// TestStreamCapsSubscriptions: past the cap a subscribe is refused;
// unsubscribing frees a place.
func TestStreamCapsSubscriptions(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{MaxSubscriptions: 2})
	for _, p := range []string{"p2", "p3"} {
		e.mustDo("PUT", "/v1/properties/"+p, e.admin, `{"name":"H","timezone":"UTC","currency":"EUR"}`, http.StatusCreated)
	}
	ws := e.mustDial(bearer(e.admin))
	sub := func(p string) serverMsg {
		send(t, ws, `{"type":"subscribe","property":"`+p+`","from":"2026-12-01","to":"2026-12-02"}`)
		return read(t, ws, 5*time.Second)
	}
	for _, p := range []string{"p1", "p2", "p1"} { // p1 twice: a re-subscribe takes no new place
		if m := sub(p); m.Type != "snapshot" {
			t.Fatalf("subscribe %s: %+v", p, m)
		}
	}
	if m := sub("p3"); m.Type != "error" || m.Error.Details["max_subscriptions"] != float64(2) {
		t.Fatalf("third subscription: %+v", m)
	}
	send(t, ws, `{"type":"unsubscribe","property":"p2"}`)
	if m := sub("p3"); m.Type != "snapshot" {
		t.Fatalf("after unsubscribe: %+v", m)
	}
}

// TestStreamReadLimit: a client message over the read limit closes the
// connection with 1009.
func TestStreamReadLimit(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{})
	ws := e.mustDial(bearer(e.admin))
	send(t, ws, `{"type":"subscribe","property":"`+strings.Repeat("p", 5000)+`"}`)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("got %v, want close 1009", err)
	}
}

// TestStreamAuthAndOrigin: no key → 401; an unknown key or a bad token →
// 401; a foreign Origin → 403 even with a good key; an allowed Origin and
// no Origin at all are accepted.
func TestStreamAuthAndOrigin(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{AllowedOrigins: []string{"https://app.example.com"}})
	mustRefuse := func(name, query string, h http.Header, status int, code string) {
		t.Helper()
		_, resp, err := e.dial(query, h)
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("%s: err %v, response %s; want %d", name, err, body(resp), status)
		}
		var eb struct {
			Error struct{ Code string } `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code != code {
			t.Fatalf("%s: body %s, want code %s", name, b, code)
		}
	}
	mustRefuse("no key", "", nil, http.StatusUnauthorized, "unauthorized")
	mustRefuse("unknown key", "", bearer("sl_"+strings.Repeat("x", 43)), http.StatusUnauthorized, "unauthorized")
	mustRefuse("bad token", "?token=st_abc.def", nil, http.StatusUnauthorized, "unauthorized")
	foreign := bearer(e.admin)
	foreign.Set("Origin", "https://evil.example")
	mustRefuse("foreign origin", "", foreign, http.StatusForbidden, "forbidden")
	for _, o := range []string{"https://app.example.com", "HTTPS://APP.example.com:443", e.srv.URL} {
		h := bearer(e.admin)
		h.Set("Origin", o)
		if _, resp, err := e.dial("", h); err != nil {
			t.Fatalf("origin %s: %v %s", o, err, body(resp))
		}
	}
	e.mustDial(bearer(e.viewer)) // no Origin: not a browser
}

// TestStreamTokenWorksOnce: a token from POST /v1/stream-tokens (any role)
// opens one stream; the second use is refused.
func TestStreamTokenWorksOnce(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{})
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(e.mustDo("POST", "/v1/stream-tokens", e.viewer, "", http.StatusCreated), &tok); err != nil {
		t.Fatal(err)
	}
	if until := time.Until(tok.ExpiresAt); until < 50*time.Second || until > 61*time.Second {
		t.Errorf("token expires in %v, want 60 s", until)
	}
	e.mustDo("POST", "/v1/stream-tokens", e.viewer, `{"x":1}`, http.StatusBadRequest)
	e.mustDo("POST", "/v1/stream-tokens", "", "", http.StatusUnauthorized)
	h := http.Header{"Origin": {e.srv.URL}} // as the dashboard's browser sends it
	ws, resp, err := e.dial("?token="+tok.Token, h)
	if err != nil {
		t.Fatalf("first use: %v %s", err, body(resp))
	}
	mustSubscribe(t, ws)
	_, resp, err = e.dial("?token="+tok.Token, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use: %v %s; want 401", err, body(resp))
	}
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte("already used")) {
		t.Errorf("second use says %s", b)
	}
}

// TestStreamStalledClientIsDropped: a client that stops reading is closed
// with 1013 while another client on the same property still gets every
// delta, each within 2 s of its booking, and bookings never wait.
func TestStreamStalledClientIsDropped(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{PingInterval: 200 * time.Millisecond, PongWait: time.Second})
	e.mustDo("PUT", "/v1/properties/p1/room-types/dlx", e.admin, `{"name":"Deluxe","rooms":30,"price":12900}`, http.StatusOK)
	stalled := e.mustDial(bearer(e.viewer))
	mustSubscribe(t, stalled) // then it never reads again
	good := e.mustDial(bearer(e.viewer))
	last := mustSubscribe(t, good)

	type got struct {
		m  serverMsg
		at time.Time
	}
	msgs := make(chan got, 100)
	go func() {
		defer close(msgs)
		for {
			_ = good.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, raw, err := good.ReadMessage()
			if err != nil {
				return
			}
			var m serverMsg
			_ = json.Unmarshal(raw, &m)
			msgs <- got{m, time.Now()}
		}
	}()
	booked := make([]time.Time, 21)
	for i := 1; i <= 20; i++ {
		booked[i] = time.Now()
		e.book(i)
		if d := time.Since(booked[i]); d > 2*time.Second {
			t.Errorf("booking %d took %v", i, d)
		}
		time.Sleep(40 * time.Millisecond) // spread over the stalled client's pong wait
	}
	booking := 0
	for booking < 20 {
		select {
		case g, ok := <-msgs:
			if !ok {
				t.Fatalf("the good client's stream ended after %d deltas", booking)
			}
			if g.m.Type != "delta" || g.m.PrevSeq != last {
				t.Fatalf("good client: %+v after seq %d", g.m, last)
			}
			booking += int(g.m.Seq - g.m.PrevSeq)
			last = g.m.Seq
			if d := g.at.Sub(booked[booking]); d > 2*time.Second {
				t.Errorf("delta of booking %d came %v after it", booking, d)
			}
			if n := g.m.Nights[0]; n.Booked != int32(booking) {
				t.Fatalf("delta of booking %d says booked %d", booking, n.Booked)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("good client: only %d of 20 bookings arrived", booking)
		}
	}
	var closeErr error
	// What it finds now: the messages and pings sent before the drop, then
	// the close frame (no pong can go back: the server has hung up).
	stalled.SetPingHandler(func(string) error { return nil })
	_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	for closeErr == nil {
		_, _, closeErr = stalled.ReadMessage()
	}
	if !websocket.IsCloseError(closeErr, websocket.CloseTryAgainLater) {
		t.Fatalf("stalled client: %v, want close 1013", closeErr)
	}
	metrics := string(e.mustDo("GET", "/metrics", "", "", http.StatusOK))
	for _, want := range []string{`hotel_stream_clients_dropped_total{reason="pong_timeout"} 1`, "hotel_stream_connections 1",
		"hotel_stream_deltas_sent_total", "hotel_stream_commit_to_send_seconds_bucket", `hotel_bus_deltas_total{event="published"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestStreamServerCloseEndsConnections: closing the gateway closes every
// stream with 1001 and leaves no goroutine behind.
func TestStreamServerCloseEndsConnections(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{})
	ws := e.mustDial(bearer(e.viewer))
	mustSubscribe(t, ws)
	e.srv.Gateway.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("got %v, want close 1001", err)
	}
	ws2, resp, err := e.dial("", bearer(e.viewer)) // after Close: refused at once
	if err != nil {
		t.Fatalf("dial after close: %v %s", err, body(resp))
	}
	_ = ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws2.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after close: got %v, want close 1001", err)
	}
}

// TestStreamRevokedKeyIsClosed: streams opened with a key, or with a token
// made by it, close (1008) soon after the key is revoked.
func TestStreamRevokedKeyIsClosed(t *testing.T) {
	e := newStreamEnv(t, gateway.StreamOptions{KeyRecheck: 100 * time.Millisecond})
	byKey := e.mustDial(bearer(e.viewer))
	var tok struct{ Token string }
	if err := json.Unmarshal(e.mustDo("POST", "/v1/stream-tokens", e.viewer, "", http.StatusCreated), &tok); err != nil {
		t.Fatal(err)
	}
	byToken, _, err := e.dial("?token="+tok.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := e.mustDial(bearer(e.admin))
	mustSubscribe(t, byKey)
	mustSubscribe(t, other)

	ctx := context.Background()
	keys, err := e.srv.Store.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Equal(k.Hash, auth.HashAPIKey(e.viewer)) {
			if _, err := e.srv.Store.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, ws := range map[string]*websocket.Conn{"key": byKey, "token": byToken} {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var err error
		for err == nil {
			_, _, err = ws.ReadMessage()
		}
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Errorf("stream opened by %s: %v, want close 1008", name, err)
		}
	}
	e.book(1)
	if m := read(t, other, 2*time.Second); m.Type != "delta" {
		t.Fatalf("the other key's stream: %+v", m)
	}
}
