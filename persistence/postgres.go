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

// The statements of CommitBatch. Each takes whole arrays (unnest), so a
// batch is a fixed, small number of statements whatever its size, sent in
// one pipeline (one round trip) between BEGIN and COMMIT.
const (
	// pgActorLockSQL serialises the commits of one actor, so that the fence
	// check that follows (a statement of its own, hence a snapshot taken
	// after the lock) sees every batch committed before: a stale
	// activation's batch is refused even when it has no events. Activations
	// that race anyway also meet the journal's primary key.
	pgActorLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))`
	pgFenceSQL     = `SELECT staylock_assert(j.last = $2::bigint - 1, 'SLFNC',
		format('actor %s fenced: batch starts at seq %s but the journal ends at %s', $1::text, $2::bigint, j.last))
		FROM (SELECT COALESCE(max(seq), 0) AS last FROM journal WHERE actor_id = $1::text) j`
	pgJournalSQL = `INSERT INTO journal (actor_id, seq, data, at)
		SELECT $1, $2::bigint + e.n - 1, e.d, $4 FROM unnest($3::bytea[]) WITH ORDINALITY AS e(d, n)`
	pgSnapshotSQL = `INSERT INTO snapshots (actor_id, seq, data, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (actor_id) DO UPDATE SET seq = excluded.seq, data = excluded.data, at = excluded.at
		WHERE snapshots.seq <= excluded.seq`
	pgRoomTypeSQL = `INSERT INTO room_types (tenant, property, id, name, rooms, price, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (tenant, property, id) DO UPDATE SET name = excluded.name, rooms = excluded.rooms,
			price = excluded.price, updated_at = excluded.updated_at`
	pgReservationsSQL = `INSERT INTO reservations (tenant, id, property, status, stays, guest, channel, external_ref,
			total_price, currency, version, primary_room_type, arrival, created_at, updated_at)
		SELECT r.tenant, r.id, r.property, r.status, r.stays::jsonb, r.guest::jsonb, r.channel, r.external_ref,
			r.total_price, r.currency, r.version, r.primary_room_type, date '1970-01-01' + r.arrival, r.created_at, r.updated_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::bigint[], $10::text[], $11::integer[], $12::text[], $13::integer[], $14::timestamptz[], $15::timestamptz[])
			AS r(tenant, id, property, status, stays, guest, channel, external_ref,
				total_price, currency, version, primary_room_type, arrival, created_at, updated_at)
		ON CONFLICT (tenant, id) DO UPDATE SET property = excluded.property, status = excluded.status,
			stays = excluded.stays, guest = excluded.guest, channel = excluded.channel,
			external_ref = excluded.external_ref, total_price = excluded.total_price, currency = excluded.currency,
			version = excluded.version, primary_room_type = excluded.primary_room_type, arrival = excluded.arrival,
			updated_at = excluded.updated_at`
	pgPutHoldsSQL = `INSERT INTO holds (tenant, id, room_type, property, expires_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
		ON CONFLICT (tenant, id, room_type) DO UPDATE SET property = excluded.property, expires_at = excluded.expires_at`
	pgDeleteHoldsSQL = `DELETE FROM holds h USING unnest($1::text[], $2::text[], $3::text[]) AS d(tenant, id, room_type)
		WHERE h.tenant = d.tenant AND h.id = d.id AND h.room_type = d.room_type`
	// pgCompleteSQL completes idempotency records: insert, or update an
	// in-flight record with the same request hash, or replace an expired
	// one. Any other existing record is left alone and not RETURNed.
	pgCompleteSQL = `INSERT INTO idempotency AS i (tenant, key, request_hash, status, body, created_at, expires_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bytea[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT (tenant, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
			body = excluded.body, expires_at = excluded.expires_at,
			created_at = CASE WHEN i.expires_at <= $8 THEN excluded.created_at ELSE i.created_at END
		WHERE (i.status = 0 AND i.request_hash = excluded.request_hash) OR i.expires_at <= $8
		RETURNING 1`
	pgCompleteBatchSQL = `WITH done AS (` + pgCompleteSQL + `)
		SELECT staylock_assert((SELECT count(*) FROM done) = $9, 'SLIDM', 'idempotency key already completed')`
)

// CommitBatch writes b in one transaction and one round trip: BEGIN, the
// fence check, the multi-row inserts and COMMIT go out as one pipeline.
//
// Outcomes: nil = committed. ErrFenced / ErrIdempotencyTaken = rolled back.
// ErrMaybeCommitted = the connection failed after the COMMIT may have
// reached the server (the pipeline holds it), so the caller must reload.
// Any other error = not committed.
func (s *PostgresStore) CommitBatch(ctx context.Context, b Batch) error {
	p, err := prepareBatch(b, s.now())
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit batch %s: %w", b.ActorID, err)
	}
	p.notify = p.jobArgs != nil && s.notifyDue()
	batch, commitIdx := pgBatch(p)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("commit batch %s: %w", b.ActorID, err)
	}
	defer conn.Release()

	br := conn.SendBatch(ctx, batch)
	failedAt := -1
	var execErr error
	for i := 0; i < batch.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			failedAt, execErr = i, err
			break
		}
	}
	closeErr := br.Close()
	if execErr == nil {
		// COMMIT answered OK: the batch is durable, whatever happens to the
		// connection afterwards (a late closeErr only costs the connection).
		if closeErr != nil {
			_ = conn.Conn().Close(context.Background())
		}
		return nil
	}
	return s.batchFailed(conn, p, failedAt, commitIdx, execErr)
}

// pgBatch builds the pipeline of p and returns it with the index of COMMIT.
func pgBatch(p *preparedBatch) (*pgx.Batch, int) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if p.fenced {
		b.Queue(pgActorLockSQL, p.ActorID)
		b.Queue(pgFenceSQL, p.ActorID, p.FirstSeq)
	}
	if len(p.Events) > 0 {
		b.Queue(pgJournalSQL, p.ActorID, p.FirstSeq, p.Events, p.at)
	}
	if p.Snapshot != nil {
		b.Queue(pgSnapshotSQL, p.ActorID, p.lastSeq, p.Snapshot, p.at)
		if p.TrimJournal {
			b.Queue(`DELETE FROM journal WHERE actor_id = $1 AND seq < $2`, p.ActorID, p.lastSeq)
		}
	}
	if rt := p.roomType; rt != nil {
		b.Queue(pgRoomTypeSQL, rt.Tenant, rt.Property, rt.ID, rt.Name, rt.Rooms, rt.Price, rt.CreatedAt, rt.UpdatedAt)
	}
	if n := len(p.reservations); n > 0 {
		var (
			tenant, id, property, status, stays, guest = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			channel, extRef, currency, primary         = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			total                                      = make([]int64, n)
			version, arrival                           = make([]int32, n), make([]int32, n)
			created, updated                           = make([]time.Time, n), make([]time.Time, n)
		)
		for i, r := range p.reservations {
			tenant[i], id[i], property[i], status[i], stays[i], guest[i] = r.Tenant, r.ID, r.Property, r.Status, r.staysJSON, r.guestJSON
			channel[i], extRef[i], currency[i], primary[i] = r.Channel, r.ExternalRef, r.Currency, r.Primary
			total[i], version[i], arrival[i] = r.TotalPrice, r.Version, int32(r.arrival)
			created[i], updated[i] = r.CreatedAt, r.UpdatedAt
		}
		b.Queue(pgReservationsSQL, tenant, id, property, status, stays, guest, channel, extRef,
			total, currency, version, primary, arrival, created, updated)
	}
	if n := len(p.putHolds); n > 0 {
		tenant, id, rt, property, exp := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, h := range p.putHolds {
			tenant[i], id[i], rt[i], property[i], exp[i] = h.Tenant, h.ID, h.RoomType, h.Property, h.ExpiresAt
		}
		b.Queue(pgPutHoldsSQL, tenant, id, rt, property, exp)
	}
	if n := len(p.deleteHolds); n > 0 {
		tenant, id, rt := make([]string, n), make([]string, n), make([]string, n)
		for i, h := range p.deleteHolds {
			tenant[i], id[i], rt[i] = h.Tenant, h.ID, h.RoomType
		}
		b.Queue(pgDeleteHoldsSQL, tenant, id, rt)
	}
	if n := len(p.idempotency); n > 0 {
		args := idempotencyArrays(p.idempotency)
		b.Queue(pgCompleteBatchSQL, append(args, p.at, int64(n))...)
	}
	if p.jobArgs != nil {
		b.Queue(pgJobsSQL, p.jobArgs...)
		if p.notify {
			b.Queue(pgJobsNotifySQL, p.jobNotify...)
		}
	}
	b.Queue("COMMIT")
	return b, b.Len() - 1
}

// idempotencyArrays turns records into the seven arrays of pgCompleteSQL.
func idempotencyArrays(rs []IdempotencyRecord) []any {
	n := len(rs)
	tenant, key, hash := make([]string, n), make([]string, n), make([]string, n)
	status, body := make([]int32, n), make([][]byte, n)
	created, expires := make([]time.Time, n), make([]time.Time, n)
	for i, r := range rs {
		tenant[i], key[i], hash[i], status[i], body[i] = r.Tenant, r.Key, r.RequestHash, int32(r.Status), r.Body
		created[i], expires[i] = r.CreatedAt, r.ExpiresAt
	}
	return []any{tenant, key, hash, status, body, created, expires}
}

// batchFailed classifies the error of statement failedAt of a CommitBatch
// pipeline, and cleans the connection up.
func (s *PostgresStore) batchFailed(conn *pgxpool.Conn, p *preparedBatch, failedAt, commitIdx int, err error) error {
	what := fmt.Sprintf("commit batch %s seq %d..%d", p.ActorID, p.FirstSeq, p.lastSeq)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (failedAt < commitIdx || pgErr.Severity == "ERROR"):
		// The server refused a statement (before COMMIT ran) or refused
		// COMMIT itself with a plain ERROR: the transaction is rolled back.
		// A FATAL/PANIC during COMMIT (backend terminated while committing,
		// e.g. waiting for a synchronous standby) is not proof of either.
		s.rollback(conn)
		switch {
		case pgErr.Code == pgCodeFenced,
			pgErr.Code == pgCodeUniqueViolation && pgErr.ConstraintName == pgJournalPrimaryKey:
			return fmt.Errorf("%s: %w (%s)", what, ErrFenced, pgErr.Message)
		case pgErr.Code == pgCodeIdempotency:
			return fmt.Errorf("%s: %w", what, ErrIdempotencyTaken)
		}
		return fmt.Errorf("%s: %w", what, pgDataError(err))
	case !errors.As(err, &pgErr) && pgconn.SafeToRetry(err):
		// Nothing was sent.
		return fmt.Errorf("%s: %w", what, err)
	default:
		// The pipeline, COMMIT included, may have reached the server, and
		// the connection failed (lost, or closed by a cancelled context)
		// before COMMIT answered.
		_ = conn.Conn().Close(context.Background())
		return fmt.Errorf("%s: %w: %w", what, ErrMaybeCommitted, err)
	}
}

// rollback ends the aborted transaction a failed pipeline leaves behind, or
// closes the connection when that fails; the pool then drops it.
func (s *PostgresStore) rollback(conn *pgxpool.Conn) {
	pc := conn.Conn().PgConn()
	if pc.IsClosed() || pc.TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
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
