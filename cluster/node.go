// Package cluster starts Staylock's protoactor-go cluster (the inventory
// kind, the disthash identity lookup and a membership provider: local,
// seeds, etcd or k8s) and offers the one typed client through which the
// gateway reaches the actors.
//
// Membership is routing, not truth: the store's (actor, seq) fence is what
// keeps a stale activation from committing. On top of it a node that finds
// it lost its membership (paused past its eviction, or told so by a peer)
// refuses all actor work and reports it on Evicted, and the process exits
// so its supervisor restarts it with a fresh member id (protoactor never
// lets an evicted member id back in).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/staylock/staylock/actors"
)

// Providers (Options.Provider; CLUSTER_PROVIDER).
const (
	ProviderLocal = "local"
	ProviderSeeds = "seeds"
	ProviderEtcd  = "etcd"
	ProviderK8s   = "k8s"
)

// DefaultBind is Options.Bind's default (CLUSTER_BIND): loopback, a free
// port.
const DefaultBind = "127.0.0.1:0"

// ClusterName is the protoactor cluster name (and the etcd key prefix).
const ClusterName = "staylock"

// Options configure a node.
type Options struct {
	// Provider is the membership provider: "local" (one member, or the
	// members sharing Agent in one process), "seeds" (Seeds), "etcd"
	// (EtcdEndpoints) or "k8s" (the pods of this cluster, in-cluster).
	Provider string
	// Bind is host:port for the actor transport; port 0 picks a free one
	// (not with seeds: peers dial the address listed in Seeds). Peers reach
	// this node at exactly this address, so it must not be 0.0.0.0.
	Bind string
	// Seeds lists every node's Bind address, this one's included.
	Seeds []string
	// EtcdEndpoints are the etcd servers (host:port or http(s) URLs).
	EtcdEndpoints []string
	// RequestTimeout bounds one actor call when the caller's context has
	// no earlier deadline.
	RequestTimeout time.Duration
	// Timing tunes membership; zero fields take the defaults.
	Timing Timing
	// Registry receives the cluster's metrics (hotel_actor_fenced_total,
	// hotel_cluster_*); nil registers nothing.
	Registry prometheus.Registerer
	Actor    actors.Options
	Logger   *zap.Logger

	// inProcess, set by the multi-member tests (export_test.go), makes the
	// local provider one shared by the members of this process.
	inProcess func() protocluster.ClusterProvider
}

// Timing tunes failure detection and leaving.
type Timing struct {
	// ProbeInterval (seeds): how often each peer is probed. Default 250ms.
	ProbeInterval time.Duration
	// ProbeTimeout (seeds): how long one probe waits. Default 750ms.
	ProbeTimeout time.Duration
	// DeadAfter (seeds): a peer silent for this long is evicted. Default 3s.
	DeadAfter time.Duration
	// PauseLimit: a node that finds its own clock jumped by more than this
	// between two ticks of its watchdog (it was stopped, frozen, starved)
	// considers itself evicted. It must stay below the shortest time in
	// which peers could evict it. Default: seeds DeadAfter - ProbeInterval -
	// ProbeTimeout - 100ms, etcd 1.8s (its 3 s lease, refreshed every 1 s),
	// k8s 2s, local off. Negative: off.
	PauseLimit time.Duration
	// DrainTimeout bounds the passivation of one activation (it first
	// answers what it has taken). Default 3s.
	DrainTimeout time.Duration
	// LeaveTimeout bounds a graceful leave. Default 10s.
	LeaveTimeout time.Duration
}

func (t *Timing) defaults(provider string) {
	if t.ProbeInterval <= 0 {
		t.ProbeInterval = 250 * time.Millisecond
	}
	if t.ProbeTimeout <= 0 {
		t.ProbeTimeout = 750 * time.Millisecond
	}
	if t.DeadAfter <= 0 {
		t.DeadAfter = 3 * time.Second
	}
	if t.DrainTimeout <= 0 {
		t.DrainTimeout = 3 * time.Second
	}
	if t.LeaveTimeout <= 0 {
		t.LeaveTimeout = 10 * time.Second
	}
	if t.PauseLimit == 0 {
		switch provider {
		case ProviderSeeds:
			t.PauseLimit = t.DeadAfter - t.ProbeInterval - t.ProbeTimeout - watchdogTick
		case ProviderEtcd:
			t.PauseLimit = 1800 * time.Millisecond
		case ProviderK8s:
			t.PauseLimit = 2 * time.Second
		}
	}
	if t.PauseLimit < 0 {
		t.PauseLimit = 0
	}
}

