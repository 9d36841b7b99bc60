package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/staylock/staylock/booking"
)

const sqliteDriver = "sqlite"

// sqliteTimeLayout stores times as fixed-width UTC text, so that they sort
// as text and read back exactly.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func sqliteTime(t time.Time) string { return StoredTime(t).Format(sqliteTimeLayout) }

func parseSQLiteTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// sqliteDSN is the modernc DSN of file: WAL, a busy timeout (other
// processes, e.g. `staylock keys create` next to `serve`), full fsync on
// commit (an acknowledged booking survives power loss). The writer starts
// its transactions with BEGIN IMMEDIATE; readers cannot write.
func sqliteDSN(file string, writer bool) string {
	q := []string{"_pragma=busy_timeout(10000)", "_pragma=foreign_keys(1)"}
	if writer {
		q = append(q, "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)", "_txlock=immediate")
	} else {
		q = append(q, "_pragma=query_only(1)")
	}
	return file + "?" + strings.Join(q, "&")
}

// SQLiteStore is the Store on an embedded SQLite file. Every write goes
// through one connection (so writes are serialised in the process and never
// meet SQLITE_BUSY from each other); reads use a pool of read-only
// connections, which WAL lets run beside the writer.
type SQLiteStore struct {
	w    *sql.DB
	r    *sql.DB
	now  func() time.Time
	jobs *sqliteJobs
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating it and its folder when needed) the database file.
func OpenSQLite(ctx context.Context, file string) (*SQLiteStore, error) {
	if strings.ContainsRune(file, '?') {
		return nil, fmt.Errorf("sqlite path %q must not contain '?'", file)
	}
	if err := preparePrivateSQLite(file); err != nil {
		return nil, err
	}
	w, err := sql.Open(sqliteDriver, sqliteDSN(file, true))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	r, err := sql.Open(sqliteDriver, sqliteDSN(file, false))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	n := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	jobs, err := newSQLiteJobs(w)
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, err
	}
	return &SQLiteStore{w: w, r: r, now: time.Now, jobs: jobs}, nil
}

// DB is the store's single writer connection pool (one connection), for
// parts that share the database file (the job queue). Anything that holds
// a transaction on it blocks every store write meanwhile.
func (s *SQLiteStore) DB() *sql.DB { return s.w }

// Ping checks the database answers.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

// Close closes both pools.
func (s *SQLiteStore) Close() error { return errors.Join(s.r.Close(), s.w.Close()) }

func (s *SQLiteStore) stamp() time.Time { return StoredTime(s.now()) }

