package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
	"github.com/staylock/staylock/persistence/storetest"
)

// newPostgres returns a migrated store on a fresh database, and its URL.
func newPostgres(t testing.TB) (persistence.Store, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	if _, err := persistence.MigrateUp(ctx, url, ""); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	s, err := persistence.Open(ctx, url, "")
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	// Registered after the database's cleanup, so it runs before the drop.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close postgres: %v", err)
		}
	})
	return s, url
}

func TestPostgresStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		s, _ := newPostgres(t)
		return s
	})
}

// blockSeq1 starts a transaction on its own connection that inserts seq 1
// of actor without committing, so that a CommitBatch of seq 1 passes the
// fence check and then waits on the journal's primary key.
func blockSeq1(t *testing.T, url, actor string) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO journal (actor_id, seq, data, at) VALUES ($1, 1, '\x00', now())`, actor); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitForBackends polls, on a connection of its own (a transaction sees a
// frozen pg_stat_activity), until some other client backend of the database
// waits for a lock (waiting=true) or until none is active (waiting=false).
func waitForBackends(t *testing.T, url string, waiting bool) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	q := `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND backend_type = 'client backend' AND state = 'active'`
	if waiting {
		q += ` AND wait_event_type = 'Lock'`
	}
	what := "no other active backend"
	if waiting {
		what = "another backend to wait for a lock"
	}
	poll.EventuallyNil(t, 10*time.Second, what, func() error {
		var n int
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (waiting && n > 0) || (!waiting && n == 0) {
			return nil
		}
		return fmt.Errorf("%d matching backends", n)
	})
}

func fencedTestBatch(actor string) persistence.Batch {
	return persistence.Batch{ActorID: actor, FirstSeq: 1, Events: [][]byte{[]byte(`{}`)}, At: time.Now(),
		Reservations: []booking.Reservation{{Tenant: "acme", ID: "r1", Property: "p1", Status: booking.StatusConfirmed,
			Stays: []booking.Stay{{RoomType: "dlx", Arrival: 20800, Departure: 20801, Quantity: 1}}, Guest: booking.Guest{Name: "A"},
			Currency: "EUR", Version: 1, Primary: "dlx"}},
		Idempotency: []persistence.IdempotencyRecord{{Tenant: "acme", Key: "k1", RequestHash: "h", Status: 201, ExpiresAt: time.Now().Add(time.Hour)}},
	}
}

// Two activations that both pass the fence check race on the journal's
// primary key: the loser gets ErrFenced and writes nothing.
func TestPostgresFenceRaceOnPrimaryKey(t *testing.T) {
	s, url := newPostgres(t)
	ctx := context.Background()
	const actor = "acme/p1/dlx"
	tx := blockSeq1(t, url, actor)
	done := make(chan error, 1)
	go func() { done <- s.CommitBatch(ctx, fencedTestBatch(actor)) }()
	waitForBackends(t, url, true)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("losing batch: %v, want ErrFenced", err)
	}
	if _, err := s.GetReservation(ctx, "acme", "r1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("reservation of the losing batch: %v, want ErrNotFound", err)
	}
	if _, err := s.GetIdempotency(ctx, "acme", "k1"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("idempotency record of the losing batch: %v, want ErrNotFound", err)
	}
	// The pool still works after the failed pipeline.
	for i := range 10 {
		if _, err := s.SetMaintenance(ctx, persistence.Maintenance{RetryAfter: i}); err != nil {
			t.Fatal(err)
		}
	}
}

// A connection cut while the pipeline (COMMIT included) is at the server is
// ErrMaybeCommitted: here the server goes on and may commit after the
// client gave up. Whatever happened, it happened atomically.
func TestPostgresCutOffCommitIsMaybeCommitted(t *testing.T) {
	s, url := newPostgres(t)
	ctx := context.Background()
	const actor = "acme/p1/dlx"
	tx := blockSeq1(t, url, actor)
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := s.CommitBatch(cctx, fencedTestBatch(actor))
	if !errors.Is(err, persistence.ErrMaybeCommitted) {
		t.Fatalf("batch cut off by its context: %v, want ErrMaybeCommitted", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitForBackends(t, url, false)
	seq, err := s.LastSeq(ctx, actor)
	if err != nil {
		t.Fatal(err)
	}
	_, resErr := s.GetReservation(ctx, "acme", "r1")
	_, idemErr := s.GetIdempotency(ctx, "acme", "k1")
	committed := seq == 1
	if committed != (resErr == nil) || committed != (idemErr == nil) {
		t.Fatalf("half a batch: last seq %d, reservation %v, idempotency %v", seq, resErr, idemErr)
	}
	t.Logf("the server committed the abandoned batch: %v", committed)
}

// A context that is done before anything is sent is a plain error.
func TestPostgresCancelledBeforeSendIsNotCommitted(t *testing.T) {
	s, _ := newPostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.CommitBatch(ctx, fencedTestBatch("acme/p1/dlx"))
	if err == nil || errors.Is(err, persistence.ErrMaybeCommitted) {
		t.Fatalf("cancelled batch: %v, want a plain error", err)
	}
	if seq, err := s.LastSeq(context.Background(), "acme/p1/dlx"); err != nil || seq != 0 {
		t.Fatalf("last seq %d, %v; want 0", seq, err)
	}
}

// TestPostgresUnstorableTextIsInvalidData: Postgres cannot store NUL in
// text or "\u0000" in jsonb, and refuses the whole transaction. That is the
// data's fault, not an outage: CommitBatch says ErrInvalidData (and not
// fenced, not maybe-committed), writes nothing of the batch, and the same
// seq commits right after without the bad row.
func TestPostgresUnstorableTextIsInvalidData(t *testing.T) {
	s, _ := newPostgres(t)
	ctx := t.Context()
	now := time.Now().UTC()
	good := booking.Reservation{Tenant: "acme", ID: "r_good", Property: "p1", Status: booking.StatusConfirmed,
		Stays:   []booking.Stay{{RoomType: "dlx", Arrival: booking.DateOf(now) + 30, Departure: booking.DateOf(now) + 31, Quantity: 1}},
		Guest:   booking.Guest{Name: "Ada"},
		Channel: "direct", Currency: "EUR", Version: 1, Primary: "dlx", CreatedAt: now, UpdatedAt: now}
	cases := map[string]func(r *booking.Reservation){
		"NUL in a text column":       func(r *booking.Reservation) { r.ExternalRef = "A\x00B" },
		"invalid UTF-8 in text":      func(r *booking.Reservation) { r.ExternalRef = "A\xffB" },
		"NUL in jsonb (guest name)":  func(r *booking.Reservation) { r.Guest.Name = "A\x00B" },
		"NUL in jsonb (guest phone)": func(r *booking.Reservation) { r.Guest.Phone = "\x00" },
		"NUL in the channel (text)":  func(r *booking.Reservation) { r.Channel = "x\x00" },
	}
	seq := int64(1)
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			bad := good
			bad.ID = "r_bad"
			edit(&bad)
			err := s.CommitBatch(ctx, persistence.Batch{ActorID: "acme/p1/dlx", FirstSeq: seq,
				Events: [][]byte{[]byte(`{"kind":"booked"}`), []byte(`{"kind":"booked"}`)}, Reservations: []booking.Reservation{good, bad}})
			if !errors.Is(err, persistence.ErrInvalidData) || errors.Is(err, persistence.ErrFenced) || errors.Is(err, persistence.ErrMaybeCommitted) {
				t.Fatalf("commit with %s: %v, want ErrInvalidData alone", name, err)
			}
			if last, err := s.LastSeq(ctx, "acme/p1/dlx"); err != nil || last != seq-1 {
				t.Fatalf("journal at %d (%v) after a refused batch, want %d", last, err, seq-1)
			}
			if _, err := s.GetReservation(ctx, "acme", "r_bad"); !errors.Is(err, persistence.ErrNotFound) {
				t.Fatalf("the bad row was stored: %v", err)
			}
			g := good
			g.ID = fmt.Sprintf("r_good_%d", seq)
			if err := s.CommitBatch(ctx, persistence.Batch{ActorID: "acme/p1/dlx", FirstSeq: seq,
				Events: [][]byte{[]byte(`{"kind":"booked"}`)}, Reservations: []booking.Reservation{g}}); err != nil {
				t.Fatalf("the same seq without the bad row: %v", err)
			}
			seq++
		})
	}
	_, _, err := s.PutProperty(ctx, booking.Property{Tenant: "acme", ID: "p9", Name: "A\x00B", Timezone: "UTC", Currency: "EUR"})
	if !errors.Is(err, persistence.ErrInvalidData) {
		t.Fatalf("property with NUL in its name: %v, want ErrInvalidData", err)
	}
}
