package actors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/persistence"
)

// joinRecorder records each joined commit (the actors of its batches and
// their outcomes) and can hold the next one on a gate.
type joinRecorder struct {
	persistence.Store
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
	calls   [][]joinedBatch
}

type joinedBatch struct {
	actor string
	err   error
}

func (r *joinRecorder) arm() (entered chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gate, r.entered = make(chan struct{}), make(chan struct{})
	gate := r.gate
	return r.entered, func() { close(gate) }
}

func (r *joinRecorder) CommitBatches(ctx context.Context, bs []persistence.Batch) []error {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	r.gate, r.entered = nil, nil
	r.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	errs := r.Store.CommitBatches(ctx, bs)
	call := make([]joinedBatch, len(bs))
	for i, b := range bs {
		call[i] = joinedBatch{actor: b.ActorID, err: errs[i]}
	}
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
	return errs
}

// callWith returns the recorded commit that held the batch of actor id
// together with others (the last one when several did).
func (r *joinRecorder) callWith(id string) []joinedBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, call := range slices.Backward(r.calls) {
		if len(call) > 1 && slices.ContainsFunc(call, func(b joinedBatch) bool { return b.actor == id }) {
			return call
		}
	}
	return nil
}

// node hosts room types in one actor system from one Props, as one node
// of the cluster does: their batches share its committer.
type node struct {
	sys    *actor.ActorSystem
	pids   map[string]*actor.PID
	queued func() int
}

func spawnNode(t *testing.T, store actors.Store, opts actors.Options, rts ...string) *node {
	t.Helper()
	props, queued := actors.PropsWithQueue(store, opts)
	n := &node{sys: actor.NewActorSystem(), pids: map[string]*actor.PID{}, queued: queued}
	for _, rt := range rts {
		pid, err := n.sys.Root.SpawnNamed(props, actors.Identity(tenant, property, rt))
		if err != nil {
			t.Fatalf("spawn %s: %v", rt, err)
		}
		n.pids[rt] = pid
		t.Cleanup(func() { _ = n.sys.Root.StopFuture(pid).Wait() })
	}
	return n
}

func (n *node) ask(rt string, cmd *actors.Command) *actor.Future {
	return n.sys.Root.RequestFuture(n.pids[rt], cmd, 20*time.Second)
}

func (n *node) mustAsk(t *testing.T, rt string, cmd *actors.Command) *actors.Reply {
	t.Helper()
	return mustReply(t, rt, n.ask(rt, cmd))
}

func mustReply(t *testing.T, what string, f *actor.Future) *actors.Reply {
	t.Helper()
	res, err := f.Result()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	r := res.(*actors.Reply)
	if r.Code != "" || r.NotCommitted {
		t.Fatalf("%s: %s %s (not committed: %v)", what, r.Code, r.Message, r.NotCommitted)
	}
	return r
}

// bookIn books one night of room type rt as reservation id.
func bookIn(rt, id string) *actors.Command {
	now := time.Now().UTC()
	a := date("2027-03-01")
	return book(booking.Reservation{ID: id, Status: booking.StatusConfirmed, Version: 1, Currency: "EUR",
		Stays: []booking.Stay{{RoomType: rt, Arrival: a, Departure: a + 1, Quantity: 1}},
		Guest: booking.Guest{Name: "Ada"}, Channel: "test", CreatedAt: now, UpdatedAt: now})
}

// holdTheCommitter takes the node's only transaction slot with a booking
// of room type rt whose commit waits on the recorder's gate.
func holdTheCommitter(t *testing.T, n *node, rec *joinRecorder, rt string) (release func(), held *actor.Future) {
	t.Helper()
	entered, release := rec.arm()
	held = n.ask(rt, bookIn(rt, "r_held"))
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the held commit never reached the store")
	}
	return release, held
}

