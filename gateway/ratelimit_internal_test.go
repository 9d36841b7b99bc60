package gateway

import (
	"strconv"
	"testing"
	"time"
)

// Full buckets are dropped when the map grows (a full bucket is a new
// one); buckets still refilling are kept.
func TestLocalBucketsStayBounded(t *testing.T) {
	b := newLocalBuckets()
	t0 := time.Unix(1_800_000_000, 0)
	fast := Limit{Rate: 1000, Burst: 2} // full again within 2 ms
	for i := range b.sweepAt - 1 {
		b.allow("k"+strconv.Itoa(i), fast, t0)
	}
	slow := Limit{Rate: 0.001, Burst: 1}
	b.allow("busy", slow, t0) // now one short of a sweep
	if res := b.allow("busy", slow, t0); res.allowed {
		t.Fatal("the busy bucket admitted two requests with a burst of 1")
	}
	later := t0.Add(time.Second)
	b.allow("new", fast, later) // sweeps: every fast bucket is full again
	if _, ok := b.buckets["k0"]; ok {
		t.Error("a full bucket was kept")
	}
	if _, ok := b.buckets["busy"]; !ok {
		t.Error("a bucket that is still refilling was dropped: its client would get a fresh burst")
	}
	if n := len(b.buckets); n != 2 {
		t.Errorf("%d buckets after the sweep, want 2 (busy and new)", n)
	}
	if res := b.allow("busy", slow, later); res.allowed {
		t.Error("the busy bucket admitted a request after the sweep")
	}
}
