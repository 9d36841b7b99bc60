package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backend names, as Backend returns them.
const (
	BackendPostgres = "postgres"
	BackendSQLite   = "sqlite"
	BackendMemory   = "memory"
)

// SQLiteFile is the name of the embedded database file inside STORAGE_PATH.
const SQLiteFile = "staylock.db"

// Backend returns "postgres" for a postgres:// or postgresql:// URL,
// "memory" for memory:// (the non-durable benchmark store) and "sqlite" for
// anything else (an empty URL means the embedded database).
func Backend(dbURL string) string {
	switch {
	case isPostgresURL(dbURL):
		return BackendPostgres
	case isMemoryURL(dbURL):
		return BackendMemory
	}
	return BackendSQLite
}

// isMemoryURL reports whether u selects the in-memory store (MemoryURL).
func isMemoryURL(u string) bool { return strings.EqualFold(u, MemoryURL) }

func isPostgresURL(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// checkURL refuses a URL that is neither empty, Postgres nor memory://.
func checkURL(dbURL string) error {
	if dbURL != "" && !isPostgresURL(dbURL) && !isMemoryURL(dbURL) {
		return fmt.Errorf("DB_URL must start with postgres:// or postgresql:// (or be empty for the embedded SQLite database, or memory:// for the non-durable benchmark store)")
	}
	return nil
}

// SQLitePath is the file of the embedded database under storagePath.
func SQLitePath(storagePath string) string {
	return filepath.Join(storagePath, SQLiteFile)
}

// Open connects to the database that dbURL names: Postgres for a
// postgres:// or postgresql:// URL, a new empty MemoryStore for memory://
// (nothing survives the process; benchmarks only), else (empty URL) the
// SQLite file SQLitePath(storagePath), whose folder it creates. It checks
// that the database answers but does not migrate; see MigrateUp.
func Open(ctx context.Context, dbURL, storagePath string) (Store, error) {
	if err := checkURL(dbURL); err != nil {
		return nil, err
	}
	if isMemoryURL(dbURL) {
		return NewMemoryStore(), nil
	}
	if dbURL != "" {
		return OpenPostgres(ctx, dbURL)
	}
	return OpenSQLite(ctx, SQLitePath(storagePath))
}

// Modes of the embedded database: the bookings, guests and API key hashes
// in it are the service user's alone, like STORAGE_PATH/app.key.
const (
	storageDirMode = 0o700
	dbFileMode     = 0o600
)

// sqliteSidecars are the files SQLite keeps beside the database in WAL
// mode; it creates them with the database file's mode.
var sqliteSidecars = []string{"-wal", "-shm", "-journal"}

// preparePrivateSQLite makes the folder of file (created when missing) 0700
// and file 0600, creating it empty when it does not exist, before SQLite
// opens it: SQLite creates a new database 0644 (less the umask) and gives
// its -wal and -shm files the database's mode. Existing files with wider
// modes (from earlier versions) are narrowed. The modes are set with chmod,
// so the process umask cannot widen or narrow them.
func preparePrivateSQLite(file string) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, storageDirMode); err != nil {
		return fmt.Errorf("create storage folder %s: %w", dir, err)
	}
	if err := ensureMode(dir, storageDirMode); err != nil {
		return fmt.Errorf("make storage folder %s private: %w", dir, err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, dbFileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create %s: %w", file, err)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create %s: %w", file, err)
	}
	for _, name := range append([]string{file}, prefixAll(file, sqliteSidecars)...) {
		if err := ensureMode(name, dbFileMode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make %s private: %w", name, err)
		}
	}
	return nil
}

func prefixAll(prefix string, suffixes []string) []string {
	out := make([]string, len(suffixes))
	for i, s := range suffixes {
		out[i] = prefix + s
	}
	return out
}

// ensureMode sets mode on name unless its permission bits already are
// mode (a chmod that changes nothing would still fail on a read-only file
// system or a file of another owner).
func ensureMode(name string, mode os.FileMode) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() == mode {
		return nil
	}
	return os.Chmod(name, mode)
}

// StoredTime is the value a Store gives back for t: UTC, truncated to the
// microsecond (Postgres' precision; the SQLite store truncates the same way
// so that both behave alike). Callers that show a time before storing it
// (created_at in a 201 response) should pass it through StoredTime first, so
// that later reads show the same value.
func StoredTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// storedTimePtr is StoredTime for an optional time.
func storedTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := StoredTime(*t)
	return &v
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}
