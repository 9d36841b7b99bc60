// Package cluster starts Staylock's protoactor-go cluster (the inventory
// kind, an identity lookup and a membership provider) and offers the one
// typed client through which the gateway reaches the actors.
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
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/persistence"
)

// Options configure a node.
type Options struct {
	// Provider is the membership provider: "local" (one member) for now.
	Provider string
	// Bind is host:port for the actor transport; port 0 picks a free one.
	Bind string
	// RequestTimeout bounds one actor call when the caller's context has
	// no earlier deadline.
	RequestTimeout time.Duration
	Actor          actors.Options
	Logger         *zap.Logger
}

// Node is one running cluster member with its client.
type Node struct {
	*Client
	system  *actor.ActorSystem
	cluster *protocluster.Cluster
	stopped atomic.Bool
}

// Start starts a cluster member hosting the inventory kind.
func Start(store persistence.Store, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.Provider == "" {
		opts.Provider = "local"
	}
	if opts.Provider != "local" {
		return nil, fmt.Errorf("cluster provider %q is not available in this build; use local", opts.Provider)
	}
	if opts.Bind == "" {
		opts.Bind = "127.0.0.1:0"
	}
	host, portText, err := net.SplitHostPort(opts.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster bind %q: %w", opts.Bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster bind port %q: %w", portText, err)
	}
	opts.Actor.Logger = opts.Logger
	// protoactor logs through slog; route it into our zap logger, quieter.
	slogger := slog.New(zapslog.NewHandler(opts.Logger.Core().With([]zapcore.Field{zap.String("component", "protoactor")}),
		zapslog.WithName("protoactor")))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }))
	provider := test.NewTestProvider(test.NewInMemAgent())
	kind := protocluster.NewKind(actors.Kind, actors.Props(store, opts.Actor))
	cfg := protocluster.Configure("staylock", provider, disthash.New(),
		remote.Configure(host, port), protocluster.WithKinds(kind),
		protocluster.WithRequestTimeout(opts.RequestTimeout))
	c := protocluster.New(system, cfg)
	c.StartMember()
	n := &Node{system: system, cluster: c}
	n.Client = &Client{store: store, system: system, cluster: c, timeout: opts.RequestTimeout,
		log: opts.Logger, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }, ready: n.ready}
	return n, nil
}

func (n *Node) ready(context.Context) error {
	if n.stopped.Load() {
		return errors.New("actor system stopped")
	}
	if n.cluster.MemberList.Length() == 0 {
		return errors.New("no cluster member")
	}
	return nil
}

// Shutdown leaves the cluster and stops the actors. Callers stop HTTP intake
// and wait for in-flight requests first, so no acknowledged change is lost.
func (n *Node) Shutdown(graceful bool) {
	if n.stopped.Swap(true) {
		return
	}
	n.cluster.Shutdown(graceful)
}
