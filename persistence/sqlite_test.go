package persistence_test

import (
	"context"
	"testing"

	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/storetest"
)

// newSQLite returns a migrated store on a fresh file under t.TempDir().
func newSQLite(t testing.TB) persistence.Store {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := persistence.MigrateUp(ctx, "", dir); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	s, err := persistence.Open(ctx, "", dir)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sqlite: %v", err)
		}
	})
	return s
}

func TestSQLiteStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store { return newSQLite(t) })
}
