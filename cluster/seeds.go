package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
)

// seedsActorName is the actor every member runs to answer its peers' probes.
const seedsActorName = "staylock-seeds"

// seedsProvider is membership from a static peer list: every node lists the
// same peers (their CLUSTER_BIND addresses, itself included), probes each
// of the others over the actor transport itself, and counts as members
// itself and the peers that answered within DeadAfter.
//
// Why not protoactor's automanaged provider, which takes a host list too:
//   - it serves its health endpoint on 0.0.0.0 on a second port, so every
//     node needs one more port, and it listens on every interface whatever
//     CLUSTER_BIND says;
//   - one failed probe (a 2 s HTTP timeout) drops a member, and protoactor
//     blocks a dropped member id for good: a GC pause or a lost packet
//     evicts a healthy node until it restarts;
//   - its state is guarded by package-level mutexes shared by every
//     instance, with unguarded fields besides, and it brings in an old web
//     framework.
//
// Probes are protobuf messages protoactor already has: a *cluster.Member
// (the prober) asks, and a *cluster.ClusterTopology answers with the
// responder's view (Members, the responder first), Blocked set to the
// prober's id when the responder has evicted it (so an evicted node learns
// it, and restarts), and Left set to the responder when it is leaving.
type seedsProvider struct {
	seeds     []string // every node's address, self included
	interval  time.Duration
	timeout   time.Duration
	deadAfter time.Duration
	log       *zap.Logger
	g         *guard
	onEvicted func(error)

	c       *protocluster.Cluster
	r       *router
	self    *protocluster.Member
	pid     *actor.PID
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup

	mu      sync.Mutex
	leaving bool
	peers   map[string]*peer // by address
	pubMu   sync.Mutex       // one view published at a time, in order
}

type peer struct {
	member   *protocluster.Member // as it last described itself
	lastOK   time.Time
	failures int // probes failed since lastOK
	leaving  bool
	seesUs   bool // its last answer listed us as a member
}

// minFailures is how many probes in a row must fail, besides DeadAfter of
// silence, before a peer is dropped: after this node was itself paused, its
// peers look silent although nobody probed them meanwhile.
const minFailures = 2

func newSeedsProvider(seeds []string, t Timing, log *zap.Logger, r *router, g *guard, onEvicted func(error)) *seedsProvider {
	return &seedsProvider{seeds: seeds, interval: t.ProbeInterval, timeout: t.ProbeTimeout, deadAfter: t.DeadAfter,
		log: log, r: r, g: g, onEvicted: onEvicted, stop: make(chan struct{}), peers: map[string]*peer{}}
}

// normalizeAddr makes host:port comparable.
func normalizeAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// StartMember starts answering probes and probing the peers.
func (p *seedsProvider) StartMember(c *protocluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	p.c = c
	p.self = &protocluster.Member{Id: c.ActorSystem.ID, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()}
	selfAddr := p.self.Address()
	if !slices.Contains(p.seeds, selfAddr) {
		return fmt.Errorf("CLUSTER_BIND %s is not in CLUSTER_SEEDS %v: every node lists every node, itself included", selfAddr, p.seeds)
	}
	p.pid, err = c.ActorSystem.Root.SpawnNamed(actor.PropsFromFunc(p.answer), seedsActorName)
	if err != nil {
		return fmt.Errorf("start seeds responder: %w", err)
	}
	p.publish()
	for _, addr := range p.seeds {
		if addr == selfAddr {
			continue
		}
		p.wg.Go(func() { p.probeLoop(addr) })
	}
	p.wg.Go(p.expireLoop)
	return nil
}

func (p *seedsProvider) StartClient(*protocluster.Cluster) error {
	return errors.New("seeds provider: client mode is not supported")
}

// Shutdown stops probing (the responder stops with the actor system).
func (p *seedsProvider) Shutdown(bool) error {
	p.stopped.Do(func() { close(p.stop) })
	p.wg.Wait()
	return nil
}

