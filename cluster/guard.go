package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// ErrEvicted is wrapped by every refusal of a node that has lost its
// membership: its peers have moved its room types elsewhere, so whatever it
// still holds in memory may be stale.
var ErrEvicted = errors.New("this node lost its cluster membership")

// guard decides whether this node may still act as a member. Membership is
// only routing: the store's fence is what keeps a stale activation from
// committing. The guard adds two things the fence cannot give: a node that
// knows it was evicted stops at once (no stale reads, no doomed writes), and
// a node that finds it was paused for longer than its peers' eviction delay
// treats itself as evicted before it acts on anything (a lease on its own
// monotonic clock: the peers cannot have moved its actors earlier).
type guard struct {
	limit time.Duration // pause limit; 0 = no pause detection
	start time.Time
	last  atomic.Int64 // monotonic nanoseconds since start at the last tick
	err   atomic.Pointer[error]
	done  chan struct{}
	once  sync.Once
	log   *zap.Logger
	m     *metrics
}

func newGuard(limit time.Duration, log *zap.Logger, m *metrics) *guard {
	g := &guard{limit: limit, start: time.Now(), done: make(chan struct{}), log: log, m: m}
	return g
}

func (g *guard) mono() int64 { return int64(time.Since(g.start)) }

// check returns nil while the node may act, else an error wrapping
// ErrEvicted. It reads the last tick before the eviction flag, and the
// watchdog sets the flag before it moves the tick, so a check that runs
// right after a long pause sees one or the other.
func (g *guard) check() error {
	if g.limit > 0 {
		if gap := time.Duration(g.mono() - g.last.Load()); gap > g.limit {
			g.evict(fmt.Errorf("%w: the process was paused for %s (limit %s)", ErrEvicted, gap.Round(time.Millisecond), g.limit))
		}
	}
	if e := g.err.Load(); e != nil {
		return *e
	}
	return nil
}

// evict marks the node evicted for good; the first reason wins.
func (g *guard) evict(reason error) {
	if !errors.Is(reason, ErrEvicted) {
		reason = fmt.Errorf("%w: %w", ErrEvicted, reason)
	}
	g.once.Do(func() {
		g.err.Store(&reason)
		g.m.evicted.Set(1)
		g.log.Error("cluster membership lost: refusing all actor work; this node must restart", zap.Error(reason))
		close(g.done)
	})
}

// watch ticks until stop is closed, detecting pauses.
func (g *guard) watch(stop <-chan struct{}, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := g.mono()
			if g.limit > 0 {
				if gap := time.Duration(now - g.last.Load()); gap > g.limit {
					g.evict(fmt.Errorf("%w: the process was paused for %s (limit %s)", ErrEvicted, gap.Round(time.Millisecond), g.limit))
				}
			}
			g.last.Store(now)
		}
	}
}

// guardedStore is the store the actors write through: it counts fenced
// commits and refuses every commit once the node is evicted (answering
// ErrFenced, so the activation stops exactly as a fenced one does).
type guardedStore struct {
	actors.Store
	g   *guard
	log *zap.Logger
}

func (s guardedStore) CommitBatches(ctx context.Context, bs []persistence.Batch) []error {
	if err := s.g.check(); err != nil {
		errs := make([]error, len(bs))
		for i, b := range bs {
			s.g.m.fenced.WithLabelValues(reasonEvicted).Inc()
			errs[i] = fmt.Errorf("commit %s from seq %d: %w (%w)", b.ActorID, b.FirstSeq, persistence.ErrFenced, err)
		}
		return errs
	}
	errs := s.Store.CommitBatches(ctx, bs)
	for i, err := range errs {
		if errors.Is(err, persistence.ErrFenced) {
			b := bs[i]
			s.g.m.fenced.WithLabelValues(reasonFence).Inc()
			s.log.Warn("actor write refused by the fence: a newer activation owns it",
				zap.String("actor", b.ActorID), zap.Int64("first_seq", b.FirstSeq), zap.Int("events", len(b.Events)))
		}
	}
	return errs
}

// passivation tracks the activations that are passivating.
type passivation struct {
	g        *guard
	h        *handoff
	timeout  time.Duration
	log      *zap.Logger
	draining sync.Map // *actor.PID → struct{}: a passivating activation
}