// withTx runs f in a write transaction (BEGIN IMMEDIATE) and commits it.
func (s *SQLiteStore) withTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// EnsureTenant creates tenant id if new.
func (s *SQLiteStore) EnsureTenant(ctx context.Context, id string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, sqliteTime(s.now()))
	if err != nil {
		return false, fmt.Errorf("ensure tenant %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreateAPIKey stores a key, creating its tenant when new.
func (s *SQLiteStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	now := s.stamp()
	var revoked any
	if k.RevokedAt != nil {
		revoked = sqliteTime(*k.RevokedAt)
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, k.Tenant, sqliteTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant, role, name, hash, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Tenant, string(k.Role), k.Name, k.Hash, sqliteTime(orNow(k.CreatedAt, now)), revoked)
		return err
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

const sqliteAPIKeyCols = `id, tenant, role, name, hash, created_at, revoked_at`

func scanSQLiteAPIKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var role, created string
	var revoked sql.NullString
	if err := row.Scan(&k.ID, &k.Tenant, &role, &k.Name, &k.Hash, &created, &revoked); err != nil {
		return k, err
	}
	k.Role = booking.Role(role)
	var err error
	if k.CreatedAt, err = parseSQLiteTime(created); err != nil {
		return k, err
	}
	if revoked.Valid {
		t, err := parseSQLiteTime(revoked.String)
		if err != nil {
			return k, err
		}
		k.RevokedAt = &t
	}
	return k, nil
}

// APIKeyByHash finds an unrevoked key by the hash of its secret.
func (s *SQLiteStore) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	k, err := scanSQLiteAPIKey(s.r.QueryRowContext(ctx, `SELECT `+sqliteAPIKeyCols+` FROM api_keys WHERE hash = ? AND revoked_at IS NULL`, hash))
	if err != nil {
		return APIKey{}, sqliteNotFound("api key", err)
	}
	return k, nil
}

// ListAPIKeys lists every key, revoked ones included.
func (s *SQLiteStore) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	keys, err := sqliteCollect(ctx, s.r, scanSQLiteAPIKey, `SELECT `+sqliteAPIKeyCols+` FROM api_keys ORDER BY tenant, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// cmpErr returns err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// PutProperty inserts or updates a property.
func (s *SQLiteStore) PutProperty(ctx context.Context, p booking.Property) (booking.Property, bool, error) {
	now := s.stamp()
	p = p.WithDefaults()
	p.CreatedAt = StoredTime(orNow(p.CreatedAt, now))
	p.UpdatedAt = StoredTime(orNow(p.UpdatedAt, now))
	var created bool
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var stored string
		err := tx.QueryRowContext(ctx, `SELECT created_at FROM properties WHERE tenant = ? AND id = ?`, p.Tenant, p.ID).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			_, err = tx.ExecContext(ctx, `INSERT INTO properties (tenant, id, name, timezone, currency,
					booking_horizon_days, late_checkin_until, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.Tenant, p.ID, p.Name, p.Timezone, p.Currency,
				p.BookingHorizonDays, p.LateCheckinUntil, sqliteTime(p.CreatedAt), sqliteTime(p.UpdatedAt))
			return err
		case err != nil:
			return err
		}
		if p.CreatedAt, err = parseSQLiteTime(stored); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE properties SET name = ?, timezone = ?, currency = ?,
				booking_horizon_days = ?, late_checkin_until = ?, updated_at = ?
			WHERE tenant = ? AND id = ?`, p.Name, p.Timezone, p.Currency, p.BookingHorizonDays, p.LateCheckinUntil,
			sqliteTime(p.UpdatedAt), p.Tenant, p.ID)
		return err
	})
	if err != nil {
		return booking.Property{}, false, fmt.Errorf("put property %s: %w", p.ID, sqliteDataError(err))
	}
	return p, created, nil
}

const sqlitePropertyCols = `tenant, id, name, timezone, currency, booking_horizon_days, late_checkin_until, created_at, updated_at`

func scanSQLiteProperty(row interface{ Scan(...any) error }) (booking.Property, error) {
	var p booking.Property
	var created, updated string
	if err := row.Scan(&p.Tenant, &p.ID, &p.Name, &p.Timezone, &p.Currency, &p.BookingHorizonDays, &p.LateCheckinUntil,
		&created, &updated); err != nil {
		return p, err
	}
	return p, parseSQLiteTimes(&created, &p.CreatedAt, &updated, &p.UpdatedAt)
}

// parseSQLiteTimes parses pairs of (*string, *time.Time).
func parseSQLiteTimes(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		t, err := parseSQLiteTime(*pairs[i].(*string))
		if err != nil {
			return err
		}
		*pairs[i+1].(*time.Time) = t
	}
	return nil
}

// GetProperty returns one property of a tenant.
func (s *SQLiteStore) GetProperty(ctx context.Context, tenant, id string) (booking.Property, error) {
	p, err := scanSQLiteProperty(s.r.QueryRowContext(ctx, `SELECT `+sqlitePropertyCols+` FROM properties WHERE tenant = ? AND id = ?`, tenant, id))
	if err != nil {
		return booking.Property{}, sqliteNotFound("property "+id, err)
	}
	return p, nil
}

// ListProperties lists a tenant's properties by id.
func (s *SQLiteStore) ListProperties(ctx context.Context, tenant string) ([]booking.Property, error) {
	ps, err := sqliteCollect(ctx, s.r, scanSQLiteProperty, `SELECT `+sqlitePropertyCols+` FROM properties WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list properties: %w", err)
	}
	return ps, nil
}

const sqliteRoomTypeCols = `tenant, property, id, name, rooms, price, created_at, updated_at`

func scanSQLiteRoomType(row interface{ Scan(...any) error }) (booking.RoomType, error) {
	var r booking.RoomType
	var created, updated string
	if err := row.Scan(&r.Tenant, &r.Property, &r.ID, &r.Name, &r.Rooms, &r.Price, &created, &updated); err != nil {
		return r, err
	}
	return r, parseSQLiteTimes(&created, &r.CreatedAt, &updated, &r.UpdatedAt)
}

// GetRoomType returns one room type.
func (s *SQLiteStore) GetRoomType(ctx context.Context, tenant, property, id string) (booking.RoomType, error) {
	r, err := scanSQLiteRoomType(s.r.QueryRowContext(ctx, `SELECT `+sqliteRoomTypeCols+` FROM room_types
		WHERE tenant = ? AND property = ? AND id = ?`, tenant, property, id))
	if err != nil {
		return booking.RoomType{}, sqliteNotFound("room type "+property+"/"+id, err)
	}
	return r, nil
}

