package notify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/notify/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collector records what a subscriber gets.
type collector struct {
	mu     sync.Mutex
	deltas []booking.AvailabilityDelta
	lost   int
}

func (c *collector) handler() notify.Handler {
	return notify.Handler{
		Deltas: func(b []booking.AvailabilityDelta) {
			c.mu.Lock()
			c.deltas = append(c.deltas, b...)
			c.mu.Unlock()
		},
		Lost: func() {
			c.mu.Lock()
			c.lost++
			c.mu.Unlock()
		},
	}
}

func (c *collector) get() ([]booking.AvailabilityDelta, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]booking.AvailabilityDelta(nil), c.deltas...), c.lost
}

// within is how long a test waits for the bus to deliver.
const within = 5 * time.Second

// day0 is the first night the tests use (the API refuses years before 2000).
var day0 = booking.DateOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))

func night(d booking.Date, booked int32) booking.NightView {
	return booking.NightView{Date: day0 + d, Total: 10, Booked: booked, Available: 10 - booked}
}

func delta(rt string, prev int64, n ...booking.NightView) booking.AvailabilityDelta {
	return booking.AvailabilityDelta{Tenant: "t", Property: "p", RoomType: rt, PrevSeq: prev, Seq: prev + 1, Nights: n, At: time.Now()}
}

// lastSeqs checks that the deltas of each room type form one chain from 0
// and returns where each chain ends.
func lastSeqs(t *testing.T, ds []booking.AvailabilityDelta) map[string]int64 {
	t.Helper()
	last := map[string]int64{}
	for _, d := range ds {
		if d.PrevSeq != last[d.RoomType] {
			t.Fatalf("room type %s: delta %d→%d after %d: chain broken", d.RoomType, d.PrevSeq, d.Seq, last[d.RoomType])
		}
		last[d.RoomType] = d.Seq
	}
	return last
}

func TestMergeNightsLatestWins(t *testing.T) {
	a := []booking.NightView{night(1, 1), night(3, 1)}
	b := []booking.NightView{night(2, 2), night(3, 2), night(4, 2)}
	got := notify.MergeNights(a, b)
	want := []booking.NightView{night(1, 1), night(2, 2), night(3, 2), night(4, 2)}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("night %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	if a[1].Booked != 1 {
		t.Fatal("input modified")
	}
}

// TestLocalDeliversEveryChangeChained: a burst from two room types reaches
// a subscriber as unbroken chains with the latest counts, coalesced or not.
func TestLocalDeliversEveryChangeChained(t *testing.T) {
	bus := notify.NewLocal(notify.LocalOptions{})
	defer bus.Close()
	var c collector
	cancel := bus.Subscribe(c.handler())
	defer cancel()
	for i := range int64(1000) {
		bus.Publish(delta("a", i, night(booking.Date(i%7), int32(i))))
		bus.Publish(delta("b", i, night(5, int32(i))))
	}
	poll.Eventually(t, within, "both chains at 1000", func() bool {
		ds, _ := c.get()
		return len(ds) > 0 && ds[len(ds)-1].Seq == 1000 && lastSeqs(t, ds)["a"] == 1000 && lastSeqs(t, ds)["b"] == 1000
	})
	ds, _ := c.get()
	latest := map[booking.Date]int32{}
	for _, d := range ds {
		if d.RoomType == "a" {
			for _, n := range d.Nights {
				latest[n.Date] = n.Booked
			}
		}
	}
	for d := range booking.Date(7) {
		want := int32(999 - (999-int64(d))%7) // last i with i%7 == d
		if latest[day0+d] != want {
			t.Errorf("night %d: latest booked %d, want %d", d, latest[day0+d], want)
		}
	}
	st := bus.Stats()
	if st.Published != 2000 || st.Dropped != 0 || st.Delivered+st.Coalesced != 2000 {
		t.Errorf("stats %+v", st)
	}
}

// TestLocalNeverBlocksAndCountsDrops: with a tiny queue and a stuck
// subscriber, Publish still returns at once; what does not fit is dropped
// and counted, and a gap is never merged away.
func TestLocalNeverBlocksAndCountsDrops(t *testing.T) {
	bus := notify.NewLocal(notify.LocalOptions{QueueLimit: 4})
	defer bus.Close()
	release := make(chan struct{})
	var once sync.Once
	cancel := bus.Subscribe(notify.Handler{Deltas: func([]booking.AvailabilityDelta) { once.Do(func() { <-release }) }})
	defer cancel()
	bus.Publish(delta("x", 0))
	poll.Eventually(t, within, "the subscriber to be stuck", func() bool { return bus.Stats().Delivered == 0 && bus.Stats().Published == 1 })
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	for i := range 100 {
		bus.Publish(delta("rt"+string(rune('a'+i%26))+string(rune('a'+i/26)), 0))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("100 publishes took %v while the subscriber was stuck", d)
	}
	close(release)
	poll.Eventually(t, within, "drops counted", func() bool { st := bus.Stats(); return st.Dropped >= 95 })
}

