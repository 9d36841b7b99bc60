package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
	"github.com/staylock/staylock/persistence/storetest"
)

const (
	tenant   = "t1"
	property = "p1"
	roomType = "dlx"
)

var identity = actors.Identity(tenant, property, roomType)

// MustOpen opens a migrated store with one tenant and property.
func MustOpen(t testing.TB, dbURL string) persistence.Store {
	return storetest.MustOpenWithProperty(t, dbURL, tenant, property)
}

// eachStore runs f against a fresh Postgres database and a fresh SQLite file.
func eachStore(t *testing.T, f func(t *testing.T, store persistence.Store)) {
	t.Run("postgres", func(t *testing.T) { f(t, MustOpen(t, pgtest.NewDatabase(t))) })
	t.Run("sqlite", func(t *testing.T) { f(t, MustOpen(t, "")) })
}

type activation struct {
	sys *actor.ActorSystem
	pid *actor.PID
}

// MustSpawn starts one activation of the test room type's actor in its own
// actor system (as another node would).
func MustSpawn(t testing.TB, store persistence.Store, opts actors.Options) activation {
	t.Helper()
	sys := actor.NewActorSystem()
	pid, err := sys.Root.SpawnNamed(actors.Props(store, opts), identity)
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return activation{sys, pid}
}

func (a activation) ask(_ testing.TB, cmd *actors.Command) (*actors.Reply, error) {
	res, err := a.sys.Root.RequestFuture(a.pid, cmd, 20*time.Second).Result()
	if err != nil {
		return nil, err
	}
	return res.(*actors.Reply), nil
}

func (a activation) MustAsk(t testing.TB, cmd *actors.Command) *actors.Reply {
	t.Helper()
	r, err := a.ask(t, cmd)
	if err != nil {
		t.Fatalf("ask %T: %v", cmd.GetOp(), err)
	}
	if r.Code != "" {
		t.Fatalf("ask %T: %s: %s", cmd.GetOp(), r.Code, r.Message)
	}
	return r
}

func date(s string) booking.Date {
	d, err := booking.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func bookCmd(id string, arrival string, nights int) *actors.Command {
	a := date(arrival)
	row := booking.Reservation{ID: id, Status: booking.StatusConfirmed, Version: 1, Currency: "EUR",
		Stays: []booking.Stay{{RoomType: roomType, Arrival: a, Departure: a + booking.Date(nights), Quantity: 1}},
		Guest: booking.Guest{Name: "Ada"}, Channel: "test", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	return book(row)
}

func availability(t *testing.T, a activation, from string, nights int) []booking.NightView {
	t.Helper()
	return a.MustAsk(t, readNights(date(from), nights)).NightViews()
}

func opts() actors.Options {
	return actors.Options{GroupCommit: true, SnapshotEvery: 7}
}

func TestInventory_LastRoomsRaceSellsExactlyTheRooms(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 5, 12900))
		var ok, soldOut atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				r, err := a.ask(t, bookCmd(fmt.Sprintf("r_%d", i), "2026-12-01", 1))
				switch {
				case err != nil:
					t.Errorf("booking %d: %v", i, err)
				case r.Code == "":
					ok.Add(1)
				case r.Code == string(booking.CodeSoldOut):
					soldOut.Add(1)
				default:
					t.Errorf("booking %d: %s %s", i, r.Code, r.Message)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 5 || soldOut.Load() != 35 {
			t.Fatalf("confirmed %d sold out %d, want 5 and 35", ok.Load(), soldOut.Load())
		}
		n := availability(t, a, "2026-12-01", 1)[0]
		if n.Booked != 5 || n.Available != 0 {
			t.Fatalf("night after race: %+v", n)
		}
		rs, _, err := store.ListReservations(context.Background(), tenant, property, persistence.ReservationFilter{Limit: 100})
		if err != nil || len(rs) != 5 {
			t.Fatalf("stored reservations: %d (%v), want 5", len(rs), err)
		}
		// what is stored rebuilds the same state
		inv, err := actors.LoadInventory(context.Background(), store, identity)
		if err != nil {
			t.Fatal(err)
		}
		if v := inv.View(date("2026-12-01")); v.Booked != 5 {
			t.Fatalf("reloaded night: %+v", v)
		}
	})
}