// AllRoomTypes lists every room type by tenant, property and id.
func (s *SQLiteStore) AllRoomTypes(ctx context.Context) ([]booking.RoomType, error) {
	rts, err := sqliteCollect(ctx, s.r, scanSQLiteRoomType, `SELECT `+sqliteRoomTypeCols+` FROM room_types ORDER BY tenant, property, id`)
	if err != nil {
		return nil, fmt.Errorf("list all room types: %w", err)
	}
	return rts, nil
}

// ListRoomTypes lists a property's room types by id.
func (s *SQLiteStore) ListRoomTypes(ctx context.Context, tenant, property string) ([]booking.RoomType, error) {
	rts, err := sqliteCollect(ctx, s.r, scanSQLiteRoomType, `SELECT `+sqliteRoomTypeCols+` FROM room_types
		WHERE tenant = ? AND property = ? ORDER BY id`, tenant, property)
	if err != nil {
		return nil, fmt.Errorf("list room types: %w", err)
	}
	return rts, nil
}

// LoadActor returns the latest snapshot and the events after it.
func (s *SQLiteStore) LoadActor(ctx context.Context, actorID string) (ActorState, error) {
	var st ActorState
	err := s.r.QueryRowContext(ctx, `SELECT seq, data FROM snapshots WHERE actor_id = ?`, actorID).Scan(&st.SnapshotSeq, &st.Snapshot)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ActorState{}, fmt.Errorf("load snapshot of %s: %w", actorID, err)
	}
	st.Events, err = sqliteCollect(ctx, s.r, func(row interface{ Scan(...any) error }) (JournalEvent, error) {
		var e JournalEvent
		var at string
		if err := row.Scan(&e.Seq, &e.Data, &at); err != nil {
			return e, err
		}
		return e, parseSQLiteTimes(&at, &e.At)
	}, `SELECT seq, data, at FROM journal WHERE actor_id = ? AND seq > ? ORDER BY seq`, actorID, st.SnapshotSeq)
	if err != nil {
		return ActorState{}, fmt.Errorf("load journal of %s: %w", actorID, err)
	}
	if err := checkContiguous(actorID, st); err != nil {
		return ActorState{}, err
	}
	return st, nil
}

