package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// The joined commit (CommitBatches): the batches of many actors in one
// call, each with the outcome CommitBatch would give it.

// joinedBatch is fullBatch for actor tag's own room type (acme/p1/<tag>),
// with a job of its own and one every batch shares.
func joinedBatch(tag string, first int64, n int) persistence.Batch {
	b := fullBatch("acme/p1/"+tag, first, n, tag)
	b.RoomType.ID = tag
	b.PutHolds[0].RoomType = tag
	b.Jobs = []persistence.JobRow{
		{Kind: "test_joined", Key: "own-" + tag, Args: []byte(`{}`)},
		{Kind: "test_joined", Key: "shared", Args: []byte(`{}`)},
	}
	return b
}

// mustAllOf checks that every row of joinedBatch(tag, …) is stored.
func mustAllOf(t *testing.T, s persistence.Store, tag string, lastSeq int64) {
	t.Helper()
	c := ctx(t)
	mustLastSeq(t, s, "acme/p1/"+tag, lastSeq)
	for i := range 3 {
		mustReservation(t, s, reservation("acme", "p1", fmt.Sprintf("r-%s-%d", tag, i), booking.Date(20800+i), base))
	}
	if hs, err := s.HoldRows(c, "acme", "h-"+tag); err != nil || len(hs) != 1 || hs[0].RoomType != tag {
		t.Fatalf("hold of batch %s: %+v, %v", tag, hs, err)
	}
	rec, err := s.GetIdempotency(c, "acme", "key-"+tag)
	mustNoErr(t, err, "idempotency record of batch "+tag)
	if rec.Status != 201 || string(rec.Body) != `{"id":"r-`+tag+`"}` {
		t.Fatalf("idempotency record of batch %s: %+v", tag, rec)
	}
	rt, err := s.GetRoomType(c, "acme", "p1", tag)
	mustNoErr(t, err, "room type of batch "+tag)
	if rt.Name != "Deluxe "+tag {
		t.Fatalf("room type of batch %s named %q", tag, rt.Name)
	}
	st, err := s.LoadActor(c, "acme/p1/"+tag)
	mustNoErr(t, err, "load actor "+tag)
	if string(st.Snapshot) != `{"tag":"`+tag+`"}` || st.SnapshotSeq != lastSeq {
		t.Fatalf("snapshot of batch %s: %q at %d, want its own at %d", tag, st.Snapshot, st.SnapshotSeq, lastSeq)
	}
}

func mustJobs(t *testing.T, s persistence.Store, want int, what string) {
	t.Helper()
	n, err := s.JobsWritten(ctx(t), "test_joined")
	mustNoErr(t, err, "count jobs")
	if n != want {
		t.Fatalf("%s: %d jobs, want %d", what, n, want)
	}
}

// testJoinedBatchesAllCommit: every batch of the call is written whole, as
// if each had been committed alone.
func testJoinedBatchesAllCommit(t *testing.T, s persistence.Store) {
	tags := []string{"a", "b", "c", "d", "e"}
	var bs []persistence.Batch
	for _, tag := range tags {
		bs = append(bs, joinedBatch(tag, 1, 2))
	}
	for i, err := range s.CommitBatches(ctx(t), bs) {
		mustNoErr(t, err, "joined batch "+tags[i])
	}
	for _, tag := range tags {
		mustAllOf(t, s, tag, 2)
	}
	mustJobs(t, s, len(tags)+1, "after the joined commit (the shared job once)")
	// And again on top, with TrimJournal: each actor's own rows only.
	bs = bs[:0]
	for _, tag := range tags {
		b := joinedBatch(tag, 3, 2)
		b.TrimJournal, b.Idempotency = true, nil // the keys completed above stay as they are
		bs = append(bs, b)
	}
	for i, err := range s.CommitBatches(ctx(t), bs) {
		mustNoErr(t, err, "second joined batch "+tags[i])
	}
	for _, tag := range tags {
		mustAllOf(t, s, tag, 4)
	}
	mustLastSeq(t, s, "acme/p1/a", 4)
}

