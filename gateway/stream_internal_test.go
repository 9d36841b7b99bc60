package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

var dec1 = booking.DateOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))

func nv(day int, booked int32) booking.NightView {
	return booking.NightView{Date: dec1 + booking.Date(day), Total: 10, Booked: booked, Available: 10 - booked}
}

// newTestConn is a connection without a socket, subscribed to p1 for
// December 1-10 with dlx at seq 5, for driving offer/take directly.
func newTestConn(t *testing.T, opts StreamOptions) (*streamConn, *streamSub) {
	t.Helper()
	h := newHub(nil, nil, zap.NewNop(), false, opts, prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &streamConn{hub: h, tenant: "t", log: zap.NewNop(), ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}), wrote: make(chan struct{}), subs: map[string]*streamSub{}}
	sub := &streamSub{conn: c, property: "p1", from: dec1, to: dec1 + 10,
		chains: map[string]*chain{"dlx": {last: 5, sent: 5}}}
	c.subs["p1"] = sub
	return c, sub
}

func d(prev, seq int64, nights ...booking.NightView) *booking.AvailabilityDelta {
	return &booking.AvailabilityDelta{Tenant: "t", Property: "p1", RoomType: "dlx", PrevSeq: prev, Seq: seq, Nights: nights, At: time.Now()}
}

// TestCoalescesWhileBehind: deltas that pile up before the writer takes
// them become one, chained from what the client saw last, latest counts
// winning; nights outside the range are left out, and a delta with none in
// range still moves the chain on.
func TestCoalescesWhileBehind(t *testing.T) {
	c, sub := newTestConn(t, StreamOptions{})
	now := time.Now()
	c.offer(sub, d(5, 6, nv(1, 1), nv(2, 1)), nil, now)
	c.offer(sub, d(6, 7, nv(2, 2), nv(3, 1)), nil, now)
	c.offer(sub, d(7, 8, nv(40, 1)), nil, now) // outside the range
	c.offer(sub, d(8, 9, nv(1, 3)), nil, now)
	out := c.take()
	if len(out) != 1 {
		t.Fatalf("%d messages queued, want 1", len(out))
	}
	m := out[0].delta
	if m.PrevSeq != 5 || m.Seq != 9 {
		t.Fatalf("coalesced %d→%d, want 5→9", m.PrevSeq, m.Seq)
	}
	want := []booking.NightView{nv(1, 3), nv(2, 2), nv(3, 1)}
	if len(m.Nights) != len(want) {
		t.Fatalf("nights %+v", m.Nights)
	}
	for i := range want {
		if m.Nights[i] != want[i] {
			t.Fatalf("night %d: %+v, want %+v", i, m.Nights[i], want[i])
		}
	}
	// Taken: the next delta is a new message, chained to 9.
	c.offer(sub, d(9, 10, nv(4, 1)), nil, now)
	c.offer(sub, d(10, 11, nv(41, 1)), nil, now) // outside: no message, chain moves
	c.offer(sub, d(11, 12, nv(5, 1)), nil, now)
	out = c.take()
	if len(out) != 1 || out[0].delta.PrevSeq != 9 || out[0].delta.Seq != 12 {
		t.Fatalf("after take: %+v", out)
	}
	// Old and duplicate deltas are dropped.
	c.offer(sub, d(3, 4, nv(1, 9)), nil, now)
	c.offer(sub, d(11, 12, nv(1, 9)), nil, now)
	if out := c.take(); len(out) != 0 {
		t.Fatalf("stale deltas queued: %+v", out[0].delta)
	}
}

