package cluster

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/actors"
)

func TestGuard_APauseLongerThanTheLimitEvictsForGood(t *testing.T) {
	g := newGuard(200*time.Millisecond, zap.NewNop(), newMetrics(nil))
	g.last.Store(g.mono())
	if err := g.check(); err != nil {
		t.Fatalf("fresh guard: %v", err)
	}
	// The watchdog last ticked a second ago: the process was stopped.
	g.last.Store(g.mono() - int64(time.Second))
	err := g.check()
	if !errors.Is(err, ErrEvicted) {
		t.Fatalf("after a 1 s gap: %v, want ErrEvicted", err)
	}
	select {
	case <-g.done:
	default:
		t.Fatal("Evicted not signalled")
	}
	g.last.Store(g.mono()) // ticking again does not undo it
	if err := g.check(); !errors.Is(err, ErrEvicted) {
		t.Fatalf("eviction did not stick: %v", err)
	}
}

func TestGuard_WithoutALimitOnlyAnExplicitEvictionCounts(t *testing.T) {
	g := newGuard(0, zap.NewNop(), newMetrics(nil))
	g.last.Store(g.mono() - int64(time.Hour))
	if err := g.check(); err != nil {
		t.Fatalf("no pause limit, yet: %v", err)
	}
	g.evict(errors.New("peer said so"))
	g.evict(errors.New("second reason"))
	if err := g.check(); !errors.Is(err, ErrEvicted) || err.Error() != "this node lost its cluster membership: peer said so" {
		t.Fatalf("got %v", err)
	}
}

// TestFromEarlierRelease: the answer of an actor of the release before
// typed commands to one of ours (it reads it as OP_UNSPECIFIED: "unknown
// operation OP_UNSPECIFIED", invalid_request) is retried as not committed;
// an invalid request of this release is not.
func TestFromEarlierRelease(t *testing.T) {
	for _, c := range []struct {
		r    *actors.Reply
		want bool
	}{
		{&actors.Reply{Code: "invalid_request", Message: "unknown operation OP_UNSPECIFIED"}, true},
		{&actors.Reply{Code: "invalid_request", Message: "bad stays"}, false},
		{&actors.Reply{Code: "sold_out", Message: "unknown operation OP_UNSPECIFIED"}, false},
		{&actors.Reply{}, false},
	} {
		if got := fromEarlierRelease(c.r); got != c.want {
			t.Errorf("fromEarlierRelease(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}
