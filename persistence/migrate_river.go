package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// riverLockID is the Postgres advisory lock that serialises River's
// migrations between concurrent `migrate up` runs (goose's own lock covers
// only Staylock's).
const riverLockID = 0x5354594c52495652 // "STYLRIVR"

// riverMigrator is River's migrator over the migrator's database handle.
type riverMigrator interface {
	Migrate(ctx context.Context, direction rivermigrate.Direction, opts *rivermigrate.MigrateOpts) (*rivermigrate.MigrateResult, error)
	ExistingVersions(ctx context.Context) ([]rivermigrate.Migration, error)
	AllVersions() []rivermigrate.Migration
}

func (m *migrator) river() (riverMigrator, error) {
	var (
		rm  riverMigrator
		err error
	)
	if m.postgres {
		rm, err = rivermigrate.New(riverdatabasesql.New(m.db), &rivermigrate.Config{})
	} else {
		rm, err = rivermigrate.New(riversqlite.New(m.db), &rivermigrate.Config{})
	}
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	return rm, nil
}

// riverUp applies River's pending migrations (the job tables).
func (m *migrator) riverUp(ctx context.Context) (applied int, err error) {
	rm, err := m.river()
	if err != nil {
		return 0, err
	}
	if m.postgres {
		conn, err := m.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("river migrations: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(riverLockID)); err != nil {
			return 0, fmt.Errorf("river migrations: lock: %w", err)
		}
		defer func() {
			_, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(riverLockID))
			err = errors.Join(err, uerr)
		}()
	}
	res, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate up (river): %w", err)
	}
	return len(res.Versions), nil
}

// riverStatus lists River's migrations and which are applied.
func (m *migrator) riverStatus(ctx context.Context) ([]MigrationInfo, error) {
	rm, err := m.river()
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil && !isMissingTable(err) {
		return nil, fmt.Errorf("river migration status: %w", err)
	}
	for _, v := range existing {
		applied[v.Version] = true
	}
	var out []MigrationInfo
	for _, v := range rm.AllVersions() {
		info := MigrationInfo{Component: ComponentRiver, Version: int64(v.Version), Name: v.Name, Applied: applied[v.Version]}
		out = append(out, info)
	}
	return out, nil
}

// isMissingTable tells River's "no river_migration table yet" apart from
// real failures (ExistingVersions treats a missing table as none on
// Postgres; this keeps SQLite alike).
func isMissingTable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return errors.Is(err, sql.ErrNoRows) || strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist")
}