// watchdogTick is how often the pause watchdog looks at the clock.
const watchdogTick = 100 * time.Millisecond

// Node is one running cluster member with its client.
type Node struct {
	*Client
	opts     Options
	system   *actor.ActorSystem
	cluster  *protocluster.Cluster
	provider protocluster.ClusterProvider
	router   *router
	guard    *guard
	m        *metrics
	log      *zap.Logger
	stop     chan struct{}
	leaving  atomic.Bool
	stopped  atomic.Bool
}

// Start starts a cluster member hosting the inventory kind.
func Start(store actors.Store, opts Options) (n *Node, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.Provider == "" {
		opts.Provider = ProviderLocal
	}
	if opts.Bind == "" {
		opts.Bind = DefaultBind
	}
	opts.Timing.defaults(opts.Provider)
	host, portText, err := net.SplitHostPort(opts.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster bind %q: %w", opts.Bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster bind port %q: %w", portText, err)
	}
	if opts.Provider != ProviderLocal {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return nil, fmt.Errorf("CLUSTER_BIND %q: peers dial this address, so it must name this node's own address, not %q", opts.Bind, host)
		}
	}
	log := opts.Logger
	opts.Actor.Logger = log

	// protoactor logs through slog; route it into our zap logger.
	slogger := slog.New(zapslog.NewHandler(protoactorCore(log).With([]zapcore.Field{zap.String("component", "protoactor")}),
		zapslog.WithName("protoactor")))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }))
	m := newMetrics(opts.Registry)
	g := newGuard(opts.Timing.PauseLimit, log, m)
	rt := newRouter(system, log, m)
	n = &Node{opts: opts, system: system, router: rt, guard: g, m: m, log: log, stop: make(chan struct{})}
	onEvicted := func(reason error) {
		if !n.leaving.Load() && !n.stopped.Load() {
			g.evict(reason)
		}
	}
	rt.onSelfLeft = func() { onEvicted(errors.New("this node is no longer in its own view of the membership")) }

	provider, err := newProvider(opts, log, rt, g, onEvicted)
	if err != nil {
		return nil, err
	}
	n.provider = provider

	ho := newHandoff(rt, m, opts.Timing.DrainTimeout, log)
	drain := newPassivation(g, ho, opts.Timing.DrainTimeout, log)
	props := actors.Props(guardedStore{Store: store, g: g, log: log}, opts.Actor).
		Configure(actor.WithReceiverMiddleware(drain.middleware))
	kind := protocluster.NewKind(actors.Kind, props)
	remoteCfg := remote.Configure(host, port, remote.WithDialOptions(
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		})))
	// One connection attempt per endpoint: messages for a peer that cannot
	// be reached become dead letters (which the client may retry) instead
	// of waiting through protoactor's 5 attempts 2 s apart.
	remoteCfg.MaxRetryCount = 1
	cfg := protocluster.Configure(ClusterName, provider, disthash.New(), remoteCfg,
		protocluster.WithKinds(kind), protocluster.WithRequestTimeout(opts.RequestTimeout))
	c := protocluster.New(system, cfg)
	n.cluster = c

	// StartMember panics when it cannot listen or the provider fails.
	defer func() {
		if r := recover(); r != nil {
			system.Shutdown()
			n, err = nil, fmt.Errorf("start cluster member (%s provider, bind %s): %v", opts.Provider, opts.Bind, r)
		}
	}()
	if err := ho.start(system); err != nil {
		return nil, fmt.Errorf("start handoff responder: %w", err)
	}
	c.StartMember()
	go g.watch(n.stop, watchdogTick)

	n.Client = &Client{keys: store, router: rt, guard: g, m: m, timeout: opts.RequestTimeout, ready: n.ready}
	log.Info("cluster member started", zap.String("provider", opts.Provider), zap.String("address", system.Address()),
		zap.String("member_id", system.ID), zap.Int("members", rt.memberCount()),
		zap.Duration("pause_limit", opts.Timing.PauseLimit))
	return n, nil
}

// protoactorCore is the zap core protoactor's messages go to: the node's
// own, raised to warn unless it logs at debug. protoactor narrates its
// start and stop at info (about 20 lines per start: remote, gossip,
// partitions, topology); our own cluster logs say what an operator needs
// at info, and LOG_LEVEL=debug shows protoactor's story too.
func protoactorCore(log *zap.Logger) zapcore.Core {
	core := log.Core()
	if core.Enabled(zapcore.DebugLevel) || !core.Enabled(zapcore.InfoLevel) {
		return core // debug: everything; warn or error: already quiet enough
	}
	return log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)).Core()
}

