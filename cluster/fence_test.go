package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster/clustertest"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
)

// unfencedStore is the deliberately broken store of the split-brain test:
// it appends a batch after whatever the journal holds instead of refusing
// a stale activation's batch. With it, two activations of one room type
// each sell from their own copy.
type unfencedStore struct{ persistence.Store }

func (s unfencedStore) CommitBatches(ctx context.Context, bs []persistence.Batch) []error {
	return persistence.CommitEach(ctx, s.CommitBatch, bs)
}

func (s unfencedStore) CommitBatch(ctx context.Context, b persistence.Batch) error {
	for range 10 {
		last, err := s.Store.LastSeq(ctx, b.ActorID)
		if err != nil {
			return err
		}
		b.FirstSeq, b.Snapshot = last+1, nil
		err = s.Store.CommitBatch(ctx, b)
		if !errors.Is(err, persistence.ErrFenced) {
			return err
		}
	}
	return persistence.ErrFenced
}

// splitBrain runs two activations of one room type, as two nodes would
// during a membership change or after a pause, each in its own actor
// system, and clients booking through both; an activation that stops
// (fenced) is started again from the store, as the next request would.
type splitBrain struct {
	t        *testing.T
	store    persistence.Store
	identity string
	mu       sync.Mutex
	sides    [2]*side
}

type side struct {
	sys *actor.ActorSystem
	pid *actor.PID
}

func (sb *splitBrain) spawn(i int) *side {
	sb.t.Helper()
	sys := sb.sides[i].sys
	for try := 0; ; try++ {
		pid, err := sys.Root.SpawnNamed(actors.Props(sb.store, actors.Options{GroupCommit: true}), sb.identity)
		if err == nil {
			sb.sides[i] = &side{sys: sys, pid: pid}
			return sb.sides[i]
		}
		if try > 200 {
			sb.t.Fatalf("respawn: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // the stopped one is still being removed
	}
}

// ask sends cmd to side i, restarting that activation when it answers "not
// committed" (it was fenced and stops), until a definite answer or 10 s.
func (sb *splitBrain) ask(i int, cmd *actors.Command) (*actors.Reply, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sb.mu.Lock()
		s := sb.sides[i]
		sb.mu.Unlock()
		res, err := s.sys.Root.RequestFuture(s.pid, cmd, 5*time.Second).Result()
		if errors.Is(err, actor.ErrTimeout) {
			return nil, err
		}
		if r, ok := res.(*actors.Reply); ok && err == nil && !r.NotCommitted {
			return r, nil
		}
		sb.mu.Lock()
		if sb.sides[i] == s {
			_ = s.sys.Root.StopFuture(s.pid).Wait()
			sb.spawn(i)
		}
		sb.mu.Unlock()
	}
	return nil, errors.New("no definite answer")
}

// runSplitBrain sells rooms rooms of one night through two activations and
// returns the recorded history and how many rooms the store holds as sold.
func runSplitBrain(t *testing.T, store persistence.Store, rooms int, requests int) ([]porcupine.Operation, int) {
	const rt = "dlx"
	sb := &splitBrain{t: t, store: store, identity: actors.Identity(tenant, property, rt)}
	for i := range sb.sides {
		sb.sides[i] = &side{sys: actor.NewActorSystem()}
	}
	sb.spawn(0)
	if _, err := sb.ask(0, &actors.Command{Op: &actors.Command_PutRoomType{PutRoomType: &actors.PutRoomType{Name: "Deluxe", Rooms: int32(rooms), Price: 100}}}); err != nil {
		t.Fatalf("room type: %v", err)
	}
	sb.spawn(1) // loads the room type: both activations now hold the same state
	// Wait until it has: an activation loads on start, which a busy machine
	// could delay until the other side has sold everything.
	if _, err := sb.ask(1, &actors.Command{Op: &actors.Command_Wake{Wake: &actors.Wake{}}}); err != nil {
		t.Fatalf("second activation: %v", err)
	}
	for i := range sb.sides {
		t.Cleanup(func() { sb.sides[i].sys.Shutdown() })
	}

	rec := clustertest.NewRecorder()
	night := date("2027-05-01")
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for k := c; k < requests; k += 8 {
				id := fmt.Sprintf("r_split%04d", k)
				now := time.Now().UTC()
				row := actors.ReservationMsg(booking.Reservation{ID: id, Tenant: tenant, Property: property, Status: booking.StatusConfirmed,
					Stays: []booking.Stay{{RoomType: rt, Arrival: night, Departure: night + 1, Quantity: 1}},
					Guest: booking.Guest{Name: "Guest"}, Channel: "split", Currency: "EUR", Version: 1, CreatedAt: now, UpdatedAt: now})
				cmd := &actors.Command{Op: &actors.Command_Book{Book: &actors.Book{Reservation: row}},
					Idem: &actors.Idem{Key: "k-" + id, RequestHash: "h-" + id, Status: 201}}
				done := rec.Call(c, clustertest.Booking{RoomType: rt, First: 0, Nights: 1, Qty: 1})
				r, err := sb.ask(k%2, cmd) // alternate between the two activations
				switch {
				case err != nil:
					done(clustertest.Unknown)
				case r.Code == "":
					done(clustertest.Confirmed)
				case r.Code == string(booking.CodeSoldOut):
					done(clustertest.SoldOut)
				default:
					done(clustertest.Unknown)
					t.Errorf("book %s: %s %s", id, r.Code, r.Message)
				}
			}
		})
	}
	wg.Wait()
	rs, _, err := store.ListReservations(context.Background(), tenant, property, persistence.ReservationFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return rec.Operations(), len(rs)
}

