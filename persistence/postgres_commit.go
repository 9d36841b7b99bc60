package persistence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The statements of a commit. Each takes whole arrays (unnest), so one
// transaction is a fixed, small number of statements whatever it holds,
// for one actor's batch or for the batches of many actors joined
// (CommitBatches), sent in one pipeline (one round trip) between BEGIN and
// COMMIT.
const (
	// pgActorLockSQL serialises the commits of each actor, so that the
	// fence check that follows (a statement of its own, hence a snapshot
	// taken after the locks) sees every batch committed before: a stale
	// activation's batch is refused even when it has no events. The actor
	// ids come sorted, so two joined transactions take their common locks
	// in one order. Activations that race anyway also meet the journal's
	// primary key.
	pgActorLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended(a, 0)) FROM unnest($1::text[]) AS a`
	pgFenceSQL     = `SELECT staylock_assert(j.last = f.first - 1, 'SLFNC',
		format('actor %s fenced: batch starts at seq %s but the journal ends at %s', f.actor_id, f.first, j.last))
		FROM unnest($1::text[], $2::bigint[]) AS f(actor_id, first)
		CROSS JOIN LATERAL (SELECT COALESCE(max(seq), 0) AS last FROM journal WHERE actor_id = f.actor_id) j`
	pgJournalSQL = `INSERT INTO journal (actor_id, seq, data, at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[])`
	pgSnapshotSQL = `INSERT INTO snapshots (actor_id, seq, data, at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::timestamptz[])
		ON CONFLICT (actor_id) DO UPDATE SET seq = excluded.seq, data = excluded.data, at = excluded.at
		WHERE snapshots.seq <= excluded.seq`
	pgTrimJournalSQL = `DELETE FROM journal j USING unnest($1::text[], $2::bigint[]) AS t(actor_id, seq)
		WHERE j.actor_id = t.actor_id AND j.seq < t.seq`
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
	return s.commit(ctx, []*preparedBatch{p})
}

// CommitBatches joins the batches of many actors into one transaction, in
// one round trip, with the same statements as one batch (their arrays
// hold every batch's rows): one transaction, one WAL flush and about ten
// statements for them all, where committing each alone costs as many. A
// batch the database refuses (fenced, a key already completed, data it
// cannot store) aborts the joined transaction, which then wrote nothing;
// the batches are then committed each alone, in order, so that only the
// refused one fails and each gets the outcome CommitBatch would give it.
// An unknown COMMIT outcome is unknown for all of them.
func (s *PostgresStore) CommitBatches(ctx context.Context, bs []Batch) []error {
	errs := make([]error, len(bs))
	ps, at := prepareBatches(bs, s.now(), errs)
	switch len(ps) {
	case 0:
		return errs
	case 1:
		errs[at[0]] = s.commit(ctx, ps)
		return errs
	}
	err := s.commit(ctx, ps)
	if errors.Is(err, errJoinRefused) {
		for _, i := range at {
			errs[i] = s.CommitBatch(ctx, bs[i])
		}
		return errs
	}
	for _, i := range at {
		errs[i] = err
	}
	return errs
}

// errJoinRefused: the database refused a statement of a joined
// transaction, which it rolled back; which batch it was is not known.
var errJoinRefused = errors.New("joined commit refused by the database")

// commit writes ps in one transaction.
func (s *PostgresStore) commit(ctx context.Context, ps []*preparedBatch) error {
	what := describe(ps)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	notify := slices.ContainsFunc(ps, func(p *preparedBatch) bool { return len(p.pgJobs) > 0 }) && s.notifyDue()
	batch, commitIdx := pgBatch(ps, notify)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
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
	return s.commitFailed(conn, what, len(ps) > 1, failedAt, commitIdx, execErr)
}

// describe names the batches of one transaction in errors.
func describe(ps []*preparedBatch) string {
	if len(ps) == 1 {
		return fmt.Sprintf("commit batch %s seq %d..%d", ps[0].ActorID, ps[0].FirstSeq, ps[0].lastSeq)
	}
	return fmt.Sprintf("joined commit of %d batches (%s …)", len(ps), ps[0].ActorID)
}

// pgBatch builds the pipeline of ps and returns it with the index of
// COMMIT. Rows are sorted by key across the batches, so that concurrent
// transactions lock them in one order.
func pgBatch(ps []*preparedBatch, notify bool) (*pgx.Batch, int) {
	var (
		lockIDs, fenceIDs, eventIDs, snapIDs, trimIDs []string
		fenceFirst, eventSeqs, snapSeqs, trimSeqs     []int64
		events, snaps                                 [][]byte
		eventAt, snapAt                               []time.Time
		reservations                                  []reservationRow
		putHolds, deleteHolds                         []HoldRow
		idempotency                                   []IdempotencyRecord
		jobs                                          []pgJob
	)
	at := ps[0].at
	for _, p := range ps {
		if p.at.Before(at) {
			at = p.at // the oldest clock: expired keys are replaced no sooner
		}
		if p.fenced {
			lockIDs = append(lockIDs, p.ActorID)
			fenceIDs, fenceFirst = append(fenceIDs, p.ActorID), append(fenceFirst, p.FirstSeq)
		}
		for i, e := range p.Events {
			eventIDs, eventSeqs = append(eventIDs, p.ActorID), append(eventSeqs, p.FirstSeq+int64(i))
			events, eventAt = append(events, e), append(eventAt, p.at)
		}
		if p.Snapshot != nil {
			snapIDs, snapSeqs = append(snapIDs, p.ActorID), append(snapSeqs, p.lastSeq)
			snaps, snapAt = append(snaps, p.Snapshot), append(snapAt, p.at)
			if p.TrimJournal {
				trimIDs, trimSeqs = append(trimIDs, p.ActorID), append(trimSeqs, p.lastSeq)
			}
		}
		reservations = append(reservations, p.reservations...)
		putHolds = append(putHolds, p.putHolds...)
		deleteHolds = append(deleteHolds, p.deleteHolds...)
		idempotency = append(idempotency, p.idempotency...)
		jobs = append(jobs, p.pgJobs...)
	}
	if len(ps) > 1 {
		slices.Sort(lockIDs)
		lockIDs = slices.Compact(lockIDs)
		slices.SortStableFunc(reservations, func(a, b reservationRow) int {
			return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ID, b.ID))
		})
		slices.SortStableFunc(putHolds, compareHolds)
		slices.SortStableFunc(deleteHolds, compareHolds)
		slices.SortStableFunc(idempotency, func(a, b IdempotencyRecord) int {
			return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Key, b.Key))
		})
	}

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if len(lockIDs) > 0 {
		b.Queue(pgActorLockSQL, lockIDs)
		b.Queue(pgFenceSQL, fenceIDs, fenceFirst)
	}
	if len(events) > 0 {
		b.Queue(pgJournalSQL, eventIDs, eventSeqs, events, eventAt)
	}
	if len(snaps) > 0 {
		b.Queue(pgSnapshotSQL, snapIDs, snapSeqs, snaps, snapAt)
	}
	if len(trimIDs) > 0 {
		b.Queue(pgTrimJournalSQL, trimIDs, trimSeqs)
	}
	for _, p := range ps {
		if rt := p.roomType; rt != nil {
			b.Queue(pgRoomTypeSQL, rt.Tenant, rt.Property, rt.ID, rt.Name, rt.Rooms, rt.Price, rt.CreatedAt, rt.UpdatedAt)
		}
	}
	if len(reservations) > 0 {
		b.Queue(pgReservationsSQL, reservationArrays(reservations)...)
	}
	if n := len(putHolds); n > 0 {
		tenant, id, rt, property, exp := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, h := range putHolds {
			tenant[i], id[i], rt[i], property[i], exp[i] = h.Tenant, h.ID, h.RoomType, h.Property, h.ExpiresAt
		}
		b.Queue(pgPutHoldsSQL, tenant, id, rt, property, exp)
	}
	if n := len(deleteHolds); n > 0 {
		tenant, id, rt := make([]string, n), make([]string, n), make([]string, n)
		for i, h := range deleteHolds {
			tenant[i], id[i], rt[i] = h.Tenant, h.ID, h.RoomType
		}
		b.Queue(pgDeleteHoldsSQL, tenant, id, rt)
	}
	if n := len(idempotency); n > 0 {
		args := idempotencyArrays(idempotency)
		b.Queue(pgCompleteBatchSQL, append(args, at, int64(n))...)
	}
	if len(jobs) > 0 {
		insert, wake := pgJobArgs(jobs, at)
		b.Queue(pgJobsSQL, insert...)
		if notify {
			b.Queue(pgJobsNotifySQL, wake...)
		}
	}
	b.Queue("COMMIT")
	return b, b.Len() - 1
}

// reservationArrays turns rows into the fifteen arrays of pgReservationsSQL.
func reservationArrays(rows []reservationRow) []any {
	n := len(rows)
	var (
		tenant, id, property, status, stays, guest = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		channel, extRef, currency, primary         = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		total                                      = make([]int64, n)
		version, arrival                           = make([]int32, n), make([]int32, n)
		created, updated                           = make([]time.Time, n), make([]time.Time, n)
	)
	for i, r := range rows {
		tenant[i], id[i], property[i], status[i], stays[i], guest[i] = r.Tenant, r.ID, r.Property, r.Status, r.staysJSON, r.guestJSON
		channel[i], extRef[i], currency[i], primary[i] = r.Channel, r.ExternalRef, r.Currency, r.Primary
		total[i], version[i], arrival[i] = r.TotalPrice, r.Version, int32(r.arrival)
		created[i], updated[i] = r.CreatedAt, r.UpdatedAt
	}
	return []any{tenant, id, property, status, stays, guest, channel, extRef, total, currency, version, primary, arrival, created, updated}
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

// commitFailed classifies the error of statement failedAt of a commit
// pipeline, and cleans the connection up. joined: the pipeline held the
// batches of several actors, so a refusal cannot be pinned on one of them.
func (s *PostgresStore) commitFailed(conn *pgxpool.Conn, what string, joined bool, failedAt, commitIdx int, err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (failedAt < commitIdx || pgErr.Severity == "ERROR"):
		// The server refused a statement (before COMMIT ran) or refused
		// COMMIT itself with a plain ERROR: the transaction is rolled back.
		// A FATAL/PANIC during COMMIT (backend terminated while committing,
		// e.g. waiting for a synchronous standby) is not proof of either.
		s.rollback(conn)
		switch {
		case joined:
			return fmt.Errorf("%s: %w: %w", what, errJoinRefused, err)
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