// Two activations of one room type against one database: only one can
// commit each seq, the loser stops, and what was acknowledged is what is
// stored, with no night over its total.
func TestInventory_TwoActivationsAreFenced(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		const rooms = 8
		first := MustSpawn(t, store, opts())
		first.MustAsk(t, putRoomType("Deluxe", rooms, 100))
		second := MustSpawn(t, store, opts()) // loads the same state: a split brain
		second.MustAsk(t, wake())

		var mu sync.Mutex
		acked := map[string]bool{}
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				act := first
				if i%2 == 1 {
					act = second
				}
				id := fmt.Sprintf("r_%02d", i)
				r, err := act.ask(t, bookCmd(id, "2026-12-01", 2))
				if err == nil && r.Code == "" {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()

		inv, err := actors.LoadInventory(context.Background(), store, identity)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"2026-12-01", "2026-12-02"} {
			v := inv.View(date(d))
			if v.Booked > rooms {
				t.Errorf("night %s oversold: %+v", d, v)
			}
			if int(v.Booked) != len(acked) {
				t.Errorf("night %s booked %d, acknowledged %d", d, v.Booked, len(acked))
			}
		}
		for id := range acked {
			r, err := store.GetReservation(context.Background(), tenant, id)
			if err != nil || r.Status != booking.StatusConfirmed {
				t.Errorf("acknowledged %s not stored: %v", id, err)
			}
			if _, ok := inv.Allocations[id]; !ok {
				t.Errorf("acknowledged %s has no rooms in the journal", id)
			}
		}
		if len(acked) != rooms {
			t.Errorf("acknowledged %d bookings, want all %d rooms sold", len(acked), rooms)
		}
		// the loser stopped itself: it no longer answers
		if _, err := second.ask(t, wake()); !errors.Is(err, actor.ErrDeadLetter) {
			if _, err2 := first.ask(t, wake()); !errors.Is(err2, actor.ErrDeadLetter) {
				t.Errorf("neither activation stopped (second: %v, first: %v)", err, err2)
			}
		}
	})
}

// failingStore makes chosen commits fail, either before writing anything or
// after committing (an unknown outcome).
type failingStore struct {
	persistence.Store
	calls     atomic.Int32
	failCall  int32
	afterward bool // commit for real, then report ErrMaybeCommitted
}

func (f *failingStore) CommitBatches(ctx context.Context, bs []persistence.Batch) []error {
	return persistence.CommitEach(ctx, f.CommitBatch, bs)
}

func (f *failingStore) CommitBatch(ctx context.Context, b persistence.Batch) error {
	n := f.calls.Add(1)
	if n != f.failCall {
		return f.Store.CommitBatch(ctx, b)
	}
	if f.afterward {
		if err := f.Store.CommitBatch(ctx, b); err != nil {
			return err
		}
		return fmt.Errorf("connection reset during commit: %w", persistence.ErrMaybeCommitted)
	}
	return errors.New("injected: connection refused before commit")
}

func TestInventory_FailedCommitFailsOnlyItsBatchAndReloads(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		fs := &failingStore{Store: store, failCall: 2}
		a := MustSpawn(t, fs, opts())
		a.MustAsk(t, putRoomType("Deluxe", 100, 100))
		r, err := a.ask(t, bookCmd("r_failed", "2026-12-01", 1))
		if err != nil || !r.NotCommitted {
			t.Fatalf("failed commit answered %+v, %v; want not_committed", r, err)
		}
		a.MustAsk(t, bookCmd("r_after", "2026-12-01", 1))
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Booked != 1 {
			t.Fatalf("after a failed and a good commit booked=%d, want 1", n.Booked)
		}
		if _, err := store.GetReservation(context.Background(), tenant, "r_failed"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("failed booking stored: %v", err)
		}
	})
}