// LastSeq is the highest stored seq of the actor.
func (s *SQLiteStore) LastSeq(ctx context.Context, actorID string) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM journal WHERE actor_id = ?`, actorID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", actorID, err)
	}
	return seq, nil
}

const (
	sqliteReservationUpsert = `INSERT INTO reservations (tenant, id, property, status, stays, guest, channel, external_ref,
			total_price, currency, version, primary_room_type, arrival, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET property = excluded.property, status = excluded.status,
			stays = excluded.stays, guest = excluded.guest, channel = excluded.channel,
			external_ref = excluded.external_ref, total_price = excluded.total_price, currency = excluded.currency,
			version = excluded.version, primary_room_type = excluded.primary_room_type, arrival = excluded.arrival,
			updated_at = excluded.updated_at`
	// sqliteComplete: insert, or complete an in-flight record with the same
	// request hash, or replace an expired one; else change nothing.
	sqliteComplete = `INSERT INTO idempotency AS i (tenant, key, request_hash, status, body, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
			body = excluded.body, expires_at = excluded.expires_at,
			created_at = CASE WHEN i.expires_at <= ?8 THEN excluded.created_at ELSE i.created_at END
		WHERE (i.status = 0 AND i.request_hash = excluded.request_hash) OR i.expires_at <= ?8`
)

// CommitBatch writes b in one BEGIN IMMEDIATE transaction on the writer
// connection, so concurrent batches run one after the other and the fence
// check (the journal ends at FirstSeq-1) cannot race.
func (s *SQLiteStore) CommitBatch(ctx context.Context, b Batch) error {
	return s.CommitBatches(ctx, []Batch{b})[0]
}

// CommitBatches writes the batches of several actors in one transaction,
// one fsync for them all: each batch inside a savepoint of its own, so a
// batch SQLite refuses (fenced, a key already completed, data it cannot
// store) is rolled back alone and the others commit.
func (s *SQLiteStore) CommitBatches(ctx context.Context, bs []Batch) []error {
	errs := make([]error, len(bs))
	ps, at := prepareBatches(bs, s.now(), errs)
	if len(ps) == 0 {
		return errs
	}
	joined := len(ps) > 1
	what := describe(ps)
	failAll := func(err error) []error {
		for _, i := range at {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return failAll(fmt.Errorf("%s: %w", what, err))
	}
	written := 0
	for k, p := range ps {
		err := s.writeInSavepoint(ctx, tx, p, joined)
		if err == nil {
			written++
			continue
		}
		errs[at[k]] = err
		if !joined || errors.Is(err, errTxBroken) {
			_ = tx.Rollback()
			return failAll(fmt.Errorf("%s: not committed: %w", what, err))
		}
	}
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback()
		return failAll(fmt.Errorf("%s: %w", what, err))
	}
	if written == 0 {
		_ = tx.Rollback()
		return errs
	}
	if err := tx.Commit(); err != nil {
		// SQLite rolls a failed COMMIT back, but an I/O error while syncing
		// the log may still leave the commit on disk: do not guess.
		return failAll(fmt.Errorf("%s: %w: %w", what, ErrMaybeCommitted, err))
	}
	return errs
}

// errTxBroken: a savepoint could not be rolled back or released, so the
// transaction may hold part of a refused batch and must not commit.
var errTxBroken = errors.New("transaction broken")

// writeInSavepoint writes p in tx, inside a savepoint when the
// transaction holds other batches too, and classifies a refusal; a refused
// batch leaves nothing in tx.
func (s *SQLiteStore) writeInSavepoint(ctx context.Context, tx *sql.Tx, p *preparedBatch, savepoint bool) error {
	what := fmt.Sprintf("commit batch %s seq %d..%d", p.ActorID, p.FirstSeq, p.lastSeq)
	if savepoint {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT batch"); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	err := sqliteWriteBatch(ctx, tx, p)
	if err == nil && len(p.jobs) > 0 {
		if err = s.jobs.insert(ctx, tx, p.jobs); err != nil {
			err = fmt.Errorf("%s: %w", what, err)
		}
	} else if err != nil {
		switch {
		case errors.Is(err, ErrFenced) || errors.Is(err, ErrIdempotencyTaken):
			err = fmt.Errorf("%s: %w", what, err)
		case sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY && strings.Contains(err.Error(), "journal"):
			err = fmt.Errorf("%s: %w (%v)", what, ErrFenced, err)
		default:
			err = fmt.Errorf("%s: %w", what, sqliteDataError(err))
		}
	}
	if !savepoint {
		return err
	}
	if err != nil {
		if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO batch"); rerr != nil {
			return fmt.Errorf("%w: %w (roll back to the savepoint: %w)", errTxBroken, err, rerr)
		}
	}
	if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), "RELEASE batch"); rerr != nil {
		return fmt.Errorf("%w: %v (release the savepoint: %w)", errTxBroken, err, rerr)
	}
	return err
}

func sqliteWriteBatch(ctx context.Context, tx *sql.Tx, p *preparedBatch) error {
	at := sqliteTime(p.at)
	if p.fenced {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM journal WHERE actor_id = ?`, p.ActorID).Scan(&last); err != nil {
			return fmt.Errorf("fence: %w", err)
		}
		if last != p.FirstSeq-1 {
			return fmt.Errorf("%w (journal of %s ends at seq %d)", ErrFenced, p.ActorID, last)
		}
	}
	if len(p.Events) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO journal (actor_id, seq, data, at) VALUES (?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range p.Events {
			if _, err := stmt.ExecContext(ctx, p.ActorID, p.FirstSeq+int64(i), e, at); err != nil {
				return fmt.Errorf("insert journal: %w", err)
			}
		}
	}
	if p.Snapshot != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots (actor_id, seq, data, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (actor_id) DO UPDATE SET seq = excluded.seq, data = excluded.data, at = excluded.at
			WHERE snapshots.seq <= excluded.seq`, p.ActorID, p.lastSeq, p.Snapshot, at); err != nil {
			return fmt.Errorf("put snapshot: %w", err)
		}
		if p.TrimJournal {
			if _, err := tx.ExecContext(ctx, `DELETE FROM journal WHERE actor_id = ? AND seq < ?`, p.ActorID, p.lastSeq); err != nil {
				return fmt.Errorf("trim journal: %w", err)
			}
		}
	}
	if rt := p.roomType; rt != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO room_types (tenant, property, id, name, rooms, price, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, property, id) DO UPDATE SET name = excluded.name, rooms = excluded.rooms,
				price = excluded.price, updated_at = excluded.updated_at`,
			rt.Tenant, rt.Property, rt.ID, rt.Name, rt.Rooms, rt.Price, sqliteTime(rt.CreatedAt), sqliteTime(rt.UpdatedAt)); err != nil {
			return fmt.Errorf("put room type: %w", err)
		}
	}
	if len(p.reservations) > 0 {
		stmt, err := tx.PrepareContext(ctx, sqliteReservationUpsert)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range p.reservations {
			if _, err := stmt.ExecContext(ctx, r.Tenant, r.ID, r.Property, r.Status, r.staysJSON, r.guestJSON, r.Channel, r.ExternalRef,
				r.TotalPrice, r.Currency, r.Version, r.Primary, int64(r.arrival), sqliteTime(r.CreatedAt), sqliteTime(r.UpdatedAt)); err != nil {
				return fmt.Errorf("put reservation %s: %w", r.ID, err)
			}
		}
	}
	for _, h := range p.putHolds {
		if _, err := tx.ExecContext(ctx, `INSERT INTO holds (tenant, id, room_type, property, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant, id, room_type) DO UPDATE SET property = excluded.property, expires_at = excluded.expires_at`,
			h.Tenant, h.ID, h.RoomType, h.Property, sqliteTime(h.ExpiresAt)); err != nil {
			return fmt.Errorf("put hold %s: %w", h.ID, err)
		}
	}
	for _, h := range p.deleteHolds {
		if _, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE tenant = ? AND id = ? AND room_type = ?`, h.Tenant, h.ID, h.RoomType); err != nil {
			return fmt.Errorf("delete hold %s: %w", h.ID, err)
		}
	}
	if len(p.idempotency) > 0 {
		stmt, err := tx.PrepareContext(ctx, sqliteComplete)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range p.idempotency {
			if err := sqliteCompleteOne(ctx, stmt, r, at); err != nil {
				return err
			}
		}
	}
	return nil
}

func sqliteCompleteOne(ctx context.Context, stmt *sql.Stmt, r IdempotencyRecord, now string) error {
	res, err := stmt.ExecContext(ctx, r.Tenant, r.Key, r.RequestHash, r.Status, r.Body, sqliteTime(r.CreatedAt), sqliteTime(r.ExpiresAt), now)
	if err != nil {
		return fmt.Errorf("complete idempotency key %q: %w", r.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("idempotency key %q: %w", r.Key, ErrIdempotencyTaken)
	}
	return nil
}

const sqliteReservationCols = `tenant, id, property, status, stays, guest, channel, external_ref,
	total_price, currency, version, primary_room_type, created_at, updated_at`

func scanSQLiteReservation(row interface{ Scan(...any) error }) (booking.Reservation, error) {
	var r booking.Reservation
	var stays, guest, created, updated string
	if err := row.Scan(&r.Tenant, &r.ID, &r.Property, &r.Status, &stays, &guest, &r.Channel, &r.ExternalRef,
		&r.TotalPrice, &r.Currency, &r.Version, &r.Primary, &created, &updated); err != nil {
		return r, err
	}
	if err := parseSQLiteTimes(&created, &r.CreatedAt, &updated, &r.UpdatedAt); err != nil {
		return r, err
	}
	return r, decodeReservation(&r, []byte(stays), []byte(guest))
}

// GetReservation returns one reservation of a tenant.
func (s *SQLiteStore) GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error) {
	r, err := scanSQLiteReservation(s.r.QueryRowContext(ctx, `SELECT `+sqliteReservationCols+` FROM reservations WHERE tenant = ? AND id = ?`, tenant, id))
	if err != nil {
		return booking.Reservation{}, sqliteNotFound("reservation "+id, err)
	}
	return r, nil
}

var sqliteList = listDialect{
	placeholder: func(int) string { return "?" },
	timeArg:     func(t time.Time) any { return sqliteTime(t) },
	dateArg:     func(d booking.Date) any { return int64(d) },
}

// ListReservations pages a property's reservations by (created_at, id).
func (s *SQLiteStore) ListReservations(ctx context.Context, tenant, property string, f ReservationFilter) ([]booking.Reservation, string, error) {
	q, args, limit, err := listReservationsQuery(sqliteList, sqliteReservationCols, tenant, property, f)
	if err != nil {
		return nil, "", err
	}
	rs, err := sqliteCollect(ctx, s.r, scanSQLiteReservation, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	rs, next := nextPage(rs, limit)
	return rs, next, nil
}

// HoldRows lists the parts of a hold.
func (s *SQLiteStore) HoldRows(ctx context.Context, tenant, id string) ([]HoldRow, error) {
	hs, err := s.holds(ctx, `WHERE tenant = ? AND id = ? ORDER BY room_type`, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", id, err)
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("hold %s: %w", id, ErrNotFound)
	}
	return hs, nil
}

// holds reads hold rows; where is the query's WHERE/ORDER BY tail.
func (s *SQLiteStore) holds(ctx context.Context, where string, args ...any) ([]HoldRow, error) {
	return sqliteCollect(ctx, s.r, func(row interface{ Scan(...any) error }) (HoldRow, error) {
		var h HoldRow
		var exp string
		if err := row.Scan(&h.Tenant, &h.ID, &h.Property, &h.RoomType, &exp); err != nil {
			return h, err
		}
		return h, parseSQLiteTimes(&exp, &h.ExpiresAt)
	}, `SELECT tenant, id, property, room_type, expires_at FROM holds `+where, args...)
}

// GetIdempotency returns a live record.
func (s *SQLiteStore) GetIdempotency(ctx context.Context, tenant, key string) (IdempotencyRecord, error) {
	r := IdempotencyRecord{Tenant: tenant, Key: key}
	var created, expires string
	err := s.r.QueryRowContext(ctx, `SELECT request_hash, status, body, created_at, expires_at FROM idempotency
		WHERE tenant = ? AND key = ? AND expires_at > ?`, tenant, key, sqliteTime(s.now())).
		Scan(&r.RequestHash, &r.Status, &r.Body, &created, &expires)
	if err != nil {
		return IdempotencyRecord{}, sqliteNotFound("idempotency key", err)
	}
	if err := parseSQLiteTimes(&created, &r.CreatedAt, &expires, &r.ExpiresAt); err != nil {
		return IdempotencyRecord{}, err
	}
	return r, nil
}

// ClaimIdempotency inserts an in-flight record unless a live one exists.
func (s *SQLiteStore) ClaimIdempotency(ctx context.Context, r IdempotencyRecord) (bool, error) {
	now := s.stamp()
	r, err := prepareClaim(r, now)
	if err != nil {
		return false, err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO idempotency AS i (tenant, key, request_hash, status, body, created_at, expires_at)
		VALUES (?, ?, ?, 0, x'', ?, ?)
		ON CONFLICT (tenant, key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, body = x'',
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE i.expires_at <= ?`, r.Tenant, r.Key, r.RequestHash, sqliteTime(r.CreatedAt), sqliteTime(r.ExpiresAt), sqliteTime(now))
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CompleteIdempotency stores an outcome outside a batch.
func (s *SQLiteStore) CompleteIdempotency(ctx context.Context, r IdempotencyRecord) error {
	now := s.stamp()
	r, err := prepareCompletion(r, now)
	if err != nil {
		return err
	}
	stmt, err := s.w.PrepareContext(ctx, sqliteComplete)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	defer stmt.Close()
	return sqliteCompleteOne(ctx, stmt, r, sqliteTime(now))
}

