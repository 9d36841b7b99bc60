package persistence

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// MigrationInfo is one migration and whether the database has it.
type MigrationInfo struct {
	// Component is whose migration it is: ComponentStaylock (this
	// repository's SQL) or ComponentRiver (the job queue's tables, from
	// River's own migrations).
	Component string
	Version   int64
	Name      string // file name, e.g. 00001_accounts.sql
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

// Components of MigrationInfo.
const (
	ComponentStaylock = "staylock"
	ComponentRiver    = "river"
)

// migrator is a goose provider over its own short-lived database handle.
type migrator struct {
	db       *sql.DB
	p        *goose.Provider
	postgres bool
}

func (m *migrator) close() error { return m.db.Close() }

// openMigrator opens the database that dbURL/storagePath name (as Open does)
// and a goose provider over the embedded migrations of its backend. On
// Postgres, migrations of concurrent processes are serialised by an
// advisory lock.
func openMigrator(ctx context.Context, dbURL, storagePath string) (*migrator, error) {
	if err := checkURL(dbURL); err != nil {
		return nil, err
	}
	var (
		db      *sql.DB
		dialect goose.Dialect
		dir     string
		opts    = []goose.ProviderOption{
			goose.WithLogger(goose.NopLogger()),
			goose.WithDisableGlobalRegistry(true),
		}
	)
	if Backend(dbURL) == BackendPostgres {
		// pgxpool's parser accepts (and strips) the pool settings of DB_URL
		// such as pool_max_conns, which a plain connection would send to the
		// server as unknown parameters.
		pcfg, err := pgxpool.ParseConfig(dbURL)
		if err != nil {
			return nil, fmt.Errorf("parse DB_URL: %w", err)
		}
		db = stdlib.OpenDB(*pcfg.ConnConfig)
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		file := SQLitePath(storagePath)
		if err := preparePrivateSQLite(file); err != nil {
			return nil, err
		}
		var err error
		db, err = sql.Open(sqliteDriver, sqliteDSN(file, true))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", file, err)
		}
		db.SetMaxOpenConns(1)
		dialect, dir = goose.DialectSQLite3, "migrations/sqlite"
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", Backend(dbURL), err)
	}
	sub, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &migrator{db: db, p: p, postgres: Backend(dbURL) == BackendPostgres}, nil
}

// MigrateUp applies every pending migration and returns how many it applied.
// The memory store has no schema: nothing to apply.
func MigrateUp(ctx context.Context, dbURL, storagePath string) (applied int, err error) {
	if isMemoryURL(dbURL) {
		return 0, nil
	}
	m, err := openMigrator(ctx, dbURL, storagePath)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	res, err := m.p.Up(ctx)
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) {
			return len(pe.Applied), fmt.Errorf("migrate up: %w", err)
		}
		return len(res), fmt.Errorf("migrate up: %w", err)
	}
	river, err := m.riverUp(ctx)
	return len(res) + river, err
}

// MigrateDown rolls the newest applied migration back (one step).
func MigrateDown(ctx context.Context, dbURL, storagePath string) (err error) {
	if isMemoryURL(dbURL) {
		return errors.New("migrate down: no migration is applied (the memory store has no schema)")
	}
	m, err := openMigrator(ctx, dbURL, storagePath)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	if _, err := m.p.Down(ctx); err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return errors.New("migrate down: no migration is applied")
		}
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// MigrationStatus lists every known migration, oldest first (none for the
// memory store).
func MigrationStatus(ctx context.Context, dbURL, storagePath string) (infos []MigrationInfo, err error) {
	if isMemoryURL(dbURL) {
		return []MigrationInfo{}, nil
	}
	m, err := openMigrator(ctx, dbURL, storagePath)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, m.close()) }()
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	infos = make([]MigrationInfo, 0, len(st))
	for _, s := range st {
		info := MigrationInfo{Component: ComponentStaylock, Version: s.Source.Version, Name: path.Base(s.Source.Path), Applied: s.State == goose.StateApplied}
		if info.Applied {
			info.AppliedAt = s.AppliedAt.UTC()
		}
		infos = append(infos, info)
	}
	river, err := m.riverStatus(ctx)
	if err != nil {
		return nil, err
	}
	return append(infos, river...), nil
}

// PendingMigrations counts the migrations not yet applied.
func PendingMigrations(ctx context.Context, dbURL, storagePath string) (int, error) {
	infos, err := MigrationStatus(ctx, dbURL, storagePath)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, i := range infos {
		if !i.Applied {
			n++
		}
	}
	return n, nil
}
