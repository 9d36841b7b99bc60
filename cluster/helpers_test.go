package cluster_test

import (
	"context"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

const (
	tenant   = "t1"
	property = "p1"
)

// MustOpen migrates dbURL and opens a store on it with one tenant and
// property; every member of a test cluster opens its own, as nodes do.
func MustOpen(t testing.TB, dbURL string) persistence.Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := persistence.MigrateUp(ctx, dbURL, dir); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := persistence.Open(ctx, dbURL, dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.EnsureTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutProperty(ctx, booking.Property{Tenant: tenant, ID: property, Name: "Hotel One", Timezone: "UTC", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func date(s string) booking.Date {
	d, err := booking.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}
