package persistence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrBackupExists: the backup's target file exists and replacing it was
// not asked for. Nothing was written.
var ErrBackupExists = errors.New("backup file exists")

// BackupInfo describes a finished backup.
type BackupInfo struct {
	File         string // absolute path of the backup
	Bytes        int64
	Reservations int64 // rows of the reservations table in the copy
	Took         time.Duration
}

// BackupSQLite copies the embedded database file src to dst with SQLite's
// VACUUM INTO, which reads one snapshot (a read transaction: under WAL a
// running `staylock serve` keeps committing meanwhile, and the copy holds
// exactly what had committed when the snapshot began). The copy is
// written to a temporary file beside dst, checked (PRAGMA integrity_check),
// flushed to disk and only then moved to dst, so dst is never a partial
// backup. An existing dst is refused with ErrBackupExists unless replace
// is set; src itself is always refused.
func BackupSQLite(ctx context.Context, src, dst string, replace bool) (BackupInfo, error) {
	start := time.Now()
	var info BackupInfo
	src, err := filepath.Abs(src)
	if err != nil {
		return info, err
	}
	if dst, err = filepath.Abs(dst); err != nil {
		return info, err
	}
	srcFI, err := os.Stat(src)
	if err != nil {
		// Never open (and so create) a database that is not there.
		if errors.Is(err, fs.ErrNotExist) {
			return info, fmt.Errorf("no database at %s (check STORAGE_PATH)", src)
		}
		return info, fmt.Errorf("database %s: %w", src, err)
	}
	if dstFI, err := os.Stat(dst); err == nil {
		if os.SameFile(srcFI, dstFI) {
			return info, fmt.Errorf("%s is the database itself, not a backup target", dst)
		}
		if !dstFI.Mode().IsRegular() {
			return info, fmt.Errorf("%s exists and is not a regular file", dst)
		}
		if !replace {
			return info, fmt.Errorf("%s: %w", dst, ErrBackupExists)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("backup file %s: %w", dst, err)
	}
	if dst == src || dst == src+"-wal" || dst == src+"-shm" {
		return info, fmt.Errorf("%s belongs to the database itself, not a backup target", dst)
	}

	tmp, err := tempName(dst)
	if err != nil {
		return info, err
	}
	defer func() { _ = os.Remove(tmp) }() // gone after the move; cleans up a failure

	// A plain connection, not the store's: the store's readers are
	// query_only, which refuses VACUUM INTO. It changes no data in src.
	db, err := sql.Open(sqliteDriver, src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return info, fmt.Errorf("open %s: %w", src, err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return info, fmt.Errorf("vacuum into %s: %w", tmp, err)
	}
	if info.Reservations, err = checkSQLiteCopy(ctx, tmp); err != nil {
		return info, err
	}
	// Guests' names and emails: readable by the owner only, like the
	// database itself should be.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return info, err
	}
	if err := syncFile(tmp); err != nil {
		return info, err
	}
	if replace {
		err = os.Rename(tmp, dst)
	} else if err = os.Link(tmp, dst); errors.Is(err, fs.ErrExist) {
		// Created by someone else while we copied: still not replaced.
		err = fmt.Errorf("%s: %w", dst, ErrBackupExists)
	}
	if err != nil {
		return info, fmt.Errorf("move the backup into place: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return info, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return info, err
	}
	info.File, info.Bytes, info.Took = dst, fi.Size(), time.Since(start)
	return info, nil
}

// checkSQLiteCopy opens a finished copy and runs SQLite's integrity check;
// it returns the copy's reservation count.
func checkSQLiteCopy(ctx context.Context, file string) (int64, error) {
	db, err := sql.Open(sqliteDriver, file+"?_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("open the copy: %w", err)
	}
	defer func() { _ = db.Close() }()
	var verdict string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&verdict); err != nil {
		return 0, fmt.Errorf("integrity check of the copy: %w", err)
	}
	if verdict != "ok" {
		return 0, fmt.Errorf("integrity check of the copy: %s", verdict)
	}
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM reservations").Scan(&n); err != nil {
		return 0, fmt.Errorf("count the copy's reservations: %w", err)
	}
	return n, nil
}

// tempName is a new name beside file, for writing it atomically.
func tempName(file string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".tmp-"+hex.EncodeToString(b[:])), nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	return f.Close()
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