func newPassivation(g *guard, h *handoff, timeout time.Duration, log *zap.Logger) *passivation {
	return &passivation{g: g, h: h, timeout: timeout, log: log}
}

// middleware wraps every inventory activation:
//   - on an evicted node, a command is refused (not committed: the caller
//     retries on the member that owns it now) and the activation stops;
//   - a request to stop (PoisonPill: the activation moved to another member,
//     it passivates itself, or this node leaves) first lets the activation
//     answer everything it has taken, so that nobody waits for an answer
//     that never comes. New commands are refused, and a barrier (OP_WAKE,
//     which the actor answers only after everything queued before it) is
//     sent; its answer stops the activation, as does the drain timeout;
//   - a new activation first waits for the previous owner's to stop
//     (handoff), so it loads every change that one acknowledged.
func (p *passivation) middleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		self := c.Self()
		switch env.Message.(type) {
		case *actor.Started:
			if ci := identityOf(c); ci != nil {
				p.h.beforeStart(ci)
				p.h.started(ci.Identity, self)
			}
		case *actors.Command:
			if err := p.g.check(); err != nil {
				p.g.m.refused.WithLabelValues(reasonEvicted).Inc()
				refuse(c, env.Sender, "this node lost its cluster membership; retry")
				p.draining.Store(self, struct{}{})
				c.ActorSystem().Root.Stop(self)
				return
			}
			if _, ok := p.draining.Load(self); ok {
				p.g.m.refused.WithLabelValues(reasonDraining).Inc()
				refuse(c, env.Sender, "room type is moving to another cluster member; retry")
				return
			}
		case *actor.PoisonPill:
			if _, already := p.draining.LoadOrStore(self, struct{}{}); already || p.g.check() != nil {
				next(c, env)
				return
			}
			p.barrier(c, next)
			return
		case *actor.Stopped:
			p.draining.Delete(self)
			if ci := identityOf(c); ci != nil {
				p.h.stopped(ci.Identity, self)
			}
		}
		next(c, env)
	}
}

// barrier hands the actor an OP_WAKE whose answer, which comes after every
// answer the actor owes, stops it; the drain timeout stops it regardless.
func (p *passivation) barrier(c actor.ReceiverContext, next actor.ReceiverFunc) {
	sys, self := c.ActorSystem(), c.Self()
	bp := &barrierProcess{stop: func() { sys.Root.Stop(self) }}
	pid, ok := sys.ProcessRegistry.Add(bp, "$drain"+sys.ProcessRegistry.NextId())
	if !ok {
		sys.Root.Stop(self)
		return
	}
	bp.unregister = func() { sys.ProcessRegistry.Remove(pid) }
	time.AfterFunc(p.timeout, func() {
		if bp.fire() {
			p.log.Warn("activation still busy at the drain timeout; stopping it", zap.String("pid", self.Id))
		}
	})
	func() {
		defer func() {
			if r := recover(); r != nil { // an activation that never loaded its state
				bp.fire()
			}
		}()
		next(c, &actor.MessageEnvelope{Message: &actors.Command{Op: &actors.Command_Wake{Wake: &actors.Wake{}}}, Sender: pid})
	}()
}

// barrierProcess receives the barrier's answer and stops the activation.
type barrierProcess struct {
	once       sync.Once
	stop       func()
	unregister func()
}

// fire stops the activation once; true the first time.
func (b *barrierProcess) fire() bool {
	first := false
	b.once.Do(func() {
		first = true
		b.unregister()
		b.stop()
	})
	return first
}

func (b *barrierProcess) SendUserMessage(*actor.PID, any)   { b.fire() }
func (b *barrierProcess) SendSystemMessage(*actor.PID, any) {}
func (b *barrierProcess) Stop(*actor.PID)                   {}

// refuse answers a command that was not acted on: the caller may send it
// again as is.
func refuse(c actor.ReceiverContext, to *actor.PID, msg string) {
	if to == nil {
		return
	}
	c.ActorSystem().Root.Send(to, &actors.Reply{Code: string(booking.CodeUnavailable), Message: msg, NotCommitted: true})
}