func TestInventory_UnknownCommitOutcomeIsReadBack(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		fs := &failingStore{Store: store, failCall: 2, afterward: true}
		a := MustSpawn(t, fs, opts())
		a.MustAsk(t, putRoomType("Deluxe", 100, 100))
		r, err := a.ask(t, bookCmd("r_maybe", "2026-12-01", 1))
		if err != nil || r.Code != "" {
			t.Fatalf("committed booking with lost COMMIT answer: %+v, %v; want success", r, err)
		}
		if _, err := store.GetReservation(context.Background(), tenant, "r_maybe"); err != nil {
			t.Fatalf("reservation: %v", err)
		}
	})
}

// stalledReadBack is a store whose second commit is stored but answered
// "maybe committed", and whose journal read-back then waits for release:
// the outage of a database that took the COMMIT and went away.
type stalledReadBack struct {
	failingStore
	reading chan struct{} // closed when the read-back has begun
	release chan struct{}
	once    sync.Once
}

func (s *stalledReadBack) LastSeq(ctx context.Context, actorID string) (int64, error) {
	s.once.Do(func() { close(s.reading) })
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.LastSeq(ctx, actorID)
}

// TestInventory_UnknownOutcomeDoesNotBlockTheActor: while the actor reads
// back whether a batch with no COMMIT answer was stored, it keeps
// answering reads (from the committed state, without the batch) and
// collecting requests; once the outcome is known, the waiting booking is
// answered and the ones collected meanwhile commit.
func TestInventory_UnknownOutcomeDoesNotBlockTheActor(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		s := &stalledReadBack{failingStore: failingStore{Store: store, failCall: 2, afterward: true},
			reading: make(chan struct{}), release: make(chan struct{})}
		a := MustSpawn(t, s, opts())
		a.MustAsk(t, putRoomType("Deluxe", 10, 100))
		maybe := make(chan *actors.Reply, 1)
		go func() { maybe <- a.MustAsk(t, bookCmd("r_maybe", "2026-12-01", 1)) }()
		<-s.reading
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Booked != 0 {
			t.Fatalf("a read during the read-back saw the unresolved batch: %+v", n)
		}
		later := make(chan *actors.Reply, 1)
		go func() { later <- a.MustAsk(t, bookCmd("r_later", "2026-12-01", 1)) }()
		select {
		case r := <-maybe:
			t.Fatalf("answered %+v before its outcome was known", r)
		default:
		}
		close(s.release)
		if r := <-maybe; r.GetReservation().GetId() != "r_maybe" {
			t.Fatalf("resolved booking answered %+v", r)
		}
		if r := <-later; r.GetReservation().GetId() != "r_later" {
			t.Fatalf("booking collected during the read-back answered %+v", r)
		}
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Booked != 2 {
			t.Fatalf("booked %d after the read-back, want 2", n.Booked)
		}
	})
}

func TestInventory_GroupCommitBatchesConcurrentBookings(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		fs := &failingStore{Store: store}
		a := MustSpawn(t, fs, opts())
		a.MustAsk(t, putRoomType("Deluxe", 1000, 100))
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() { a.MustAsk(t, bookCmd(fmt.Sprintf("r_%d", i), "2026-12-01", 1)) })
		}
		wg.Wait()
		if calls := fs.calls.Load(); calls >= 200 {
			t.Fatalf("200 concurrent bookings took %d commits; group commit should need fewer", calls)
		}
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Booked != 200 {
			t.Fatalf("booked %d, want 200", n.Booked)
		}
	})
}

