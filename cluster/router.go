package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// router finds the activation of an identity and sends it one request, with
// the caller's deadline and nothing hidden: no retries, no shared mutable
// call options. It follows the cluster topology itself (the same rendezvous
// hashing as protoactor's disthash lookup, whose placement actor still
// activates the actors), so that a lookup is bounded by the caller's
// context instead of disthash's fixed 5 s, and so that a call waiting on a
// member that leaves, or on an activation that stops, learns it at once.
type router struct {
	system     *actor.ActorSystem
	log        *zap.Logger
	m          *metrics
	onSelfLeft func() // this node was removed from its own view

	mu        sync.RWMutex
	rdv       *protocluster.Rendezvous
	members   map[string]*protocluster.Member // by address
	gone      map[string]chan struct{}        // by address: closed when that member leaves
	wasMember bool

	pids sync.Map // identity → *actor.PID

	wmu      sync.Mutex
	watchers map[string]*pidWatch // by PID key: closed when that activation stops
}

type pidWatch struct {
	ch   chan struct{}
	refs int
}

func newRouter(system *actor.ActorSystem, log *zap.Logger, m *metrics) *router {
	r := &router{system: system, log: log, m: m, rdv: protocluster.NewRendezvous(),
		members: map[string]*protocluster.Member{}, gone: map[string]chan struct{}{}, watchers: map[string]*pidWatch{}}
	system.EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *protocluster.ClusterTopology:
			r.onTopology(e)
		case *protocluster.ActivationTerminated:
			r.onTerminated(e.GetPid(), e.GetClusterIdentity())
		}
	})
	return r
}

func pidKey(p *actor.PID) string { return p.GetAddress() + "/" + p.GetId() }

// onTopology follows a membership change. It runs on the goroutine that
// publishes the topology, under the member list's lock.
func (r *router) onTopology(t *protocluster.ClusterTopology) {
	rdv := protocluster.NewRendezvous()
	rdv.UpdateMembers(t.Members)
	members := make(map[string]*protocluster.Member, len(t.Members))
	for _, m := range t.Members {
		members[m.Address()] = m
	}
	r.mu.Lock()
	r.rdv = rdv
	r.members = members
	selfIn := false
	if _, ok := members[r.system.Address()]; ok {
		selfIn = true
	}
	for addr := range members {
		if _, ok := r.gone[addr]; !ok {
			r.gone[addr] = make(chan struct{})
		}
	}
	var left []string
	for addr, ch := range r.gone {
		if _, ok := members[addr]; !ok {
			close(ch)
			delete(r.gone, addr)
			left = append(left, addr)
		}
	}
	selfLeft := r.wasMember && !selfIn
	r.wasMember = r.wasMember || selfIn
	r.mu.Unlock()
	r.m.members.Set(float64(len(members)))
	for _, addr := range left {
		r.forgetAddress(addr)
	}
	if len(left) > 0 || len(t.Joined) > 0 {
		r.log.Info("cluster topology changed", zap.Int("members", len(members)),
			zap.Int("joined", len(t.Joined)), zap.Strings("left", left))
	}
	if selfLeft && r.onSelfLeft != nil {
		r.onSelfLeft()
	}
}

// forgetAddress drops cached PIDs of a member that left: its identities are
// owned by others now. (Ownership also moves on joins: those PIDs stay
// valid until their activation passivates, and a stale one answers
// dead letter or "moving", which the client retries.)
func (r *router) forgetAddress(addr string) {
	r.pids.Range(func(k, v any) bool {
		if v.(*actor.PID).GetAddress() == addr {
			r.pids.CompareAndDelete(k, v)
		}
		return true
	})
}

func (r *router) onTerminated(pid *actor.PID, ci *protocluster.ClusterIdentity) {
	if pid == nil {
		return
	}
	if ci != nil {
		if v, ok := r.pids.Load(ci.Identity); ok && v.(*actor.PID).Equal(pid) {
			r.pids.CompareAndDelete(ci.Identity, v)
		}
	}
	r.wmu.Lock()
	if w, ok := r.watchers[pidKey(pid)]; ok {
		close(w.ch)
		delete(r.watchers, pidKey(pid))
	}
	r.wmu.Unlock()
}

// forget drops the cached PID of identity when it still is pid.
func (r *router) forget(identity string, pid *actor.PID) {
	if v, ok := r.pids.Load(identity); ok && v.(*actor.PID).Equal(pid) {
		r.pids.CompareAndDelete(identity, v)
	}
}

// memberCount is the number of members in this node's view.
func (r *router) memberCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.members)
}

func (r *router) hasMember(addr string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.members[addr]
	return ok
}