func TestSplitBrain_TwoActivationsThroughTheFenceStayLinearizable(t *testing.T) {
	store := MustOpen(t, pgtest.NewDatabase(t))
	ops, sold := runSplitBrain(t, store, 10, 60)
	res := clustertest.Check(ops, map[string]int{"dlx": 10}, 30*time.Second)
	t.Logf("fenced store: %d rooms stored as sold of 10; history %s", sold, res)
	if sold != 10 {
		t.Errorf("%d rooms sold, want exactly 10", sold)
	}
	if res.Verdict != porcupine.Ok {
		t.Errorf("history with the fence is %s, want ok", res.Verdict)
	}
}

func TestSplitBrain_WithoutTheFenceTheCheckerFindsTheOversell(t *testing.T) {
	store := MustOpen(t, pgtest.NewDatabase(t))
	ops, sold := runSplitBrain(t, unfencedStore{store}, 10, 60)
	res := clustertest.Check(ops, map[string]int{"dlx": 10}, 30*time.Second)
	t.Logf("unfenced store: %d rooms stored as sold of 10; history %s", sold, res)
	if res.Verdict != porcupine.Illegal {
		t.Errorf("history without the fence is %s; the checker must find it illegal (sold %d of 10)", res.Verdict, sold)
	}
}

func TestCapacityModel_RejectsAnOversoldHistoryAndAcceptsUnknowns(t *testing.T) {
	b := clustertest.Booking{RoomType: "dlx", First: 0, Nights: 2, Qty: 1}
	op := func(client int, call, ret int64, out clustertest.Outcome) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: b, Call: call, Output: out, Return: ret}
	}
	rooms := map[string]int{"dlx": 2}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"three sequential confirmations of two rooms", []porcupine.Operation{
			op(0, 0, 1, clustertest.Confirmed), op(1, 2, 3, clustertest.Confirmed), op(2, 4, 5, clustertest.Confirmed)}, porcupine.Illegal},
		{"sold out while a room was left", []porcupine.Operation{
			op(0, 0, 1, clustertest.Confirmed), op(1, 2, 3, clustertest.SoldOut)}, porcupine.Illegal},
		{"an unknown may have taken the room", []porcupine.Operation{
			op(0, 0, 1, clustertest.Confirmed), op(1, 2, 3, clustertest.Unknown), op(2, 4, 5, clustertest.SoldOut)}, porcupine.Ok},
		{"an unknown may not have taken it", []porcupine.Operation{
			op(0, 0, 1, clustertest.Unknown), op(1, 2, 3, clustertest.Confirmed), op(2, 4, 5, clustertest.Confirmed)}, porcupine.Ok},
		{"concurrent: sold out linearized after both", []porcupine.Operation{
			op(0, 0, 10, clustertest.SoldOut), op(1, 1, 3, clustertest.Confirmed), op(2, 2, 4, clustertest.Confirmed)}, porcupine.Ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clustertest.Check(tc.ops, rooms, 5*time.Second).Verdict; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