// answer is the responder actor: one probe, one answer.
func (p *seedsProvider) answer(ctx actor.Context) {
	from, ok := ctx.Message().(*protocluster.Member)
	if !ok {
		return
	}
	p.mu.Lock()
	// An evicted node only says it is gone: its view is stale, and must not
	// make a healthy peer believe it was evicted.
	leaving := p.leaving || p.g.check() != nil
	view := []*protocluster.Member{p.self}
	for _, pe := range p.peers {
		if p.alive(pe) {
			view = append(view, pe.member)
		}
	}
	p.mu.Unlock()
	res := &protocluster.ClusterTopology{Members: view}
	if leaving {
		res.Members, res.Left = nil, []*protocluster.Member{p.self}
	}
	if !leaving && p.c.Remote.BlockList().IsBlocked(from.GetId()) {
		res.Blocked = []string{from.GetId()}
	}
	ctx.Respond(res)
}

// alive tells whether a peer counts as a member; p.mu is held.
func (p *seedsProvider) alive(pe *peer) bool {
	return pe.member != nil && !pe.leaving && (time.Since(pe.lastOK) <= p.deadAfter || pe.failures < minFailures)
}

func (p *seedsProvider) probeLoop(addr string) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.probe(addr)
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *seedsProvider) probe(addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	res, err := p.r.probe(ctx, actor.NewPID(addr, seedsActorName), p.self, p.timeout)
	top, ok := res.(*protocluster.ClusterTopology)
	p.mu.Lock()
	pe := p.peers[addr]
	if pe == nil {
		pe = &peer{}
		p.peers[addr] = pe
	}
	if err != nil || !ok {
		pe.failures++ // silence; DeadAfter and minFailures decide
		p.mu.Unlock()
		return
	}
	if slices.Contains(top.Blocked, p.self.Id) {
		pe.seesUs = false // it has dropped us
		p.mu.Unlock()
		// Only a member's verdict counts: a peer this node has dropped
		// may itself be the stale one.
		if p.r.hasMember(addr) {
			p.onEvicted(fmt.Errorf("peer %s has removed this node from the cluster", addr))
		}
		return
	}
	pe.failures = 0
	switch {
	case len(top.Left) > 0:
		pe.leaving = true
	case len(top.Members) > 0 && top.Members[0].Address() == addr:
		pe.member, pe.lastOK, pe.leaving = top.Members[0], time.Now(), false
		pe.seesUs = slices.ContainsFunc(top.Members, func(m *protocluster.Member) bool { return m.Id == p.self.Id })
	}
	p.mu.Unlock()
	p.publish()
}

// expireLoop drops peers that stopped answering, without waiting for their
// probe to time out.
func (p *seedsProvider) expireLoop() {
	t := time.NewTicker(p.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.publish()
		}
	}
}

// publish hands the current view to the member list (which ignores an
// unchanged one).
func (p *seedsProvider) publish() {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.g.check() != nil {
		return // an evicted node's view stays as it was: it acts on nothing
	}
	p.mu.Lock()
	members := []*protocluster.Member{p.self}
	for _, pe := range p.peers {
		if p.alive(pe) {
			members = append(members, pe.member)
		}
	}
	p.mu.Unlock()
	select {
	case <-p.stop:
		return
	default:
	}
	p.c.MemberList.UpdateClusterTopology(members)
}

// leave makes this node answer "leaving", so peers drop it at their next
// probe, and waits until every peer that answers no longer lists it (or
// ctx ends).
func (p *seedsProvider) leave(ctx context.Context) error {
	p.mu.Lock()
	p.leaving = true
	for _, pe := range p.peers {
		pe.seesUs = true // to be confirmed by a probe made after this point
	}
	p.mu.Unlock()
	t := time.NewTicker(p.interval / 2)
	defer t.Stop()
	for {
		p.mu.Lock()
		waiting := 0
		for _, pe := range p.peers {
			if p.alive(pe) && pe.seesUs {
				waiting++
			}
		}
		p.mu.Unlock()
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d peers still list this node: %w", waiting, ctx.Err())
		case <-t.C:
		}
	}
}

func splitPort(addr string) (host, port string, err error) { return net.SplitHostPort(addr) }