// ReleaseIdempotency deletes an in-flight record.
func (s *SQLiteStore) ReleaseIdempotency(ctx context.Context, tenant, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM idempotency WHERE tenant = ? AND key = ? AND status = 0`, tenant, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotency deletes the records expired at now.
func (s *SQLiteStore) PurgeIdempotency(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM idempotency WHERE expires_at <= ?`, sqliteTime(now))
	if err != nil {
		return 0, fmt.Errorf("purge idempotency records: %w", err)
	}
	return res.RowsAffected()
}

// GetMeta returns a setting; ErrNotFound when unset.
func (s *SQLiteStore) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err != nil {
		return "", sqliteNotFound("meta "+key, err)
	}
	return v, nil
}

// sqliteCollect runs a query and scans every row with scan.
func sqliteCollect[T any](ctx context.Context, db *sql.DB, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func sqliteNotFound(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// sqliteDataError marks an error SQLite raised about the data itself as
// ErrInvalidData: a constraint the row breaks (CHECK, NOT NULL, UNIQUE …;
// the journal's primary key, the fence, is told apart before this), a value
// over SQLite's size limit (SQLITE_TOOBIG) or of the wrong type
// (SQLITE_MISMATCH). Any other error is returned as it is.
func sqliteDataError(err error) error {
	switch sqliteCode(err) & 0xff { // the primary result code
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
		return fmt.Errorf("%w: %w", ErrInvalidData, err)
	}
	return err
}

// sqliteCode is the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}
