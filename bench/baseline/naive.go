package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// naiveHorizon is how many nights from yesterday (UTC) a room type's
// night rows cover; they are written when the room type is put, the way
// an inventory table is usually filled. Nights beyond are not for sale.
const naiveHorizon = 500

// naiveSchema is the whole schema; every table starts with baseline_ so
// that it can share a database with Staylock.
const naiveSchema = `
CREATE TABLE IF NOT EXISTS baseline_properties (
	id text PRIMARY KEY, name text NOT NULL, timezone text NOT NULL, currency text NOT NULL);
CREATE TABLE IF NOT EXISTS baseline_room_types (
	property text NOT NULL REFERENCES baseline_properties, id text NOT NULL,
	name text NOT NULL, rooms int NOT NULL, price bigint NOT NULL, PRIMARY KEY (property, id));
CREATE TABLE IF NOT EXISTS baseline_nights (
	property text NOT NULL, room_type text NOT NULL, night int NOT NULL,
	total int NOT NULL, booked int NOT NULL DEFAULT 0, PRIMARY KEY (property, room_type, night));
CREATE TABLE IF NOT EXISTS baseline_reservations (
	seq bigserial UNIQUE, id text PRIMARY KEY, property text NOT NULL, status text NOT NULL,
	stays jsonb NOT NULL, guest jsonb NOT NULL, channel text NOT NULL, external_ref text NOT NULL,
	total_price bigint NOT NULL, currency text NOT NULL, version int NOT NULL,
	created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS baseline_reservations_property ON baseline_reservations (property, seq);
CREATE TABLE IF NOT EXISTS baseline_idempotency (
	key text PRIMARY KEY, hash text NOT NULL, reservation text NOT NULL);
`

// Naive is the engine most teams write: Postgres, one transaction per
// booking that locks the night rows with SELECT … FOR UPDATE, checks,
// updates them and inserts the reservation.
type Naive struct {
	pool *pgxpool.Pool
}

// OpenNaive connects to dbURL and creates the schema. pool_max_conns may
// be given in the URL; the default is 16.
func OpenNaive(ctx context.Context, dbURL string) (*Naive, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse the database URL: %w", err)
	}
	if !strings.Contains(dbURL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if _, err := pool.Exec(ctx, naiveSchema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("create the schema: %w", err)
	}
	return &Naive{pool: pool}, nil
}

// Close closes the pool.
func (n *Naive) Close() { n.pool.Close() }

// PutProperty implements Engine.
func (n *Naive) PutProperty(ctx context.Context, p Property) (bool, error) {
	var inserted bool
	err := n.pool.QueryRow(ctx, `INSERT INTO baseline_properties (id, name, timezone, currency) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, currency = EXCLUDED.currency
		RETURNING xmax = 0`, p.ID, p.Name, p.Timezone, p.Currency).Scan(&inserted)
	if err != nil {
		return false, fmt.Errorf("put property: %w", err)
	}
	return inserted, nil
}

// PutRoomType implements Engine: the room type and its night rows over the
// horizon, in one transaction; fewer rooms than booked is a conflict.
func (n *Naive) PutRoomType(ctx context.Context, property string, rt RoomType) (created bool, err error) {
	err = pgx.BeginFunc(ctx, n.pool, func(tx pgx.Tx) error {
		if !n.propertyExists(ctx, tx, property) {
			return notFound("property %s", property)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO baseline_room_types (property, id, name, rooms, price) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (property, id) DO UPDATE SET name = EXCLUDED.name, rooms = EXCLUDED.rooms, price = EXCLUDED.price
			RETURNING xmax = 0`, property, rt.ID, rt.Name, rt.Rooms, rt.Price).Scan(&created); err != nil {
			return fmt.Errorf("put room type: %w", err)
		}
		first := DateOf(time.Now()) - 1
		if _, err := tx.Exec(ctx, `INSERT INTO baseline_nights (property, room_type, night, total)
			SELECT $1, $2, d, $3 FROM generate_series($4::int, $5::int) d
			ON CONFLICT (property, room_type, night) DO UPDATE SET total = EXCLUDED.total`,
			property, rt.ID, rt.Rooms, int32(first), int32(first)+naiveHorizon-1); err != nil {
			return fmt.Errorf("put nights: %w", err)
		}
		var over int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM baseline_nights WHERE property = $1 AND room_type = $2 AND booked > total`,
			property, rt.ID).Scan(&over); err != nil {
			return fmt.Errorf("check nights: %w", err)
		}
		if over > 0 {
			return &Error{Code: "conflict", Message: fmt.Sprintf("%d nights have more rooms booked than %d", over, rt.Rooms)}
		}
		return nil
	})
	return created, err
}

func (n *Naive) propertyExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, property string) bool {
	var one int
	return q.QueryRow(ctx, `SELECT 1 FROM baseline_properties WHERE id = $1`, property).Scan(&one) == nil
}