func TestCommitter_JoinsTheBatchesOfManyRoomTypesIntoOneCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		rec := &joinRecorder{Store: store}
		o := opts()
		o.CommitSlots = 1
		rts := []string{"gate"}
		for i := range 12 {
			rts = append(rts, fmt.Sprintf("rt%02d", i))
		}
		n := spawnNode(t, rec, o, rts...)
		for _, rt := range rts {
			n.mustAsk(t, rt, putRoomType(rt, 5, 100))
		}

		release, held := holdTheCommitter(t, n, rec, "gate")
		var waiting []*actor.Future
		for _, rt := range rts[1:] {
			waiting = append(waiting, n.ask(rt, bookIn(rt, "r_"+rt)))
		}
		poll.Eventually(t, 20*time.Second, "every room type's batch waiting for the committer", func() bool { return n.queued() == len(rts)-1 })
		release()
		mustReply(t, "held booking", held)
		for i, f := range waiting {
			mustReply(t, "booking of "+rts[i+1], f)
		}

		call := rec.callWith(actors.Identity(tenant, property, "rt00"))
		if len(call) != len(rts)-1 {
			t.Fatalf("the batches waiting were committed as %d joined batches, want the %d of them in one", len(call), len(rts)-1)
		}
		for _, b := range call {
			if b.err != nil {
				t.Fatalf("joined batch of %s: %v", b.actor, b.err)
			}
		}
		for _, rt := range rts[1:] {
			if _, err := store.GetReservation(t.Context(), tenant, "r_"+rt); err != nil {
				t.Fatalf("reservation of %s after the joined commit: %v", rt, err)
			}
			n.mustAsk(t, rt, bookIn(rt, "r_after_"+rt)) // the actors go on
		}
	})
}

// A stale activation's batch inside a joined commit is fenced alone: its
// caller is told "not committed", the other room types' bookings in the
// same commit are confirmed and stored, and the stale batch writes nothing.
func TestCommitter_FencedRoomTypeInAJoinedCommitFailsAlone(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		rec := &joinRecorder{Store: store}
		o := opts()
		o.CommitSlots = 1
		rts := []string{"gate", "stale", "b", "c", "d"}
		n := spawnNode(t, rec, o, rts...)
		for _, rt := range rts {
			n.mustAsk(t, rt, putRoomType(rt, 5, 100))
		}
		// Another activation of "stale" (another node) commits a booking:
		// this node's activation is now behind the journal.
		other := spawnNode(t, store, opts(), "stale")
		other.mustAsk(t, "stale", bookIn("stale", "r_other"))

		release, held := holdTheCommitter(t, n, rec, "gate")
		waiting := map[string]*actor.Future{}
		for _, rt := range rts[1:] {
			waiting[rt] = n.ask(rt, bookIn(rt, "r_"+rt))
		}
		poll.Eventually(t, 20*time.Second, "the four batches waiting for the committer", func() bool { return n.queued() == 4 })
		release()
		mustReply(t, "held booking", held)

		res, err := waiting["stale"].Result()
		if err != nil {
			t.Fatalf("stale booking: %v", err)
		}
		if r := res.(*actors.Reply); !r.NotCommitted {
			t.Fatalf("stale activation's booking: %+v, want not committed (fenced)", r)
		}
		for _, rt := range rts[2:] {
			mustReply(t, "booking of "+rt, waiting[rt])
			if _, err := store.GetReservation(t.Context(), tenant, "r_"+rt); err != nil {
				t.Fatalf("reservation of %s, joined with the fenced batch: %v", rt, err)
			}
		}
		call := rec.callWith(actors.Identity(tenant, property, "stale"))
		if len(call) != 4 {
			t.Fatalf("the fenced batch was committed with %d batches, want the 4 in one joined commit", len(call))
		}
		for _, b := range call {
			fenced := b.actor == actors.Identity(tenant, property, "stale")
			if fenced != errors.Is(b.err, persistence.ErrFenced) || (!fenced && b.err != nil) {
				t.Fatalf("joined batch of %s: %v", b.actor, b.err)
			}
		}
		if _, err := store.GetReservation(t.Context(), tenant, "r_stale"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("the fenced batch's reservation: %v, want not stored", err)
		}
		if _, err := store.GetReservation(t.Context(), tenant, "r_other"); err != nil {
			t.Fatalf("the other activation's reservation: %v", err)
		}
	})
}