func TestInventory_IdempotentRetriesHaveOneEffect(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 10, 100))
		var wg sync.WaitGroup
		var first *actors.Reservation
		var firsts, replays atomic.Int32
		for range 10 {
			wg.Go(func() {
				cmd := bookCmd("r_same", "2026-12-01", 1)
				cmd.Idem = &actors.Idem{Key: "k1", RequestHash: "h1", Status: 201}
				r := a.MustAsk(t, cmd)
				switch {
				case r.IdempotencyTaken: // a duplicate: the gateway replays the stored answer
					replays.Add(1)
				case r.GetReservation() != nil:
					firsts.Add(1)
					first = r.GetReservation()
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 1 || replays.Load() != 9 {
			t.Fatalf("%d answers, %d told to replay; want 1 and 9", firsts.Load(), replays.Load())
		}
		want, _ := json.Marshal(first.Domain(tenant)) // the stored body is the answer's JSON
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Booked != 1 {
			t.Fatalf("booked %d, want 1", n.Booked)
		}
		rec, err := store.GetIdempotency(context.Background(), tenant, "k1")
		if err != nil || rec.Status != 201 || string(rec.Body) != string(want) {
			t.Fatalf("idempotency record %+v, %v", rec, err)
		}
		other := bookCmd("r_other", "2026-12-01", 1)
		other.Idem = &actors.Idem{Key: "k1", RequestHash: "h2", Status: 201}
		if r, _ := a.ask(t, other); r.Code != string(booking.CodeIdempotencyKeyReused) {
			t.Fatalf("same key, other request: %+v", r)
		}
	})
}

func TestInventory_HoldsExpireByThemselves(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 3, 100))
		expires := time.Now().Add(300 * time.Millisecond)
		a.MustAsk(t, hold("h_x", expires, booking.Stay{RoomType: roomType, Arrival: date("2026-12-01"), Departure: date("2026-12-03"), Quantity: 2}))
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Held != 2 || n.Available != 1 {
			t.Fatalf("held night: %+v", n)
		}
		poll.Eventually(t, 5*time.Second, "the expired hold's release", func() bool {
			n := availability(t, a, "2026-12-01", 2)
			return n[0].Held == 0 && n[1].Held == 0
		})
		if _, err := store.HoldRows(context.Background(), tenant, "h_x"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("hold row left after expiry: %v", err)
		}
	})
}

func TestInventory_SnapshotPlusJournalRebuildsState(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 50, 100))
		for i := range 23 {
			a.MustAsk(t, bookCmd(fmt.Sprintf("r_%d", i), "2026-12-01", 1+i%3))
		}
		st, err := store.LoadActor(context.Background(), identity)
		if err != nil {
			t.Fatal(err)
		}
		if st.Snapshot == nil || st.SnapshotSeq == 0 {
			t.Fatalf("no snapshot after 24 events with SnapshotEvery=7")
		}
		inv, err := actors.LoadInventory(context.Background(), store, identity)
		if err != nil {
			t.Fatal(err)
		}
		live := availability(t, a, "2026-12-01", 3)
		for i, n := range live {
			if got := inv.View(n.Date); got != n {
				t.Errorf("night %d: reloaded %+v, live %+v", i, got, n)
			}
		}
	})
}

// A keyed refusal is stored with its key in the actor's commit, before the
// answer: a flash sale's refusals share batches instead of one write each.
func TestInventory_KeyedRefusalsAreStoredInTheBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 1, 100))
		a.MustAsk(t, bookCmd("r_first", "2026-12-01", 1))
		cmd := bookCmd("r_second", "2026-12-01", 1)
		cmd.Idem = &actors.Idem{Key: "k-refused", RequestHash: "h", Status: 201}
		r, err := a.ask(t, cmd)
		if err != nil || r.Code != string(booking.CodeSoldOut) || !r.RefusalStored {
			t.Fatalf("refusal: %+v, %v; want a stored sold_out", r, err)
		}
		rec, err := store.GetIdempotency(context.Background(), tenant, "k-refused")
		if err != nil || rec.Status != 409 || !strings.Contains(string(rec.Body), `"code":"sold_out"`) {
			t.Fatalf("stored refusal: %+v %s, %v", rec, rec.Body, err)
		}
		if r2, _ := a.ask(t, cmd); !r2.IdempotencyTaken {
			t.Fatalf("a retry of a stored refusal: %+v; want told to replay", r2)
		}
	})
}

