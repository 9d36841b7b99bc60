package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/notify/redistest"
	"github.com/staylock/staylock/persistence/pgtest"
)

// streamMsg is a stream message as a client reads it.
type streamMsg struct {
	Type      string  `json:"type"`
	RoomType  string  `json:"room_type"`
	PrevSeq   int64   `json:"prev_seq"`
	Seq       int64   `json:"seq"`
	Nights    []night `json:"nights"`
	RoomTypes []struct {
		RoomType string `json:"room_type"`
		Seq      int64  `json:"seq"`
	} `json:"room_types"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func mustDialStream(t *testing.T, base, query string, h http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := dialStream(base, query, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial stream %s%s: %v (HTTP %d)", base, query, err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func dialStream(base, query string, h http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/stream"+query, h)
}

func readStream(t *testing.T, ws *websocket.Conn, d time.Duration) streamMsg {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(d))
	_, raw, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	var m streamMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

// TestStream_TwoNodesShareDeltasThroughRedis runs two `staylock serve`
// processes on one Postgres database and one Redis: a booking made on one
// reaches a stream subscriber of the other, chained to its snapshot; a
// stream token made on one node opens a stream on the other and, used
// once, is refused on the first; both report the bus ready.
func TestStream_TwoNodesShareDeltasThroughRedis(t *testing.T) {
	b := backend{"postgres+redis", []string{
		"DB_URL=" + pgtest.NewDatabase(t),
		"REDIS_URL=" + redistest.DB(t),
		"APP_KEY=base64:c3RheWxvY2stZTJlLXN0cmVhbS10ZXN0LWtleS0zMmJ5dGVz", // shared: tokens verify on both nodes
	}}
	nodeEnv := func() backend {
		return backend{b.name, append(append([]string(nil), b.env...), "STORAGE_PATH="+t.TempDir())}
	}
	first := nodeEnv()
	admin := first.MustCreateKey(t, "acme", "admin") // migrates the database, once
	a, c := first.MustStart(t), nodeEnv().MustStart(t)
	ca := newClient(a.url, admin)
	mustSetUpHotel(t, ca, []string{"dlx"}, 10)

	for _, s := range []*server{a, c} {
		var ready struct {
			Checks map[string]struct{ Status string } `json:"checks"`
		}
		poll.EventuallyNil(t, 10*time.Second, s.url+" to be ready with the bus", func() error {
			status, body, err := newClient(s.url, "").do(context.Background(), "GET", "/readyz", nil)
			if err == nil && status == http.StatusOK && json.Unmarshal(body, &ready) == nil && ready.Checks["bus"].Status == "ok" {
				return nil
			}
			return fmt.Errorf("%d %s %v", status, body, err)
		})
	}

	// A token from node A opens the stream on node C.
	var tok struct{ Token string }
	ca.MustDo(t, "POST", "/v1/stream-tokens", map[string]any{}, http.StatusCreated, &tok)
	ws := mustDialStream(t, c.url, "?token="+tok.Token, nil)
	if _, resp, err := dialStream(a.url, "?token="+tok.Token, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token reused on the other node: %v; want 401", err)
	}

	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","property":"p1","from":"`+windowFrom+`","to":"`+dayAfter(windowFrom, 31)+`"}`)); err != nil {
		t.Fatal(err)
	}
	snap := readStream(t, ws, 10*time.Second)
	if snap.Type != "snapshot" || len(snap.RoomTypes) != 1 {
		t.Fatalf("want a snapshot with dlx, got %+v", snap)
	}
	last := snap.RoomTypes[0].Seq
	for i := 1; i <= 5; i++ {
		start := time.Now()
		ca.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
			"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 9), Departure: dayAfter(windowFrom, 11), Quantity: 1}},
			"guest": map[string]string{"name": "Ada"}, "channel": "e2e",
		}, http.StatusCreated, nil)
		m := readStream(t, ws, 5*time.Second)
		if m.Type != "delta" || m.PrevSeq != last || m.Seq <= last {
			t.Fatalf("booking %d on node A: node C's subscriber got %+v after seq %d", i, m, last)
		}
		last = m.Seq
		if len(m.Nights) != 2 || m.Nights[0].Booked != i || m.Nights[0].Available != 10-i {
			t.Fatalf("booking %d: nights %+v", i, m.Nights)
		}
		t.Logf("booking %d on node A seen on node C after %v", i, time.Since(start))
	}
}

// TestStream_RedisDownDoesNotStopBookings: with REDIS_URL pointing at no
// Redis, `serve` starts, books (201) and streams this node's own deltas;
// /readyz stays 200 (the node still books, so it stays in rotation) and
// both /readyz and /health say degraded, naming the bus.
func TestStream_RedisDownDoesNotStopBookings(t *testing.T) {
	b := backend{"sqlite+dead-redis", []string{"STORAGE_PATH=" + t.TempDir(), "REDIS_URL=redis://127.0.0.1:1/0"}}
	admin := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, admin)
	mustSetUpHotel(t, c, []string{"dlx"}, 10)

	ws := mustDialStream(t, s.url, "", http.Header{"Authorization": {"Bearer " + admin}})
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","property":"p1","from":"`+windowFrom+`","to":"`+dayAfter(windowFrom, 31)+`"}`)); err != nil {
		t.Fatal(err)
	}
	snap := readStream(t, ws, 10*time.Second)
	if snap.Type != "snapshot" {
		t.Fatalf("want a snapshot, got %+v", snap)
	}
	// The booking is answered (201) although Redis does not: publishing is
	// queued off the commit path (how fast is for benchmarks, not tests).
	c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 9), Departure: dayAfter(windowFrom, 10), Quantity: 1}},
		"guest": map[string]string{"name": "Ada"},
	}, http.StatusCreated, nil)
	if m := readStream(t, ws, 5*time.Second); m.Type != "delta" || m.PrevSeq != snap.RoomTypes[0].Seq {
		t.Fatalf("this node's own delta: %+v", m)
	}

	var ops struct {
		Status string                             `json:"status"`
		Checks map[string]struct{ Status string } `json:"checks"`
	}
	status, body, err := newClient(s.url, "").do(context.Background(), "GET", "/readyz", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &ops) != nil || ops.Status != "degraded" || ops.Checks["bus"].Status != "degraded" {
		t.Fatalf("/readyz with Redis down: %d %s %v", status, body, err)
	}
	status, body, err = newClient(s.url, "").do(context.Background(), "GET", "/health", nil)
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &ops) != nil || ops.Status != "degraded" {
		t.Fatalf("/health with Redis down: %d %s %v", status, body, err)
	}
}
