package persistence

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staylock/staylock/booking"
)

// SQLSTATEs raised by staylock_assert (migration 00002) inside CommitBatch.
const (
	pgCodeFenced          = "SLFNC"
	pgCodeIdempotency     = "SLIDM"
	pgCodeUniqueViolation = "23505"
	pgJournalPrimaryKey   = "journal_pkey"
)

// PostgresStore is the Store on Postgres (pgx pool).
type PostgresStore struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// lastNotify (unix ns) rate-limits the job insert notifications.
	lastNotify atomic.Int64
}

// jobNotifyEvery is how often a node's commits wake River's workers at
// most. NOTIFY serialises the commits that carry one (Postgres takes a
// global lock on its notification queue at commit), so every batch
// notifying would make commits of unrelated room types wait for each other;
// between notifications the workers' poll (JOB_POLL_INTERVAL) finds the jobs.
const jobNotifyEvery = 100 * time.Millisecond

// notifyDue tells whether this commit should carry the insert notification.
func (s *PostgresStore) notifyDue() bool {
	now := time.Now().UnixNano()
	last := s.lastNotify.Load()
	return now-last >= int64(jobNotifyEvery) && s.lastNotify.CompareAndSwap(last, now)
}

var _ Store = (*PostgresStore)(nil)

// OpenPostgres connects a pool to dbURL (pool settings such as
// pool_max_conns may be given in the URL; the default is max(8, 2×CPUs)
// connections) and checks that it answers.
func OpenPostgres(ctx context.Context, dbURL string) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse DB_URL: %w", err)
	}
	if !strings.Contains(dbURL, "pool_max_conns") {
		// Commits wait on the WAL flush, not on the CPU: let more of them
		// be in flight than pgxpool's default (4 on small machines).
		cfg.MaxConns = int32(max(8, 2*runtime.NumCPU()))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return &PostgresStore{pool: pool, now: time.Now}, nil
}

// Pool is the store's connection pool, for parts that share the database
// (the job queue).
func (s *PostgresStore) Pool() *pgxpool.Pool { return s.pool }

