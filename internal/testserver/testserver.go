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
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
)

// Server is one in-process node.
type Server struct {
	URL     string
	Store   persistence.Store
	Gateway *gateway.Server
	Node    *cluster.Node
	HTTP    *httptest.Server
}

// Options tune the node; zero values are the production defaults.
type Options struct {
	Gateway gateway.Options
	Actor   actors.Options
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
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := persistence.MigrateUp(ctx, dbURL, dir); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store, err := persistence.Open(ctx, dbURL, dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	opts.Actor.GroupCommit = true
	node, err := cluster.Start(store, cluster.Options{Actor: opts.Actor, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	gw := gateway.New(store, node, zap.NewNop(), opts.Gateway)
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		hs.Close()
		node.Shutdown(false)
		_ = store.Close()
	})
	return &Server{URL: hs.URL, Store: store, Gateway: gw, Node: node, HTTP: hs}
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
