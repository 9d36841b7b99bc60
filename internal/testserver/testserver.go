// Package testserver runs a whole Staylock node in-process for tests: a
// real store (Postgres or SQLite), the real actors and the real gateway
// behind an httptest server. It is wired like `staylock serve`.
package testserver

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
	"github.com/staylock/staylock/persistence/storetest"
)

// Server is one in-process node.
type Server struct {
	URL     string
	Bus     notify.Bus
	Store   persistence.Store
	Gateway *gateway.Server
	Node    *cluster.Node
	Engine  *actors.Coordinator
	HTTP    *httptest.Server
}

// Options tune the node; zero values are the production defaults.
type Options struct {
	Gateway gateway.Options
	Actor   actors.Options
	// Bus carries the actors' deltas to the stream hub. nil: a Redis bus
	// when RedisURL is set (with RedisPrefix, as notify.RedisOptions.Prefix),
	// else an in-process one; either is closed when the test ends.
	Bus         notify.Bus
	RedisURL    string
	RedisPrefix string
}

// Backends runs f once on a fresh Postgres database and once on a fresh
// SQLite file; dbURL is "" for SQLite.
func Backends(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.NewDatabase(t)) })
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
}

// Start migrates the database and starts a node on it; everything stops
// when the test ends.
func Start(t testing.TB, dbURL string, opts Options) *Server {
	t.Helper()
	store := storetest.MustOpen(t, dbURL) // closed after the cleanup below
	bus := opts.Bus
	switch {
	case bus != nil:
	case opts.RedisURL != "":
		rb, err := notify.NewRedis(opts.RedisURL, notify.RedisOptions{Prefix: opts.RedisPrefix})
		if err != nil {
			t.Fatalf("redis bus: %v", err)
		}
		bus = rb
		if opts.Gateway.Stream.Once == nil {
			opts.Gateway.Stream.Once = rb
		}
	default:
		bus = notify.NewLocal(notify.LocalOptions{})
	}
	opts.Actor.GroupCommit = true
	if opts.Actor.OnCommit == nil {
		opts.Actor.OnCommit = bus.Publish
	}
	node, err := cluster.Start(store, cluster.Options{Actor: opts.Actor, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	engine := actors.NewCoordinator(node, store, node.RequestTimeout(), zap.NewNop())
	// The listener first, so that the page's origin can be allowed.
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	if opts.Gateway.Stream.Bus == nil {
		opts.Gateway.Stream.Bus = bus
	}
	opts.Gateway.Stream.AllowedOrigins = append(opts.Gateway.Stream.AllowedOrigins, url)
	gw := gateway.New(store, engine, zap.NewNop(), opts.Gateway)
	gw.AddSoftCheck("bus", bus.Check)
	hs.Config.Handler = gw.Handler()
	hs.Start()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		gw.Watch(watchCtx, "testserver "+url)
	}()
	t.Cleanup(func() {
		hs.Close()
		gw.Close()
		stopWatch()
		<-watched
		node.Shutdown(false)
		if opts.Bus == nil {
			_ = bus.Close()
		}
	})
	return &Server{URL: hs.URL, Bus: bus, Store: store, Gateway: gw, Node: node, Engine: engine, HTTP: hs}
}

// MustKey creates an API key (and its tenant when new) and returns the secret.
func (s *Server) MustKey(t testing.TB, tenant string, role booking.Role) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Store.EnsureTenant(ctx, tenant); err != nil {
		t.Fatalf("tenant: %v", err)
	}
	id, secret, hash := auth.NewAPIKey()
	if err := s.Store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: tenant, Role: role, Name: "test",
		Hash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatalf("key: %v", err)
	}
	return secret
}
