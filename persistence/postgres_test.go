package persistence_test

import (
	"context"
	"testing"

	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
	"github.com/staylock/staylock/persistence/storetest"
)

// newPostgres returns a migrated store on a fresh database, and its URL.
func newPostgres(t testing.TB) (persistence.Store, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	if _, err := persistence.MigrateUp(ctx, url, ""); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	s, err := persistence.Open(ctx, url, "")
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	// Registered after the database's cleanup, so it runs before the drop.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close postgres: %v", err)
		}
	})
	return s, url
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		s, _ := newPostgres(t)
		return s
	})
}
