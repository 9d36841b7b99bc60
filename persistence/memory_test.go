package persistence_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/storetest"
)

// newMemory opens a fresh store through DB_URL=memory://, migrations and all,
// as serve does.
func newMemory(t testing.TB) persistence.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if n, err := persistence.MigrateUp(ctx, persistence.MemoryURL, dir); err != nil || n != 0 {
		t.Fatalf("migrate memory: applied %d, %v; want 0, nil", n, err)
	}
	s, err := persistence.Open(ctx, persistence.MemoryURL, dir)
	if err != nil {
		t.Fatalf("open memory: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close memory: %v", err)
		}
	})
	return s
}

func TestMemoryStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store { return newMemory(t) })
}

func TestMemoryBackendNeedsNoMigrations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"memory://", "MEMORY://"} {
		if got := persistence.Backend(u); got != persistence.BackendMemory {
			t.Fatalf("Backend(%q) = %q, want memory", u, got)
		}
	}
	infos, err := persistence.MigrationStatus(ctx, persistence.MemoryURL, dir)
	if err != nil || len(infos) != 0 {
		t.Fatalf("status: %v %v, want no migrations", infos, err)
	}
	if n, err := persistence.PendingMigrations(ctx, persistence.MemoryURL, dir); err != nil || n != 0 {
		t.Fatalf("pending: %d %v, want 0", n, err)
	}
	if err := persistence.MigrateDown(ctx, persistence.MemoryURL, dir); err == nil {
		t.Fatal("migrate down of the memory store: no error")
	}
	if _, err := persistence.Open(ctx, "memory://x", dir); err == nil {
		t.Fatal("memory://x was accepted")
	}
	// Closed: Ping fails.
	s, err := persistence.Open(ctx, persistence.MemoryURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if s.Ping(ctx) == nil {
		t.Fatal("ping of a closed memory store answered")
	}
}

// BenchmarkMemoryCommitBatch is BenchmarkCommitBatch's serial case on the
// memory store: what a group commit costs without any durability.
func BenchmarkMemoryCommitBatch(b *testing.B) {
	s := newMemory(b)
	var n atomic.Int64
	seq := int64(1)
	for b.Loop() {
		if err := s.CommitBatch(context.Background(), benchBatch("acme/p1/dlx", seq, &n)); err != nil {
			b.Fatal(err)
		}
		seq += benchBatchSize
	}
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "bookings/s")
}
