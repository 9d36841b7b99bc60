package persistence_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/staylock/staylock/persistence"
)

// mustMode fails the test unless name has exactly the permission bits want.
func mustMode(t *testing.T, name string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Errorf("stat %s: %v", name, err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %#o, want %#o", filepath.Base(name), got, want)
	}
}

// openAndWrite migrates and opens the embedded store in dir and writes to
// it, so that SQLite has made its -wal and -shm files; the store is open
// when it returns.
func openAndWrite(t *testing.T, dir string) persistence.Store {
	t.Helper()
	ctx := context.Background()
	if _, err := persistence.MigrateUp(ctx, "", dir); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := persistence.Open(ctx, "", dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.EnsureTenant(ctx, "acme"); err != nil {
		t.Fatalf("write: %v", err)
	}
	return s
}

// checkPrivate checks the storage folder and every database file in it.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	mustMode(t, dir, 0o700)
	db := persistence.SQLitePath(dir)
	mustMode(t, db, 0o600)
	for _, side := range []string{"-wal", "-shm"} {
		mustMode(t, db+side, 0o600)
	}
}

// The embedded database holds guests and key hashes: its folder, the file,
// its WAL and shared-memory file are the service user's alone, like app.key.
func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "storage")
		openAndWrite(t, dir)
		checkPrivate(t, dir)
	})
	t.Run("whatever the umask", func(t *testing.T) {
		old := syscall.Umask(0) // a permissive umask must not widen them
		defer syscall.Umask(old)
		dir := filepath.Join(t.TempDir(), "storage")
		openAndWrite(t, dir)
		checkPrivate(t, dir)
	})
	t.Run("existing files are narrowed at start", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "storage")
		s := openAndWrite(t, dir)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// As an earlier version left them.
		db := persistence.SQLitePath(dir)
		for _, f := range []string{dir, db, db + "-wal", db + "-shm"} {
			if err := os.Chmod(f, 0o755); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		openAndWrite(t, dir)
		checkPrivate(t, dir)
	})
}