// TestInventory_WakeReleasesDueHolds: OP_WAKE (the scheduler's backstop
// sweep) releases holds that are due on the actor's clock at once, without
// their expiry timer.
func TestInventory_WakeReleasesDueHolds(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		var mu sync.Mutex
		now := time.Now()
		o := opts()
		o = actors.WithClock(o, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		a := MustSpawn(t, store, o)
		a.MustAsk(t, putRoomType("Deluxe", 3, 100))
		a.MustAsk(t, hold("h_w", now.Add(time.Hour), booking.Stay{RoomType: roomType, Arrival: date("2026-12-01"), Departure: date("2026-12-02"), Quantity: 1}))
		a.MustAsk(t, wake())
		if n := availability(t, a, "2026-12-01", 1)[0]; n.Held != 1 {
			t.Fatalf("a hold not due yet was released by a wake: %+v", n)
		}
		mu.Lock()
		now = now.Add(2 * time.Hour) // the timer (an hour of real time) has not fired
		mu.Unlock()
		a.MustAsk(t, wake())
		// The release commits after the wake's answer: wait for it (well
		// under the hour the timer would take).
		poll.Eventually(t, 5*time.Second, "the due hold's release after the wake", func() bool {
			n := availability(t, a, "2026-12-01", 1)[0]
			return n.Held == 0 && n.Available == 3
		})
		if _, err := store.HoldRows(context.Background(), tenant, "h_w"); !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("hold row left after the wake: %v", err)
		}
	})
}

// TestInventory_PruneDropsHistoryAndCompacts: OP_PRUNE (the scheduler's
// daily compaction) drops the nights before the cut and the allocations
// that ended by then, writes a snapshot that covers every event (the
// journal is trimmed), and the state reloads equal; a second prune writes
// nothing; a reservation straddling the cut still cancels cleanly.
func TestInventory_PruneDropsHistoryAndCompacts(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		ctx := context.Background()
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 5, 100))
		a.MustAsk(t, bookCmd("r_old", "2026-11-01", 2))
		a.MustAsk(t, bookCmd("r_straddle", "2026-11-09", 3))
		a.MustAsk(t, bookCmd("r_future", "2026-11-20", 1))

		cut := date("2026-11-10")
		r := a.MustAsk(t, prune(cut))
		if r.NightsChanged != 3 || r.Allocations != 1 {
			t.Fatalf("prune dropped %d nights and %d allocations, want 3 (11-01, 11-02, 11-09) and 1 (r_old)", r.NightsChanged, r.Allocations)
		}
		st, err := store.LoadActor(ctx, identity)
		if err != nil {
			t.Fatal(err)
		}
		last, err := store.LastSeq(ctx, identity)
		if err != nil || st.SnapshotSeq != last || len(st.Events) != 0 {
			t.Fatalf("after the prune: snapshot at %d, last seq %d (%v), %d events after it; want a snapshot of everything", st.SnapshotSeq, last, err, len(st.Events))
		}
		inv, err := actors.LoadInventory(ctx, store, identity)
		if err != nil {
			t.Fatal(err)
		}
		if inv.PrunedBefore != cut || len(inv.Allocations) != 2 || inv.Nights[date("2026-11-01")] != nil {
			t.Errorf("reloaded: pruned before %s, allocations %v, nights %v", inv.PrunedBefore, inv.Allocations, inv.Nights)
		}
		live := availability(t, a, "2026-11-10", 11)
		for _, n := range live {
			if got := inv.View(n.Date); got != n {
				t.Errorf("night %s: reloaded %+v, live %+v", n.Date, got, n)
			}
		}
		if live[0].Booked != 1 || live[10].Booked != 1 {
			t.Errorf("kept nights lost their bookings: %+v, %+v", live[0], live[10])
		}

		if r := a.MustAsk(t, prune(cut)); r.NightsChanged != 0 || r.Allocations != 0 {
			t.Errorf("a second prune dropped %d nights, %d allocations", r.NightsChanged, r.Allocations)
		}
		if again, _ := store.LastSeq(ctx, identity); again != last {
			t.Errorf("a prune with nothing to drop wrote seq %d after %d", again, last)
		}

		a.MustAsk(t, cancelOnPrimary("r_straddle"))
		for _, n := range availability(t, a, "2026-11-10", 2) {
			if n.Booked != 0 || n.Available != 5 {
				t.Errorf("night %s after cancelling the straddling reservation: %+v", n.Date, n)
			}
		}
	})
}

