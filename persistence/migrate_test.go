package persistence_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
)

// migrationCount is how many migrations ship, counted from the files so a
// new migration is tested without editing this number; both backends must
// ship the same set.
var migrationCount = func() int {
	pg, _ := filepath.Glob(filepath.Join("migrations", "postgres", "*.sql"))
	lite, _ := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if len(pg) == 0 || len(pg) != len(lite) {
		panic("persistence/migrations: postgres and sqlite must ship the same, non-empty set of migrations")
	}
	return len(pg)
}()

func TestBackendNamesTheDatabase(t *testing.T) {
	for url, want := range map[string]string{
		"":                               "sqlite",
		"postgres://u@h/db":              "postgres",
		"postgresql://u@h/db?sslmode=no": "postgres",
		"POSTGRES://u@h/db":              "postgres",
	} {
		if got := persistence.Backend(url); got != want {
			t.Errorf("Backend(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestOpenRefusesOtherURLs(t *testing.T) {
	ctx := context.Background()
	if _, err := persistence.Open(ctx, "mysql://u@h/db", t.TempDir()); err == nil {
		t.Fatal("Open accepted a mysql:// URL")
	}
	if _, err := persistence.MigrateUp(ctx, "sqlite:///x", t.TempDir()); err == nil {
		t.Fatal("MigrateUp accepted a sqlite:// URL")
	}
}

func TestOpenFailsWhenPostgresIsUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := persistence.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", ""); err == nil {
		t.Fatal("Open succeeded on a closed port")
	}
}

func TestOpenSQLiteCreatesTheFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := persistence.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "staylock.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestMigrationsSQLite(t *testing.T) {
	testMigrations(t, "", t.TempDir())
}

func TestMigrationsPostgres(t *testing.T) {
	testMigrations(t, pgtest.NewDatabase(t), "")
}

func testMigrations(t *testing.T, url, dir string) {
	ctx := context.Background()
	riverApplied := false
	mustPending := func(want int) {
		t.Helper()
		n, err := persistence.PendingMigrations(ctx, url, dir)
		if err != nil {
			t.Fatalf("pending: %v", err)
		}
		if n != want {
			t.Fatalf("pending = %d, want %d", n, want)
		}
	}
	mustStatus := func(applied int) {
		t.Helper()
		all, err := persistence.MigrationStatus(ctx, url, dir)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var st, river []persistence.MigrationInfo
		for _, m := range all {
			switch m.Component {
			case persistence.ComponentStaylock:
				st = append(st, m)
			case persistence.ComponentRiver:
				river = append(river, m)
			default:
				t.Fatalf("migration of unknown component: %+v", m)
			}
		}
		if len(river) < 5 {
			t.Fatalf("status lists %d River migrations: %+v", len(river), river)
		}
		for _, m := range river {
			// River's job tables come up with the first `migrate up` and
			// stay: `migrate down` rolls back Staylock's migrations only.
			if m.Applied != (applied > 0 || riverApplied) {
				t.Fatalf("River migration %+v: applied=%v, want %v", m, m.Applied, applied > 0 || riverApplied)
			}
		}
		if len(st) != migrationCount {
			t.Fatalf("status lists %d migrations, want %d", len(st), migrationCount)
		}
		for i, m := range st {
			if m.Version != int64(i+1) || m.Name == "" || filepath.Ext(m.Name) != ".sql" {
				t.Fatalf("migration %d: %+v", i, m)
			}
			if want := i < applied; m.Applied != want || m.AppliedAt.IsZero() == want {
				t.Fatalf("migration %d: applied=%v at %v, want applied=%v", i, m.Applied, m.AppliedAt, want)
			}
		}
	}

	riverCount := 0
	if all, err := persistence.MigrationStatus(ctx, url, dir); err == nil {
		riverCount = len(all) - migrationCount
	}
	mustPending(migrationCount + riverCount)
	mustStatus(0)
	n, err := persistence.MigrateUp(ctx, url, dir)
	if err != nil || n != migrationCount+riverCount {
		t.Fatalf("migrate up: applied %d, %v; want %d", n, err, migrationCount+riverCount)
	}
	riverApplied = true
	mustPending(0)
	mustStatus(migrationCount)
	if n, err := persistence.MigrateUp(ctx, url, dir); err != nil || n != 0 {
		t.Fatalf("migrate up again: applied %d, %v; want 0", n, err)
	}

	// The schema works.
	s, err := persistence.Open(ctx, url, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMaintenance(ctx, persistence.Maintenance{}); err != nil {
		t.Fatalf("use migrated schema: %v", err)
	}
	s.Close()

	if err := persistence.MigrateDown(ctx, url, dir); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	mustPending(1)
	mustStatus(migrationCount - 1)
	for range migrationCount - 1 {
		if err := persistence.MigrateDown(ctx, url, dir); err != nil {
			t.Fatalf("migrate down: %v", err)
		}
	}
	mustPending(migrationCount)
	mustStatus(0)
	if err := persistence.MigrateDown(ctx, url, dir); err == nil {
		t.Fatal("migrate down with nothing applied succeeded")
	}

	// Every Down undid its Up: applying all again works.
	if n, err := persistence.MigrateUp(ctx, url, dir); err != nil || n != migrationCount {
		t.Fatalf("migrate up after down: applied %d, %v", n, err)
	}
}

// Nodes of a cluster may all run `migrate up` at once: one applies, the
// others wait and find nothing to do.
func TestMigrateUpConcurrentlyPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = persistence.MigrateUp(context.Background(), url, "")
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("migrate up %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	all, err := persistence.MigrationStatus(context.Background(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if !m.Applied {
			t.Errorf("not applied after concurrent runs: %+v", m)
		}
	}
	if total != len(all) {
		t.Fatalf("concurrent migrations applied %d in total, want each of the %d once", total, len(all))
	}
}