// RoomTypes implements Engine.
func (n *Naive) RoomTypes(ctx context.Context, property string) ([]RoomType, error) {
	if !n.propertyExists(ctx, n.pool, property) {
		return nil, notFound("property %s", property)
	}
	rows, err := n.pool.Query(ctx, `SELECT id, name, rooms, price FROM baseline_room_types WHERE property = $1 ORDER BY id`, property)
	if err != nil {
		return nil, fmt.Errorf("list room types: %w", err)
	}
	rts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RoomType])
	if err != nil {
		return nil, fmt.Errorf("list room types: %w", err)
	}
	return rts, nil
}

// Book implements Engine: one transaction. A duplicate Idempotency-Key
// waits on the first one's row and then replays its reservation.
func (n *Naive) Book(ctx context.Context, b NewBooking) (Reservation, bool, error) {
	for attempt := 0; ; attempt++ {
		r, replay, err := n.book(ctx, b)
		var pe *pgconn.PgError
		if attempt < 3 && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue // deadlock or serialization failure: nothing was written
		}
		return r, replay, err
	}
}

func (n *Naive) book(ctx context.Context, b NewBooking) (r Reservation, replay bool, err error) {
	r = b.R
	tx, err := n.pool.Begin(ctx)
	if err != nil {
		return r, false, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after the commit

	if b.Key != "" {
		tag, err := tx.Exec(ctx, `INSERT INTO baseline_idempotency (key, hash, reservation) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO NOTHING`, b.Key, b.Hash, r.ID)
		if err != nil {
			return r, false, fmt.Errorf("insert idempotency key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			_ = tx.Rollback(ctx)
			return n.replay(ctx, b)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT currency FROM baseline_properties WHERE id = $1`, r.Property).Scan(&r.Currency); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return r, false, notFound("property %s", r.Property)
		}
		return r, false, fmt.Errorf("read property: %w", err)
	}
	rts := make([]string, len(b.Needs))
	nights := make([]int32, len(b.Needs))
	qs := make([]int32, len(b.Needs))
	for i, nd := range b.Needs {
		rts[i], nights[i], qs[i] = nd.RoomType, int32(nd.Night), int32(nd.Quantity)
	}
	prices := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT id, price FROM baseline_room_types WHERE property = $1 AND id = ANY($2)`, r.Property, rts)
	if err != nil {
		return r, false, fmt.Errorf("read room types: %w", err)
	}
	var id string
	var price int64
	_, err = pgx.ForEachRow(rows, []any{&id, &price}, func() error { prices[id] = price; return nil })
	if err != nil {
		return r, false, fmt.Errorf("read room types: %w", err)
	}
	for _, nd := range b.Needs {
		if _, ok := prices[nd.RoomType]; !ok {
			return r, false, notFound("room type %s/%s", r.Property, nd.RoomType)
		}
		r.TotalPrice += prices[nd.RoomType] * int64(nd.Quantity)
	}

	// Lock the nights in one order (room type, night), so two bookings
	// never wait for each other in a circle.
	rows, err = tx.Query(ctx, `SELECT n.room_type, n.night, n.total, n.booked
		FROM baseline_nights n JOIN unnest($2::text[], $3::int[]) AS d(room_type, night)
		  ON n.room_type = d.room_type AND n.night = d.night
		WHERE n.property = $1 ORDER BY n.room_type, n.night FOR UPDATE OF n`, r.Property, rts, nights)
	if err != nil {
		return r, false, fmt.Errorf("lock nights: %w", err)
	}
	type key struct {
		rt string
		d  int32
	}
	have := map[key][2]int32{}
	var rt string
	var d, total, booked int32
	if _, err := pgx.ForEachRow(rows, []any{&rt, &d, &total, &booked}, func() error {
		have[key{rt, d}] = [2]int32{total, booked}
		return nil
	}); err != nil {
		return r, false, fmt.Errorf("lock nights: %w", err)
	}
	var short []Date
	var shortRT string
	for _, nd := range b.Needs {
		tb, ok := have[key{nd.RoomType, int32(nd.Night)}]
		if !ok {
			return r, false, &Error{Code: "restricted", Message: fmt.Sprintf("%s is not for sale (beyond the inventory horizon)", nd.Night)}
		}
		if tb[1]+int32(nd.Quantity) > tb[0] && (shortRT == "" || shortRT == nd.RoomType) {
			shortRT = nd.RoomType
			short = append(short, nd.Night)
		}
	}
	if short != nil {
		return r, false, soldOut(shortRT, short)
	}
	if _, err := tx.Exec(ctx, `UPDATE baseline_nights n SET booked = n.booked + d.q
		FROM unnest($2::text[], $3::int[], $4::int[]) AS d(room_type, night, q)
		WHERE n.property = $1 AND n.room_type = d.room_type AND n.night = d.night`, r.Property, rts, nights, qs); err != nil {
		return r, false, fmt.Errorf("update nights: %w", err)
	}
	stays, _ := json.Marshal(r.Stays)
	guest, _ := json.Marshal(r.Guest)
	if _, err := tx.Exec(ctx, `INSERT INTO baseline_reservations (id, property, status, stays, guest, channel, external_ref,
		total_price, currency, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.ID, r.Property, r.Status, stays, guest, r.Channel, r.ExternalRef, r.TotalPrice, r.Currency, r.Version,
		r.CreatedAt, r.UpdatedAt); err != nil {
		return r, false, fmt.Errorf("insert reservation: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return r, false, fmt.Errorf("commit: %w", err)
	}
	return r, false, nil
}

// replay answers a create whose Idempotency-Key is already used.
func (n *Naive) replay(ctx context.Context, b NewBooking) (Reservation, bool, error) {
	var hash, id string
	if err := n.pool.QueryRow(ctx, `SELECT hash, reservation FROM baseline_idempotency WHERE key = $1`, b.Key).Scan(&hash, &id); err != nil {
		return Reservation{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if hash != b.Hash {
		return Reservation{}, false, keyReused()
	}
	r, err := n.Reservation(ctx, id)
	return r, true, err
}

const naiveColumns = `id, property, status, stays, guest, channel, external_ref, total_price, currency, version, created_at, updated_at, seq`

func scanReservation(row pgx.Row) (Reservation, int64, error) {
	var r Reservation
	var stays, guest []byte
	var seq int64
	err := row.Scan(&r.ID, &r.Property, &r.Status, &stays, &guest, &r.Channel, &r.ExternalRef, &r.TotalPrice,
		&r.Currency, &r.Version, &r.CreatedAt, &r.UpdatedAt, &seq)
	if err != nil {
		return r, 0, err
	}
	if err := json.Unmarshal(stays, &r.Stays); err != nil {
		return r, 0, fmt.Errorf("decode stays: %w", err)
	}
	if err := json.Unmarshal(guest, &r.Guest); err != nil {
		return r, 0, fmt.Errorf("decode guest: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, seq, nil
}

// Reservation implements Engine.
func (n *Naive) Reservation(ctx context.Context, id string) (Reservation, error) {
	r, _, err := scanReservation(n.pool.QueryRow(ctx, `SELECT `+naiveColumns+` FROM baseline_reservations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, notFound("reservation %s", id)
	}
	if err != nil {
		return r, fmt.Errorf("read reservation: %w", err)
	}
	return r, nil
}

// Reservations implements Engine; the cursor is the last seq seen.
func (n *Naive) Reservations(ctx context.Context, property, cursor string, limit int) ([]Reservation, string, error) {
	after := int64(0)
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil {
			return nil, "", invalid("cursor", "not a cursor of this listing")
		}
		after = v
	}
	if !n.propertyExists(ctx, n.pool, property) {
		return nil, "", notFound("property %s", property)
	}
	rows, err := n.pool.Query(ctx, `SELECT `+naiveColumns+` FROM baseline_reservations
		WHERE property = $1 AND seq > $2 ORDER BY seq LIMIT $3`, property, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	defer rows.Close()
	var out []Reservation
	var last int64
	for rows.Next() {
		if len(out) == limit {
			return out, strconv.FormatInt(last, 10), nil
		}
		r, seq, err := scanReservation(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list reservations: %w", err)
		}
		out, last = append(out, r), seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list reservations: %w", err)
	}
	return out, "", nil
}

// Availability implements Engine. Nights without a row (beyond the
// horizon) read as 0 rooms.
func (n *Naive) Availability(ctx context.Context, property string, from, to Date, roomType string) ([]RoomTypeNights, error) {
	rts, err := n.RoomTypes(ctx, property)
	if err != nil {
		return nil, err
	}
	rows, err := n.pool.Query(ctx, `SELECT room_type, night, total, booked FROM baseline_nights
		WHERE property = $1 AND night >= $2 AND night < $3 AND ($4 = '' OR room_type = $4)`,
		property, int32(from), int32(to), roomType)
	if err != nil {
		return nil, fmt.Errorf("read nights: %w", err)
	}
	type key struct {
		rt string
		d  Date
	}
	have := map[key][2]int{}
	var rt string
	var d, total, booked int32
	if _, err := pgx.ForEachRow(rows, []any{&rt, &d, &total, &booked}, func() error {
		have[key{rt, Date(d)}] = [2]int{int(total), int(booked)}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read nights: %w", err)
	}
	out := []RoomTypeNights{}
	for _, t := range rts {
		if roomType != "" && t.ID != roomType {
			continue
		}
		rn := RoomTypeNights{RoomType: t.ID, Nights: make([]Night, 0, to-from)}
		for d := from; d < to; d++ {
			tb := have[key{t.ID, d}]
			rn.Nights = append(rn.Nights, night(d, tb[0], tb[1], t.Price))
		}
		out = append(out, rn)
	}
	if roomType != "" && len(out) == 0 {
		return nil, notFound("room type %s/%s", property, roomType)
	}
	return out, nil
}
