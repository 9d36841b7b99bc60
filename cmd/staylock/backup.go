package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/staylock/staylock/config"
	"github.com/staylock/staylock/persistence"
)

// newBackupCmd is `staylock backup --to FILE`: a consistent copy of the
// embedded SQLite database, safe to take while `serve` runs. Postgres is
// backed up with Postgres' own tools (docs/operations.md), so for it the
// command only says which.
func newBackupCmd(a *app) *cobra.Command {
	var to string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup --to FILE [--force]",
		Short: "Copy the embedded SQLite database to FILE, consistently, also while serve runs",
		Long: "Writes a consistent copy of the embedded database (STORAGE_PATH/" + persistence.SQLiteFile + ") to FILE\n" +
			"with SQLite's VACUUM INTO: one snapshot, taken without stopping `staylock serve`,\n" +
			"checked with PRAGMA integrity_check before it is moved into place. FILE must not\n" +
			"exist unless --force. To restore: stop serve, copy FILE to STORAGE_PATH/" + persistence.SQLiteFile + "\n" +
			"(removing any " + persistence.SQLiteFile + "-wal and -shm beside it), start serve.\n\n" +
			"With DB_URL=postgres://… it refuses: back Postgres up with pg_basebackup and WAL\n" +
			"archiving (or pgBackRest, WAL-G), or pg_dump for a logical copy (docs/operations.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usagef("--to FILE is required")
			}
			ov, err := a.overrides()
			if err != nil {
				return err
			}
			// Load only: a backup must not create the local key (or anything
			// else) as a side effect.
			cfg, err := config.Load(config.LoadOptions{DotEnvDir: a.dotEnv, NoDotEnv: a.noDotEnv, Overrides: ov})
			if err != nil {
				return err
			}
			switch persistence.Backend(cfg.DBURL) {
			case persistence.BackendPostgres:
				return errors.New("DB_URL is Postgres: `staylock backup` copies only the embedded SQLite database. " +
					"Back Postgres up with pg_basebackup plus WAL archiving (or pgBackRest / WAL-G), " +
					"or with `pg_dump -Fc` for a logical copy: see docs/operations.md")
			case persistence.BackendMemory:
				return usagef("DB_URL=memory:// keeps nothing on disk: there is nothing to back up")
			}
			info, err := persistence.BackupSQLite(cmd.Context(), persistence.SQLitePath(cfg.StoragePath), to, force)
			if errors.Is(err, persistence.ErrBackupExists) {
				return usagef("%v: choose a new file, or pass --force to replace it", err)
			}
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s: %d bytes, %d reservations, integrity ok, in %s\n",
				persistence.SQLitePath(cfg.StoragePath), info.File, info.Bytes, info.Reservations, info.Took.Round(1e6))
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "file to write the backup to (must not exist unless --force)")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE when it exists")
	return cmd
}