func TestLocalCloseStopsAndDrops(t *testing.T) {
	bus := notify.NewLocal(notify.LocalOptions{})
	if err := bus.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = bus.Close()
	_ = bus.Close()
	bus.Publish(delta("a", 0))
	if bus.Stats().Dropped != 1 {
		t.Error("publish after close not counted as dropped")
	}
	if bus.Check(context.Background()) == nil {
		t.Error("closed bus passes its check")
	}
}

func newRedisBus(t *testing.T, url, prefix string) *notify.Redis {
	t.Helper()
	b, err := notify.NewRedis(url, notify.RedisOptions{Prefix: prefix, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	poll.Eventually(t, within, "the bus to subscribe", func() bool { return b.Check(context.Background()) == nil })
	return b
}

// TestRedisCrossesNodes: what one node publishes reaches the other node's
// subscribers once, chained, and its own subscribers once.
func TestRedisCrossesNodes(t *testing.T) {
	url, prefix := redistest.URL(t), redistest.Prefix()
	a, b := newRedisBus(t, url, prefix), newRedisBus(t, url, prefix)
	var ca, cb collector
	defer a.Subscribe(ca.handler())()
	defer b.Subscribe(cb.handler())()
	for i := range int64(200) {
		a.Publish(delta("dlx", i, night(booking.Date(100+i%30), int32(i))))
	}
	for _, c := range []*collector{&ca, &cb} {
		poll.Eventually(t, within, "200 deltas on both nodes", func() bool {
			ds, _ := c.get()
			return len(ds) > 0 && ds[len(ds)-1].Seq == 200
		})
		ds, _ := c.get()
		lastSeqs(t, ds)
	}
	if st := b.Stats(); st.Received == 0 || st.Published != 0 {
		t.Errorf("node b stats %+v", st)
	}
	if st := a.Stats(); st.Sent+st.Coalesced < 200 || st.Dropped != 0 {
		t.Errorf("node a stats %+v", st)
	}
}

// TestRedisClaimOnceAcrossNodes: an id claimed on one node cannot be claimed
// on another.
func TestRedisClaimOnceAcrossNodes(t *testing.T) {
	url, prefix := redistest.URL(t), redistest.Prefix()
	a, b := newRedisBus(t, url, prefix), newRedisBus(t, url, prefix)
	ctx := context.Background()
	if ok, err := a.ClaimOnce(ctx, "tok1", time.Minute); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := b.ClaimOnce(ctx, "tok1", time.Minute); err != nil || ok {
		t.Fatalf("second claim on the other node: %v %v", ok, err)
	}
}

// TestRedisDownDoesNotBlock: with no Redis at the address, Publish returns
// at once, this node's subscribers still get every delta, the ones for
// other nodes are dropped and counted, and Check fails.
func TestRedisDownDoesNotBlock(t *testing.T) {
	b, err := notify.NewRedis("redis://127.0.0.1:1/0", notify.RedisOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var c collector
	defer b.Subscribe(c.handler())()
	start := time.Now()
	for i := range int64(500) {
		b.Publish(delta("dlx", i, night(1, int32(i))))
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("500 publishes with Redis down took %v", d)
	}
	poll.Eventually(t, within, "local delivery", func() bool {
		ds, _ := c.get()
		return len(ds) > 0 && ds[len(ds)-1].Seq == 500
	})
	ds, _ := c.get()
	lastSeqs(t, ds)
	poll.Eventually(t, within, "drops counted", func() bool { return b.Stats().Dropped > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Check(ctx); err == nil {
		t.Error("check passes with Redis down")
	}
	if _, err := b.ClaimOnce(ctx, "x", time.Minute); err == nil {
		t.Error("claim succeeds with Redis down")
	}
}

// TestRedisReconnectReportsLoss: when the subscription's connection is
// killed, the bus reconnects and tells subscribers deltas may be lost.
func TestRedisReconnectReportsLoss(t *testing.T) {
	url, prefix := redistest.URL(t), redistest.Prefix()
	a, b := newRedisBus(t, url, prefix), newRedisBus(t, url, prefix)
	var cb collector
	defer b.Subscribe(cb.handler())()
	killClients(t, url, "pubsub")
	poll.Eventually(t, within, "loss reported after reconnection", func() bool { _, lost := cb.get(); return lost > 0 })
	poll.Eventually(t, within, "check passes again", func() bool { return b.Check(context.Background()) == nil })
	a.Publish(delta("dlx", 0))
	poll.Eventually(t, within, "delta after reconnection", func() bool { ds, _ := cb.get(); return len(ds) == 1 })
}
