package loadtest_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/storetest"
)

// realServer is a whole Staylock server in this process, wired as
// cmd/staylock/serve.go wires it: an embedded SQLite store in a temporary
// folder, a one-node cluster and the gateway, served on a loopback port.
type realServer struct {
	URL string
	Key string // an admin key of tenant "loadtest"
}

// MustStartServer starts a real server for the test; it stops at cleanup.
func MustStartServer(t *testing.T) realServer {
	t.Helper()
	store := storetest.MustOpen(t, "")
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	// The delta bus, as serve.go wires it without REDIS_URL, so that the
	// stream (the dashboard scenario) gets every commit.
	bus := notify.NewLocal(notify.LocalOptions{})
	node, err := cluster.Start(store, cluster.Options{Logger: log,
		Actor: actors.Options{GroupCommit: true, MaxBatch: 256, SnapshotEvery: 1000, IdempotencyTTL: persistence.DefaultIdempotencyTTL,
			OnCommit: bus.Publish}})
	if err != nil {
		_ = bus.Close()
		t.Fatalf("start cluster: %v", err)
	}
	srv := gateway.New(store, actors.NewCoordinator(node, store, node.RequestTimeout(), log), log, gateway.Options{Version: "loadtest-test", Local: true,
		Stream: gateway.StreamOptions{Bus: bus, SigningKey: []byte("loadtest-test-signing-key-32-bytes!")}})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		node.Shutdown(false)
		_ = bus.Close()
	})

	ctx := context.Background()
	const tenant = "loadtest"
	if _, err := store.EnsureTenant(ctx, tenant); err != nil {
		t.Fatalf("ensure tenant: %v", err)
	}
	id, secret, hash := auth.NewAPIKey()
	if err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: tenant, Role: booking.RoleAdmin,
		Name: "loadtest", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatalf("create key: %v", err)
	}
	return realServer{URL: hs.URL, Key: secret}
}