// TestInventory_CommandOfAnEarlierReleaseIsRefusedUntried: during a
// rolling deploy a node of the release before typed commands may send its
// untyped command (op=1, idem=2, reservation=6 as JSON). Its field numbers
// are reserved, so it reads as a command with no operation, and the actor
// answers "not committed" (the caller retries) without deciding anything:
// in particular not as the operation that now has field 2.
func TestInventory_CommandOfAnEarlierReleaseIsRefusedUntried(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		a := MustSpawn(t, store, opts())
		a.MustAsk(t, putRoomType("Deluxe", 10, 100))
		before, err := store.LastSeq(context.Background(), identity)
		if err != nil {
			t.Fatal(err)
		}
		var idem []byte
		idem = protowire.AppendTag(idem, 1, protowire.BytesType)
		idem = protowire.AppendString(idem, "k-old")
		idem = protowire.AppendTag(idem, 3, protowire.VarintType)
		idem = protowire.AppendVarint(idem, 201)
		var old []byte
		old = protowire.AppendTag(old, 1, protowire.VarintType) // op
		old = protowire.AppendVarint(old, 3)                    // OP_BOOK
		old = protowire.AppendTag(old, 2, protowire.BytesType)  // idem
		old = protowire.AppendBytes(old, idem)
		old = protowire.AppendTag(old, 6, protowire.BytesType) // reservation (JSON)
		old = protowire.AppendBytes(old, []byte(`{"id":"r_old","stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-02","quantity":1}]}`))
		var cmd actors.Command
		if err := proto.Unmarshal(old, &cmd); err != nil {
			t.Fatal(err)
		}
		if cmd.GetOp() != nil || cmd.GetIdem() != nil {
			t.Fatalf("an earlier release's command decoded as %T with idem %v", cmd.GetOp(), cmd.GetIdem())
		}
		r, err := a.ask(t, &cmd)
		if err != nil || !r.NotCommitted {
			t.Fatalf("an earlier release's command answered %+v, %v; want not committed", r, err)
		}
		if after, _ := store.LastSeq(context.Background(), identity); after != before {
			t.Fatalf("the refused command wrote seq %d after %d", after, before)
		}
		if rt, err := store.GetRoomType(context.Background(), tenant, property, roomType); err != nil || rt.Name != "Deluxe" || rt.Rooms != 10 {
			t.Fatalf("room type after the refused command: %+v, %v", rt, err)
		}
	})
}

