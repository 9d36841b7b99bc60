package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staylock/staylock/persistence"
)

// joinedTestBatches are n one-event batches of n actors, each with a
// reservation r<i> and a completed key k<i>.
func joinedTestBatches(n int) []persistence.Batch {
	bs := make([]persistence.Batch, n)
	for i := range bs {
		b := fencedTestBatch(fmt.Sprintf("acme/p1/rt%d", i))
		b.Reservations[0].ID = fmt.Sprintf("r%d", i)
		b.Idempotency[0].Key = fmt.Sprintf("k%d", i)
		bs[i] = b
	}
	return bs
}

// TestPostgresJoinedCommitIsOneTransaction: the batches of a joined commit
// are written by one transaction (one xmin for all their rows), which is
// the point of joining them.
func TestPostgresJoinedCommitIsOneTransaction(t *testing.T) {
	s, url := newPostgres(t)
	ctx := t.Context()
	for i, err := range s.CommitBatches(ctx, joinedTestBatches(8)) {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var journalTx, reservationTx, rows int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT xmin::text), count(*) FROM journal`).Scan(&journalTx, &rows); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM reservations`).Scan(&reservationTx); err != nil {
		t.Fatal(err)
	}
	if rows != 8 || journalTx != 1 || reservationTx != 1 {
		t.Fatalf("%d journal rows written by %d transactions, reservations by %d; want 8 rows by 1", rows, journalTx, reservationTx)
	}
}

// TestPostgresJoinedUnstorableBatchFailsAlone: Postgres refuses the joined
// transaction for one batch's data; that batch alone gets ErrInvalidData
// and the others commit.
func TestPostgresJoinedUnstorableBatchFailsAlone(t *testing.T) {
	s, _ := newPostgres(t)
	ctx := t.Context()
	bs := joinedTestBatches(5)
	bs[2].Reservations[0].Guest.Name = "A\x00B"
	errs := s.CommitBatches(ctx, bs)
	for i, err := range errs {
		want := error(nil)
		if i == 2 {
			want = persistence.ErrInvalidData
		}
		if (want == nil && err != nil) || (want != nil && (!errors.Is(err, want) || errors.Is(err, persistence.ErrMaybeCommitted))) {
			t.Fatalf("batch %d: %v, want %v", i, err, want)
		}
		seq, err := s.LastSeq(ctx, bs[i].ActorID)
		if err != nil || (i == 2) != (seq == 0) {
			t.Fatalf("batch %d: journal at %d (%v) after the joined commit", i, seq, err)
		}
		_, err = s.GetReservation(ctx, "acme", fmt.Sprintf("r%d", i))
		if (i == 2) != errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("reservation of batch %d: %v", i, err)
		}
	}
}

// TestPostgresJoinedCutOffCommitIsMaybeCommittedForAll: a joined
// transaction cut off at the server is unknown for every batch in it, and
// whatever happened happened to all of them.
func TestPostgresJoinedCutOffCommitIsMaybeCommittedForAll(t *testing.T) {
	s, url := newPostgres(t)
	ctx := context.Background()
	bs := joinedTestBatches(4)
	tx := blockSeq1(t, url, bs[3].ActorID) // the last batch waits on the journal's key
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for i, err := range s.CommitBatches(cctx, bs) {
		if !errors.Is(err, persistence.ErrMaybeCommitted) {
			t.Fatalf("batch %d of the cut-off joined commit: %v, want ErrMaybeCommitted", i, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitForBackends(t, url, false)
	var committed []bool
	for i, b := range bs {
		seq, err := s.LastSeq(ctx, b.ActorID)
		if err != nil {
			t.Fatal(err)
		}
		_, resErr := s.GetReservation(ctx, "acme", fmt.Sprintf("r%d", i))
		if (seq == 1) != (resErr == nil) {
			t.Fatalf("half of batch %d: last seq %d, reservation %v", i, seq, resErr)
		}
		committed = append(committed, seq == 1)
	}
	for i := range committed {
		if committed[i] != committed[0] {
			t.Fatalf("half a joined commit: committed %v", committed)
		}
	}
	t.Logf("the server committed the abandoned joined commit: %v", committed[0])
}