func (n *Node) ready(context.Context) error {
	switch {
	case n.stopped.Load():
		return errors.New("actor system stopped")
	case n.leaving.Load():
		return errors.New("leaving the cluster")
	}
	if err := n.guard.check(); err != nil {
		return err
	}
	// In Kubernetes a pod becomes a member only once it is ready.
	if n.opts.Provider != ProviderK8s && n.router.memberCount() == 0 {
		return errors.New("no cluster member")
	}
	return nil
}

// Address is this member's actor address (host:port).
func (n *Node) Address() string { return n.system.Address() }

// Members is the number of members in this node's view.
func (n *Node) Members() int { return n.router.memberCount() }

// Evicted is closed when this node has lost its membership for good: it
// refuses all actor work from then on, and should exit (non-zero) so that
// its supervisor starts a fresh member.
func (n *Node) Evicted() <-chan struct{} { return n.guard.done }

// EvictedErr says why the node was evicted; nil while it was not.
func (n *Node) EvictedErr() error {
	if e := n.guard.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Stats are this node's cluster counters.
type Stats struct {
	FencedByStore   int64 // commits the store's fence refused
	FencedByEvicted int64 // commits refused because the node was evicted
	RefusedEvicted  int64 // actor requests refused because the node was evicted
	RefusedDraining int64 // actor requests refused by passivating activations
}

// Stats reads the counters.
func (n *Node) Stats() Stats {
	read := func(c prometheus.Counter) int64 {
		var d dto.Metric
		_ = c.Write(&d)
		return int64(d.GetCounter().GetValue())
	}
	return Stats{
		FencedByStore:   read(n.m.fenced.WithLabelValues(reasonFence)),
		FencedByEvicted: read(n.m.fenced.WithLabelValues(reasonEvicted)),
		RefusedEvicted:  read(n.m.refused.WithLabelValues(reasonEvicted)),
		RefusedDraining: read(n.m.refused.WithLabelValues(reasonDraining)),
	}
}

// Shutdown stops the member. graceful: leave first (Leave), bounded by the
// leave timeout. Callers stop HTTP intake and wait for their in-flight
// requests first, so no acknowledged change is lost either way.
func (n *Node) Shutdown(graceful bool) {
	if graceful && n.guard.check() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.Timing.LeaveTimeout)
		if err := n.Leave(ctx); err != nil {
			n.log.Warn("graceful leave incomplete", zap.Error(err))
		}
		cancel()
	}
	if n.stopped.Swap(true) {
		return
	}
	close(n.stop)
	if !graceful {
		if sp, ok := n.provider.(*seedsProvider); ok {
			_ = sp.Shutdown(false)
		}
	}
	n.cluster.Shutdown(false)
}

// Leave leaves the cluster gracefully. First every activation here
// passivates after answering what it has taken (its last commit included);
// requests that arrive meanwhile are refused as "not committed" and their
// callers retry. Then the provider deregisters this node and, with seeds,
// waits until the peers confirm they dropped it. Only then can a peer
// activate those room types, so the new activation loads every change the
// old one acknowledged: a handover, not an overlap.
func (n *Node) Leave(ctx context.Context) error {
	if n.leaving.Swap(true) || n.stopped.Load() {
		return nil
	}
	start := time.Now()
	n.cluster.IdentityLookup.Shutdown() // poisons every activation and waits for each (see passivation)
	n.log.Info("actors passivated; leaving the cluster membership", zap.Duration("took", time.Since(start)))
	lstart := time.Now()
	n.cluster.Gossip.SetState(protocluster.GracefullyLeftKey, &emptypb.Empty{})
	var err error
	switch p := n.provider.(type) {
	case *seedsProvider:
		err = p.leave(ctx)
		_ = p.Shutdown(true)
	default:
		if n.opts.Provider != ProviderLocal || n.opts.inProcess != nil {
			err = p.Shutdown(true)
			// The others learn it from etcd's watch, the Kubernetes API or
			// the shared agent: give that a moment before the transport goes.
			settle(ctx, 500*time.Millisecond)
		}
	}
	n.log.Info("left the cluster membership", zap.Duration("took", time.Since(lstart)), zap.Error(err))
	return err
}

func settle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
