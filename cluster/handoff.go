package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
)

// handoffActorName is the actor every member runs to tell a new owner when
// its own activation of an identity has stopped.
const handoffActorName = "staylock-handoff"

// handoff makes a move of a room type from one member to another (a member
// joins or leaves, views converge at different moments) hand over instead of
// overlap. Before a new activation loads its state, it asks every other
// member whether it still runs that identity, and waits until those
// activations have stopped: each stops only after answering what it took,
// its last commit included, so the new one loads every acknowledged change
// and serves reads that see them. Without this the new activation could
// load just before the old one's last commit and answer reads from a state
// that misses it (writes would still be fenced).
//
// A member that does not answer (dead, paused) is not waited for beyond the
// timeout: then the store's fence is what protects the writes, and an
// evicted member refuses to serve.
type handoff struct {
	r       *router
	m       *metrics
	timeout time.Duration
	log     *zap.Logger
	active  sync.Map // identity → *localActivation
}

// localActivation is one running activation on this member.
type localActivation struct {
	pid  *actor.PID
	done chan struct{} // closed when it stops
}

func newHandoff(r *router, m *metrics, timeout time.Duration, log *zap.Logger) *handoff {
	return &handoff{r: r, m: m, timeout: timeout, log: log}
}

// start spawns the responder.
func (h *handoff) start(sys *actor.ActorSystem) error {
	_, err := sys.Root.SpawnNamed(actor.PropsFromFunc(h.answer), handoffActorName)
	return err
}

// answer replies to a *ClusterIdentity query once no local activation of it
// runs (at once when none does).
func (h *handoff) answer(ctx actor.Context) {
	ci, ok := ctx.Message().(*protocluster.ClusterIdentity)
	if !ok || ctx.Sender() == nil {
		return
	}
	v, running := h.active.Load(ci.Identity)
	if !running {
		ctx.Respond(ci)
		return
	}
	sys, to, timeout := ctx.ActorSystem(), ctx.Sender(), h.timeout
	go func() {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-v.(*localActivation).done:
		case <-t.C:
		}
		sys.Root.Send(to, ci)
	}()
}

// beforeStart waits until no other member runs identity (bounded).
func (h *handoff) beforeStart(ci *protocluster.ClusterIdentity) {
	self := h.r.system.Address()
	h.r.mu.RLock()
	var others []string
	for addr := range h.r.members {
		if addr != self {
			others = append(others, addr)
		}
	}
	h.r.mu.RUnlock()
	if len(others) == 0 {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout+500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, addr := range others {
		wg.Go(func() {
			_, _ = h.r.request(ctx, actor.NewPID(addr, handoffActorName), ci, h.timeout+500*time.Millisecond)
		})
	}
	wg.Wait()
	if d := time.Since(start); d > 50*time.Millisecond {
		h.log.Info("activation waited for the previous owner to hand over", zap.String("identity", ci.Identity), zap.Duration("waited", d))
	}
}

// started records a running local activation; stopped ends it.
func (h *handoff) started(identity string, pid *actor.PID) {
	if old, loaded := h.active.Swap(identity, &localActivation{pid: pid, done: make(chan struct{})}); loaded {
		close(old.(*localActivation).done) // cannot happen: one placement per node
	} else {
		h.m.actors.Inc()
	}
}

func (h *handoff) stopped(identity string, pid *actor.PID) {
	if v, ok := h.active.Load(identity); ok && v.(*localActivation).pid.Equal(pid) {
		if h.active.CompareAndDelete(identity, v) {
			close(v.(*localActivation).done)
			h.m.actors.Dec()
		}
	}
}

// identityOf is the cluster identity of an activation (nil outside a
// cluster: protoactor's getter panics then).
func identityOf(c actor.ReceiverContext) (ci *protocluster.ClusterIdentity) {
	defer func() {
		if recover() != nil {
			ci = nil
		}
	}()
	return protocluster.GetClusterIdentity(c)
}
