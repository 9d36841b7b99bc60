package storetest

import (
	"context"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// MustOpen migrates dbURL (a Postgres URL, memory://, or "" for a SQLite
// file in the test's temporary folder) and opens a store on it, closed
// when the test ends.
func MustOpen(t testing.TB, dbURL string) persistence.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := persistence.MigrateUp(ctx, dbURL, dir); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := persistence.Open(ctx, dbURL, dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// MustOpenWithProperty is MustOpen with tenant and its property (UTC, EUR)
// stored.
func MustOpenWithProperty(t testing.TB, dbURL, tenant, property string) persistence.Store {
	t.Helper()
	s := MustOpen(t, dbURL)
	ctx := context.Background()
	if _, err := s.EnsureTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutProperty(ctx, booking.Property{Tenant: tenant, ID: property, Name: "Hotel One", Timezone: "UTC", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	return s
}