// testJoinedRefusedBatchFailsAlone: a fenced batch, one completing a
// completed key and one the store refuses before writing fail, each with
// its own error, and write nothing; the others of the call commit whole.
func testJoinedRefusedBatchFailsAlone(t *testing.T, s persistence.Store) {
	c := ctx(t)
	mustCommit(t, s, joinedBatch("fenced", 1, 2))
	taken := persistence.IdempotencyRecord{Tenant: "acme", Key: "key-taken", RequestHash: "hash", Status: 201, Body: []byte(`{"first":true}`),
		CreatedAt: base, ExpiresAt: time.Now().Add(time.Hour)}
	mustNoErr(t, s.CompleteIdempotency(c, taken), "complete key-taken")

	stale := joinedBatch("fenced", 1, 1) // seq 1 is taken
	stale.Snapshot, stale.PutHolds[0].ID, stale.Idempotency[0].Key = []byte(`{"tag":"stale"}`), "h-stale", "key-stale"
	for i := range stale.Reservations {
		stale.Reservations[i].ID = fmt.Sprintf("r-stale-%d", i)
	}
	stale.RoomType.Name = "Deluxe stale"
	stale.Jobs = []persistence.JobRow{{Kind: "test_joined", Key: "own-stale", Args: []byte(`{}`)}}
	keyed := joinedBatch("taken", 1, 1)
	keyed.Idempotency[0].Key = "key-taken"
	keyed.Jobs = []persistence.JobRow{{Kind: "test_joined", Key: "own-taken", Args: []byte(`{}`)}}
	bs := []persistence.Batch{
		joinedBatch("first", 1, 1),
		stale,
		joinedBatch("middle", 1, 3),
		keyed,
		{ActorID: "", FirstSeq: 1, Events: events("x", 1, 1)}, // refused before anything is written
		joinedBatch("last", 1, 2),
	}
	errs := s.CommitBatches(c, bs)
	if len(errs) != len(bs) {
		t.Fatalf("%d outcomes for %d batches", len(errs), len(bs))
	}
	mustNoErr(t, errs[0], "first batch")
	mustErrIs(t, errs[1], persistence.ErrFenced, "stale batch inside the joined commit")
	mustNoErr(t, errs[2], "middle batch")
	mustErrIs(t, errs[3], persistence.ErrIdempotencyTaken, "batch completing a completed key")
	if errs[4] == nil || errors.Is(errs[4], persistence.ErrMaybeCommitted) {
		t.Fatalf("batch without an actor id: %v, want a refusal", errs[4])
	}
	mustNoErr(t, errs[5], "last batch")

	mustAllOf(t, s, "first", 1)
	mustAllOf(t, s, "middle", 3)
	mustAllOf(t, s, "last", 2)
	mustAllOf(t, s, "fenced", 2) // as its own first batch left it
	mustNothingOf(t, s, "stale")
	mustLastSeq(t, s, "acme/p1/taken", 0)
	for i := range 3 {
		_, err := s.GetReservation(c, "acme", fmt.Sprintf("r-taken-%d", i))
		mustErrIs(t, err, persistence.ErrNotFound, "reservation of the batch with a taken key")
	}
	if got, err := s.GetIdempotency(c, "acme", "key-taken"); err != nil || string(got.Body) != `{"first":true}` {
		t.Fatalf("key-taken after the refused batch: %+v, %v; want its first outcome", got, err)
	}
	// fenced's own, shared, and first/middle/last's own: the refused
	// batches' jobs are not written.
	mustJobs(t, s, 5, "after the joined commit with refused batches")
}

// testJoinedBatchesOfOneActor: two batches of one actor in one call are
// each judged after the one before, as two CommitBatch calls would be.
func testJoinedBatchesOfOneActor(t *testing.T, s persistence.Store) {
	actor := "acme/p1/dlx"
	errs := s.CommitBatches(ctx(t), []persistence.Batch{
		{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 2), At: base},
		{ActorID: actor, FirstSeq: 3, Events: events(actor, 3, 1), At: base},
		{ActorID: actor, FirstSeq: 3, Events: events(actor, 3, 1), At: base},
	})
	mustNoErr(t, errs[0], "first batch")
	mustNoErr(t, errs[1], "the batch after it")
	mustErrIs(t, errs[2], persistence.ErrFenced, "the same seq again")
	mustLastSeq(t, s, actor, 3)
}

// testJoinedConcurrentFence: two nodes' committers each join a batch of
// one contested actor (two activations, the same first seq) with a batch
// of an actor of their own. Every round exactly one activation commits,
// and both nodes' own actors commit every time.
func testJoinedConcurrentFence(t *testing.T, s persistence.Store) {
	c := ctx(t)
	const rounds = 8
	contested := "acme/p1/contested"
	next := int64(1)
	for round := range rounds {
		var wg sync.WaitGroup
		var outcomes [2][]error
		start := make(chan struct{})
		for node := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				own := fmt.Sprintf("acme/p1/own%d", node)
				<-start
				outcomes[node] = s.CommitBatches(c, []persistence.Batch{
					{ActorID: own, FirstSeq: int64(round + 1), Events: events(own, int64(round+1), 1), At: base},
					fullBatch(contested, next, 1+node, fmt.Sprintf("%d-%d", round, node)),
				})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for node, errs := range outcomes {
			mustNoErr(t, errs[0], fmt.Sprintf("round %d: node %d's own actor", round, node))
			switch err := errs[1]; {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both activations committed seq %d", round, next)
				}
				winner = node
			case errors.Is(err, persistence.ErrFenced):
			default:
				t.Fatalf("round %d: node %d's contested batch: %v, want nil or ErrFenced", round, node, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no activation committed", round)
		}
		mustNothingOf(t, s, fmt.Sprintf("%d-%d", round, 1-winner))
		next += int64(1 + winner)
		mustLastSeq(t, s, contested, next-1)
		for node := range 2 {
			mustLastSeq(t, s, fmt.Sprintf("acme/p1/own%d", node), int64(round+1))
		}
	}
}