// Ping checks the database answers.
func (s *PostgresStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close closes the pool.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

func (s *PostgresStore) stamp() time.Time { return StoredTime(s.now()) }

// EnsureTenant creates tenant id if new.
func (s *PostgresStore) EnsureTenant(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, s.stamp())
	if err != nil {
		return false, fmt.Errorf("ensure tenant %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateAPIKey stores a key, creating its tenant when new.
func (s *PostgresStore) CreateAPIKey(ctx context.Context, k APIKey) error {
	now := s.stamp()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, k.Tenant, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, tenant, role, name, hash, created_at, revoked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.Tenant, string(k.Role), k.Name, k.Hash, StoredTime(orNow(k.CreatedAt, now)), storedTimePtr(k.RevokedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

const pgAPIKeyCols = `id, tenant, role, name, hash, created_at, revoked_at`

func scanPGAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var role string
	if err := row.Scan(&k.ID, &k.Tenant, &role, &k.Name, &k.Hash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return k, err
	}
	k.Role = booking.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RevokedAt != nil {
		t := k.RevokedAt.UTC()
		k.RevokedAt = &t
	}
	return k, nil
}

// APIKeyByHash finds an unrevoked key by the hash of its secret.
func (s *PostgresStore) APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	k, err := scanPGAPIKey(s.pool.QueryRow(ctx, `SELECT `+pgAPIKeyCols+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash))
	if err != nil {
		return APIKey{}, pgNotFound("api key", err)
	}
	return k, nil
}

// ListAPIKeys lists every key, revoked ones included.
func (s *PostgresStore) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgAPIKeyCols+` FROM api_keys ORDER BY tenant, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanPGAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// PutProperty inserts or updates a property.
func (s *PostgresStore) PutProperty(ctx context.Context, p booking.Property) (booking.Property, bool, error) {
	now := s.stamp()
	p.CreatedAt = StoredTime(orNow(p.CreatedAt, now))
	p.UpdatedAt = StoredTime(orNow(p.UpdatedAt, now))
	var created bool
	p = p.WithDefaults()
	err := s.pool.QueryRow(ctx, `INSERT INTO properties (tenant, id, name, timezone, currency,
			booking_horizon_days, late_checkin_until, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
			currency = excluded.currency, booking_horizon_days = excluded.booking_horizon_days,
			late_checkin_until = excluded.late_checkin_until, updated_at = excluded.updated_at
		RETURNING created_at, updated_at, (xmax = 0)`,
		p.Tenant, p.ID, p.Name, p.Timezone, p.Currency, p.BookingHorizonDays, p.LateCheckinUntil,
		p.CreatedAt, p.UpdatedAt).Scan(&p.CreatedAt, &p.UpdatedAt, &created)
	if err != nil {
		return booking.Property{}, false, fmt.Errorf("put property %s: %w", p.ID, pgDataError(err))
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, created, nil
}

const pgPropertyCols = `tenant, id, name, timezone, currency, booking_horizon_days, late_checkin_until, created_at, updated_at`

func scanPGProperty(row pgx.Row) (booking.Property, error) {
	var p booking.Property
	err := row.Scan(&p.Tenant, &p.ID, &p.Name, &p.Timezone, &p.Currency, &p.BookingHorizonDays, &p.LateCheckinUntil,
		&p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// GetProperty returns one property of a tenant.
func (s *PostgresStore) GetProperty(ctx context.Context, tenant, id string) (booking.Property, error) {
	p, err := scanPGProperty(s.pool.QueryRow(ctx, `SELECT `+pgPropertyCols+` FROM properties WHERE tenant = $1 AND id = $2`, tenant, id))
	if err != nil {
		return booking.Property{}, pgNotFound("property "+id, err)
	}
	return p, nil
}

// ListProperties lists a tenant's properties by id.
func (s *PostgresStore) ListProperties(ctx context.Context, tenant string) ([]booking.Property, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgPropertyCols+` FROM properties WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list properties: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Property, error) { return scanPGProperty(r) })
	if err != nil {
		return nil, fmt.Errorf("list properties: %w", err)
	}
	return ps, nil
}

const pgRoomTypeCols = `tenant, property, id, name, rooms, price, created_at, updated_at`

func scanPGRoomType(row pgx.Row) (booking.RoomType, error) {
	var r booking.RoomType
	err := row.Scan(&r.Tenant, &r.Property, &r.ID, &r.Name, &r.Rooms, &r.Price, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// GetRoomType returns one room type.
func (s *PostgresStore) GetRoomType(ctx context.Context, tenant, property, id string) (booking.RoomType, error) {
	r, err := scanPGRoomType(s.pool.QueryRow(ctx, `SELECT `+pgRoomTypeCols+` FROM room_types
		WHERE tenant = $1 AND property = $2 AND id = $3`, tenant, property, id))
	if err != nil {
		return booking.RoomType{}, pgNotFound("room type "+property+"/"+id, err)
	}
	return r, nil
}

// AllRoomTypes lists every room type by tenant, property and id.
func (s *PostgresStore) AllRoomTypes(ctx context.Context) ([]booking.RoomType, error) {
	return s.roomTypes(ctx, "list all room types", `SELECT `+pgRoomTypeCols+` FROM room_types ORDER BY tenant, property, id`)
}

// roomTypes runs a query of room type rows; what names it in errors.
func (s *PostgresStore) roomTypes(ctx context.Context, what, query string, args ...any) ([]booking.RoomType, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	rts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.RoomType, error) { return scanPGRoomType(r) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return rts, nil
}

// ListRoomTypes lists a property's room types by id.
func (s *PostgresStore) ListRoomTypes(ctx context.Context, tenant, property string) ([]booking.RoomType, error) {
	return s.roomTypes(ctx, "list room types", `SELECT `+pgRoomTypeCols+` FROM room_types
		WHERE tenant = $1 AND property = $2 ORDER BY id`, tenant, property)
}

// LoadActor returns the latest snapshot and the events after it.
func (s *PostgresStore) LoadActor(ctx context.Context, actorID string) (ActorState, error) {
	var st ActorState
	err := s.pool.QueryRow(ctx, `SELECT seq, data FROM snapshots WHERE actor_id = $1`, actorID).Scan(&st.SnapshotSeq, &st.Snapshot)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ActorState{}, fmt.Errorf("load snapshot of %s: %w", actorID, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, data, at FROM journal WHERE actor_id = $1 AND seq > $2 ORDER BY seq`, actorID, st.SnapshotSeq)
	if err != nil {
		return ActorState{}, fmt.Errorf("load journal of %s: %w", actorID, err)
	}
	st.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (JournalEvent, error) {
		var e JournalEvent
		err := r.Scan(&e.Seq, &e.Data, &e.At)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return ActorState{}, fmt.Errorf("load journal of %s: %w", actorID, err)
	}
	if err := checkContiguous(actorID, st); err != nil {
		return ActorState{}, err
	}
	return st, nil
}

// LastSeq is the highest stored seq of the actor.
func (s *PostgresStore) LastSeq(ctx context.Context, actorID string) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM journal WHERE actor_id = $1`, actorID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", actorID, err)
	}
	return seq, nil
}

const pgReservationCols = `tenant, id, property, status, stays::text, guest::text, channel, external_ref,
	total_price, currency, version, primary_room_type, created_at, updated_at`

func scanPGReservation(row pgx.Row) (booking.Reservation, error) {
	var r booking.Reservation
	var stays, guest []byte
	if err := row.Scan(&r.Tenant, &r.ID, &r.Property, &r.Status, &stays, &guest, &r.Channel, &r.ExternalRef,
		&r.TotalPrice, &r.Currency, &r.Version, &r.Primary, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return r, err
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, decodeReservation(&r, stays, guest)
}

// GetReservation returns one reservation of a tenant.
func (s *PostgresStore) GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error) {
	r, err := scanPGReservation(s.pool.QueryRow(ctx, `SELECT `+pgReservationCols+` FROM reservations WHERE tenant = $1 AND id = $2`, tenant, id))
	if err != nil {
		return booking.Reservation{}, pgNotFound("reservation "+id, err)
	}
	return r, nil
}

var pgList = listDialect{
	placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
	timeArg:     func(t time.Time) any { return t },
	dateArg:     func(d booking.Date) any { return d.Time() },
}

// ListReservations pages a property's reservations by (created_at, id).
func (s *PostgresStore) ListReservations(ctx context.Context, tenant, property string, f ReservationFilter) ([]booking.Reservation, string, error) {
	q, args, limit, err := listReservationsQuery(pgList, pgReservationCols, tenant, property, f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (booking.Reservation, error) { return scanPGReservation(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	rs, next := nextPage(rs, limit)
	return rs, next, nil
}

// HoldRows lists the parts of a hold.
func (s *PostgresStore) HoldRows(ctx context.Context, tenant, id string) ([]HoldRow, error) {
	hs, err := s.holds(ctx, `WHERE tenant = $1 AND id = $2 ORDER BY room_type`, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", id, err)
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("hold %s: %w", id, ErrNotFound)
	}
	return hs, nil
}

// holds reads hold rows; where is the query's WHERE/ORDER BY tail.
func (s *PostgresStore) holds(ctx context.Context, where string, args ...any) ([]HoldRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, id, property, room_type, expires_at FROM holds `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HoldRow, error) {
		var h HoldRow
		err := r.Scan(&h.Tenant, &h.ID, &h.Property, &h.RoomType, &h.ExpiresAt)
		h.ExpiresAt = h.ExpiresAt.UTC()
		return h, err
	})
}

// GetIdempotency returns a live record.
func (s *PostgresStore) GetIdempotency(ctx context.Context, tenant, key string) (IdempotencyRecord, error) {
	r := IdempotencyRecord{Tenant: tenant, Key: key}
	var status int32
	err := s.pool.QueryRow(ctx, `SELECT request_hash, status, body, created_at, expires_at FROM idempotency
		WHERE tenant = $1 AND key = $2 AND expires_at > $3`, tenant, key, s.stamp()).
		Scan(&r.RequestHash, &status, &r.Body, &r.CreatedAt, &r.ExpiresAt)
	if err != nil {
		return IdempotencyRecord{}, pgNotFound("idempotency key", err)
	}
	r.Status = int(status)
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return r, nil
}

// ClaimIdempotency inserts an in-flight record unless a live one exists.
func (s *PostgresStore) ClaimIdempotency(ctx context.Context, r IdempotencyRecord) (bool, error) {
	now := s.stamp()
	r, err := prepareClaim(r, now)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency AS i (tenant, key, request_hash, status, body, created_at, expires_at)
		VALUES ($1, $2, $3, 0, '', $4, $5)
		ON CONFLICT (tenant, key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, body = '',
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE i.expires_at <= $6`, r.Tenant, r.Key, r.RequestHash, r.CreatedAt, r.ExpiresAt, now)
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CompleteIdempotency stores an outcome outside a batch.
func (s *PostgresStore) CompleteIdempotency(ctx context.Context, r IdempotencyRecord) error {
	now := s.stamp()
	r, err := prepareCompletion(r, now)
	if err != nil {
		return err
	}
	args := append(idempotencyArrays([]IdempotencyRecord{r}), now)
	tag, err := s.pool.Exec(ctx, pgCompleteSQL, args...)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("complete idempotency key %q: %w", r.Key, ErrIdempotencyTaken)
	}
	return nil
}

// ReleaseIdempotency deletes an in-flight record.
func (s *PostgresStore) ReleaseIdempotency(ctx context.Context, tenant, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE tenant = $1 AND key = $2 AND status = 0`, tenant, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotency deletes the records expired at now.
func (s *PostgresStore) PurgeIdempotency(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE expires_at <= $1`, StoredTime(now))
	if err != nil {
		return 0, fmt.Errorf("purge idempotency records: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GetMeta returns a setting; ErrNotFound when unset.
func (s *PostgresStore) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v); err != nil {
		return "", pgNotFound("meta "+key, err)
	}
	return v, nil
}

// pgDataError marks an error the server raised about the data itself as
// ErrInvalidData: SQLSTATE class 22 (data exception: NUL or an invalid byte
// sequence in text, "\u0000" in jsonb, a value out of range), 23 (integrity
// constraint violation) and 54 (program limit exceeded, such as an index
// row too large). The fence and idempotency cases of CommitBatch are told
// apart before this. Any other error is returned as it is.
func pgDataError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return err
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return fmt.Errorf("%w: %w", ErrInvalidData, err)
	}
	return err
}

// pgNotFound maps pgx.ErrNoRows to ErrNotFound, naming what was looked for.
func pgNotFound(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