// TestInventory_IdleActorPassivatesAndReactivatesFromTheStore: an actor
// nobody asks anything for IdleTimeout stops (its memory goes), and the
// next activation of the room type reads its snapshot and journal back to
// the same nights; one that keeps a hold stays, so that the hold expires
// on time.
func TestInventory_IdleActorPassivatesAndReactivatesFromTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		o := opts()
		o.IdleTimeout = 200 * time.Millisecond
		a := MustSpawn(t, store, o)
		a.MustAsk(t, putRoomType("Deluxe", 10, 100))
		for i := range 9 { // past SnapshotEvery (7): a snapshot and a journal tail
			a.MustAsk(t, bookCmd(fmt.Sprintf("r_%d", i), "2026-12-01", 1+i%3))
		}
		before := availability(t, a, "2026-12-01", 3)
		poll.Eventually(t, 10*time.Second, "the idle actor's passivation", func() bool {
			_, alive := a.sys.ProcessRegistry.Get(a.pid)
			return !alive
		})
		again := MustSpawn(t, store, o)
		if after := availability(t, again, "2026-12-01", 3); !slices.Equal(after, before) {
			t.Fatalf("reactivated nights %+v, before passivation %+v", after, before)
		}

		again.MustAsk(t, hold("h_keep", time.Now().Add(time.Hour), booking.Stay{RoomType: roomType, Arrival: date("2026-12-05"), Departure: date("2026-12-06"), Quantity: 1}))
		if poll.Until(time.Second, func() bool { _, alive := again.sys.ProcessRegistry.Get(again.pid); return !alive }) {
			t.Fatal("an actor that keeps a hold passivated")
		}
	})
}

// TestInventory_RefusalThatNeedsNoPendingChangeIsAnsweredAtOnce: while a
// commit is in flight, a booking of a night already sold out in the
// committed state is refused at once, not after the commit; a booking of a
// night whose last room the pending commit takes waits for that commit and
// is refused then; a keyed refusal waits too (it is stored with its key).
func TestInventory_RefusalThatNeedsNoPendingChangeIsAnsweredAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		g := &gatedStore{Store: store}
		a := MustSpawn(t, g, opts())
		a.MustAsk(t, putRoomType("Deluxe", 1, 100))
		a.MustAsk(t, bookCmd("r_sold", "2026-12-01", 1))
		entered, release := g.arm()
		answers := func(cmd *actors.Command) chan *actors.Reply {
			c := make(chan *actors.Reply, 1)
			go func() {
				r, err := a.ask(t, cmd)
				if err != nil {
					t.Errorf("ask: %v", err)
				}
				c <- r
			}()
			return c
		}
		pending := answers(bookCmd("r_pending", "2026-12-02", 1))
		<-entered // its commit waits at the gate

		if r := <-answers(bookCmd("r_late", "2026-12-01", 1)); r.GetCode() != string(booking.CodeSoldOut) {
			t.Fatalf("a night sold out before the pending commit: %+v, want sold_out at once", r)
		}
		behind := answers(bookCmd("r_behind", "2026-12-02", 1))
		keyed := bookCmd("r_keyed", "2026-12-01", 1)
		keyed.Idem = &actors.Idem{Key: "k-keyed", RequestHash: "h", Status: 201}
		keyedAnswer := answers(keyed)
		select {
		case r := <-behind:
			t.Fatalf("a refusal that depends on the pending commit was answered before it: %+v", r)
		case r := <-keyedAnswer:
			t.Fatalf("a keyed refusal was answered before its record could commit: %+v", r)
		default:
		}
		release()
		if r := <-pending; r.GetCode() != "" {
			t.Fatalf("pending booking: %+v", r)
		}
		if r := <-behind; r.GetCode() != string(booking.CodeSoldOut) {
			t.Fatalf("booking behind the pending commit: %+v, want sold_out", r)
		}
		if r := <-keyedAnswer; r.GetCode() != string(booking.CodeSoldOut) || !r.GetRefusalStored() {
			t.Fatalf("keyed refusal: %+v, want sold_out stored with its key", r)
		}
		if rec, err := store.GetIdempotency(context.Background(), tenant, "k-keyed"); err != nil || rec.Status != 409 {
			t.Fatalf("the keyed refusal's record: %+v, %v", rec, err)
		}
	})
}