// Outcomes of one request that did not bring an answer.
var (
	errNoOwner    = errors.New("no cluster member hosts this kind")
	errDeadLetter = errors.New("not delivered (dead letter)")
	errGone       = errors.New("the member or activation went away while the request was pending")
	errNotMember  = errors.New("the target is not a cluster member (not sent)")
	errTimedOut   = errors.New("no answer before the deadline")
)

// lookup returns the activation of identity, activating it on its owner when
// needed, within timeout.
func (r *router) lookup(ctx context.Context, identity, kind string, timeout time.Duration) (*actor.PID, error) {
	if v, ok := r.pids.Load(identity); ok {
		return v.(*actor.PID), nil
	}
	ci := protocluster.NewClusterIdentity(identity, kind)
	r.mu.RLock()
	owner := r.rdv.GetByClusterIdentity(ci)
	r.mu.RUnlock()
	if owner == "" {
		return nil, errNoOwner
	}
	res, err := r.request(ctx, actor.NewPID(owner, disthash.PartitionActivatorActorName),
		&protocluster.ActivationRequest{ClusterIdentity: ci}, timeout)
	if err != nil {
		return nil, err
	}
	resp, ok := res.(*protocluster.ActivationResponse)
	if !ok || resp.GetFailed() || resp.GetPid() == nil {
		return nil, errDeadLetter // the owner could not activate it (yet): nothing happened
	}
	pid := resp.GetPid()
	if !r.hasMember(pid.GetAddress()) {
		return nil, errNotMember // the owner left meanwhile; nothing was sent to it
	}
	r.pids.Store(identity, pid)
	return pid, nil
}

// Every message the router sends is a proto.Message: protoactor drops a
// plain Go value sent to another node without a word (the caller would
// just time out), so the type system refuses one here.

// request sends msg to pid, on a member, and waits for one answer, until
// timeout, ctx, or the target going away (its member leaving, or, for an
// activation, its stopping). Errors: errNotMember and errDeadLetter
// (provably not delivered), errGone (may or may not have been acted on),
// errTimedOut, or ctx.Err().
func (r *router) request(ctx context.Context, pid *actor.PID, msg proto.Message, timeout time.Duration) (any, error) {
	r.mu.RLock()
	gone, member := r.gone[pid.GetAddress()]
	r.mu.RUnlock()
	if !member {
		if pid.GetAddress() != r.system.Address() {
			return nil, errNotMember
		}
		gone = nil // our own address before our first topology: wait on the rest
	}
	w := r.watch(pid)
	defer r.unwatch(pid, w)
	return r.await(ctx, pid, msg, timeout, gone, w.ch)
}

// probe sends msg to pid, member or not, and waits for one answer until
// timeout or ctx.
func (r *router) probe(ctx context.Context, pid *actor.PID, msg proto.Message, timeout time.Duration) (any, error) {
	return r.await(ctx, pid, msg, timeout, nil, nil)
}

func (r *router) await(ctx context.Context, pid *actor.PID, msg proto.Message, timeout time.Duration, gone, stopped <-chan struct{}) (any, error) {
	rp := &replyProcess{ch: make(chan any, 1)}
	reply, ok := r.system.ProcessRegistry.Add(rp, "$call"+r.system.ProcessRegistry.NextId())
	if !ok {
		return nil, errors.New("register reply process: id taken")
	}
	defer r.system.ProcessRegistry.Remove(reply)
	r.system.Root.RequestWithCustomSender(pid, msg, reply)

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-rp.ch:
		return answer(m)
	case <-timer.C:
		return nil, errTimedOut
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-gone:
	case <-stopped:
	}
	// An answer sent before the member left or the activation stopped
	// arrives before that news: take it if it is there.
	select {
	case m := <-rp.ch:
		return answer(m)
	default:
		return nil, errGone
	}
}

func answer(m any) (any, error) {
	if _, ok := m.(*actor.DeadLetterResponse); ok {
		return nil, errDeadLetter
	}
	return m, nil
}

func (r *router) watch(pid *actor.PID) *pidWatch {
	k := pidKey(pid)
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w, ok := r.watchers[k]
	if !ok {
		w = &pidWatch{ch: make(chan struct{})}
		r.watchers[k] = w
	}
	w.refs++
	return w
}

func (r *router) unwatch(pid *actor.PID, w *pidWatch) {
	k := pidKey(pid)
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.watchers[k] == w {
		if w.refs--; w.refs <= 0 {
			delete(r.watchers, k)
		}
	}
}

// replyProcess receives the one answer of a request into a channel (a
// future the caller can select on together with its context).
type replyProcess struct{ ch chan any }

func (p *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	select {
	case p.ch <- msg:
	default: // a second answer: nobody waits for it
	}
}

func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}
func (p *replyProcess) Stop(*actor.PID)                   {}

// owner is the address of the member that owns identity in this view.
func (r *router) owner(identity, kind string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rdv.GetByClusterIdentity(protocluster.NewClusterIdentity(identity, kind))
}