// TestGapWhileLoadingParks: while a snapshot loads, deltas wait; a gap
// starts a reload instead of reaching the client.
func TestGapWhileLoadingParks(t *testing.T) {
	c, sub := newTestConn(t, StreamOptions{})
	sub.loading = true
	c.offer(sub, d(5, 6, nv(1, 1)), nil, time.Now())
	if len(sub.parked) != 1 || len(c.take()) != 0 {
		t.Fatalf("parked %d", len(sub.parked))
	}
	for range cap(c.hub.loadSem) { // hold off real loads: nothing to read in this test
		c.hub.loadSem <- struct{}{}
	}
	sub.loading = false
	c.offer(sub, d(7, 8, nv(1, 2)), nil, time.Now()) // 6→7 missing
	if !sub.loading || len(c.take()) != 0 {
		t.Fatal("a gap did not start a reload")
	}
	c.cancel()
	c.hub.wg.Wait()
}

// TestQueueBoundDropsClient: a client whose queue is full, or whose oldest
// message waited longer than the write timeout, is dropped.
func TestQueueBoundDropsClient(t *testing.T) {
	c, _ := newTestConn(t, StreamOptions{SendQueue: 2})
	now := time.Now()
	for i := range 3 {
		c.sendError(booking.Errorf(booking.CodeInvalid, "e%d", i))
	}
	if !c.ended || c.closeCode != closeTryLater {
		t.Fatalf("queue overflow: ended %v code %d", c.ended, c.closeCode)
	}
	c, sub := newTestConn(t, StreamOptions{WriteTimeout: time.Second})
	c.offer(sub, d(5, 6, nv(1, 1)), nil, now)
	c.out[0].taken = true // the writer holds it
	c.offer(sub, d(6, 7, nv(1, 2)), nil, now.Add(2*time.Second))
	if !c.ended || c.closeCode != closeTryLater {
		t.Fatalf("lagging: ended %v code %d", c.ended, c.closeCode)
	}
}

func TestStreamTokens(t *testing.T) {
	old, next := []byte("old-key-old-key-old-key-old-key!"), []byte("next-key-next-key-next-key-next!")
	key := persistence.APIKey{ID: "key_1", Tenant: "acme", Role: booking.RoleViewer}
	before := newTokenSigner(old, nil)
	during := newTokenSigner(next, [][]byte{next, old})
	after := newTokenSigner(next, nil)
	tok, exp := before.issue(key)
	if c, ok := during.check(tok); !ok || c.Tenant != "acme" || c.Role != "viewer" || c.KeyID != "key_1" {
		t.Fatalf("old-key token refused during the rotation: %+v", c)
	}
	if _, ok := after.check(tok); ok {
		t.Fatal("old-key token accepted after the rotation")
	}
	tok2, _ := during.issue(key)
	if _, ok := after.check(tok2); !ok {
		t.Fatal("a token signed during the rotation fails after it")
	}
	before.now = func() time.Time { return exp }
	if _, ok := before.check(tok); ok {
		t.Fatal("expired token accepted")
	}
	for _, bad := range []string{"", "st_", "st_x.y", tok + "x", "xx" + tok[2:], tok[:len(tok)-3]} {
		if _, ok := during.check(bad); ok {
			t.Errorf("bad token %q accepted", bad)
		}
	}
}

func TestMemoryOnce(t *testing.T) {
	m := newMemoryOnce()
	now := time.Now()
	m.now = func() time.Time { return now }
	ctx := context.Background()
	if ok, _ := m.ClaimOnce(ctx, "a", time.Minute); !ok {
		t.Fatal("first claim refused")
	}
	if ok, _ := m.ClaimOnce(ctx, "a", time.Minute); ok {
		t.Fatal("second claim accepted")
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := m.ClaimOnce(ctx, "a", time.Minute); !ok {
		t.Fatal("claim after expiry refused")
	}
}

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.com:443": "https://app.example.com",
		"http://localhost:8080":       "http://localhost:8080",
		"http://[::1]:80":             "http://[::1]",
		"https://a.example/":          "https://a.example",
	} {
		if got, ok := normalizeOrigin(in); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"null", "*", "ftp://x", "https://a.example/path", "https://u@a.example"} {
		if got, ok := normalizeOrigin(bad); ok {
			t.Errorf("%s accepted as %q", bad, got)
		}
	}
}
