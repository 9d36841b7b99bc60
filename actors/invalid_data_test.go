package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
)

// gatedStore is the real store with two test hooks: the commit after arm()
// waits until release (so that requests sent meanwhile are sure to share
// the next batch), and every commit's reservations and outcome are kept.
type gatedStore struct {
	persistence.Store
	mu      sync.Mutex
	gate    chan struct{} // non-nil: the next commit waits for it to close
	entered chan struct{} // closed when that commit is waiting
	commits []commitRecord
}

type commitRecord struct {
	reservations []string
	err          error
}

func (g *gatedStore) arm() (entered chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered = make(chan struct{}), make(chan struct{})
	gate := g.gate
	return g.entered, func() { close(gate) }
}

func (g *gatedStore) CommitBatches(ctx context.Context, bs []persistence.Batch) []error {
	return persistence.CommitEach(ctx, g.CommitBatch, bs)
}

func (g *gatedStore) CommitBatch(ctx context.Context, b persistence.Batch) error {
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.gate, g.entered = nil, nil
	g.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	err := g.Store.CommitBatch(ctx, b)
	rec := commitRecord{err: err}
	for _, r := range b.Reservations {
		rec.reservations = append(rec.reservations, r.ID)
	}
	g.mu.Lock()
	g.commits = append(g.commits, rec)
	g.mu.Unlock()
	return err
}

// TestInventory_UnstorableRequestFailsAloneInItsBatch: a request whose data
// Postgres cannot store (NUL in text or jsonb; sent straight to the actor,
// past the gateway's text rules) shares a group commit with valid bookings.
// The whole transaction is refused, but that is one request's fault: every
// valid booking is confirmed, each bad one is answered 400 naming its field
// (never 503 "retry"), and the journal, the reservation rows and the
// calendar agree.
func TestInventory_UnstorableRequestFailsAloneInItsBatch(t *testing.T) {
	store := &gatedStore{Store: MustOpen(t, pgtest.NewDatabase(t))}
	a := MustSpawn(t, store, opts())
	a.MustAsk(t, putRoomType("Deluxe", 100, 100))
	arrival := booking.DateOf(time.Now()) + 30

	hostile := []struct {
		field string
		edit  func(r *booking.Reservation)
	}{
		{"guest.name", func(r *booking.Reservation) { r.Guest.Name = "A\x00B" }},
		{"guest.phone", func(r *booking.Reservation) { r.Guest.Phone = "+49\x00" }},
		{"guest.email", func(r *booking.Reservation) { r.Guest.Email = "a\x00@b.de" }},
		{"channel", func(r *booking.Reservation) { r.Channel = "ota\x00" }},
		{"external_ref", func(r *booking.Reservation) { r.ExternalRef = "\x00" }},
	}
	book := func(id string, edit func(*booking.Reservation)) *actors.Command {
		row := booking.Reservation{ID: id, Status: booking.StatusConfirmed, Version: 1, Currency: "EUR",
			Stays: []booking.Stay{{RoomType: roomType, Arrival: arrival, Departure: arrival + 2, Quantity: 1}},
			Guest: booking.Guest{Name: "Ada"}, Channel: "test", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if edit != nil {
			edit(&row)
		}
		return book(row)
	}

	type sent struct {
		id, badField string
		f            *actor.Future
	}
	var all []sent
	const bursts, valid = 3, 15
	for burst := range bursts {
		entered, release := store.arm()
		first := sent{id: fmt.Sprintf("r_%d_first", burst)}
		first.f = a.sys.Root.RequestFuture(a.pid, book(first.id, nil), 30*time.Second)
		all = append(all, first)
		<-entered // the first booking's commit is in flight: what follows collects into the next batch
		for i := range valid {
			s := sent{id: fmt.Sprintf("r_%d_%d", burst, i)}
			s.f = a.sys.Root.RequestFuture(a.pid, book(s.id, nil), 30*time.Second)
			all = append(all, s)
			if i%3 == 1 { // the bad ones between valid ones
				h := hostile[(i/3+burst)%len(hostile)]
				b := sent{id: fmt.Sprintf("r_%d_bad_%d", burst, i), badField: h.field}
				b.f = a.sys.Root.RequestFuture(a.pid, book(b.id, h.edit), 30*time.Second)
				all = append(all, b)
			}
		}
		// Answered at once from the committed state, after every message
		// before it in the mailbox: all of them are collected by now.
		a.MustAsk(t, readNights(arrival, 1))
		release()
	}

	confirmed := map[string]bool{}
	for _, s := range all {
		res, err := s.f.Result()
		if err != nil {
			t.Fatalf("%s: no answer: %v", s.id, err)
		}
		r := res.(*actors.Reply)
		if s.badField == "" {
			if r.Code != "" {
				t.Errorf("valid booking %s: %s %s (not_committed=%v), want confirmed", s.id, r.Code, r.Message, r.NotCommitted)
				continue
			}
			confirmed[s.id] = true
			continue
		}
		if r.Code != string(booking.CodeInvalid) || r.NotCommitted {
			t.Errorf("booking %s with NUL in %s: %q %q (not_committed=%v), want invalid_request", s.id, s.badField, r.Code, r.Message, r.NotCommitted)
			continue
		}
		var details struct {
			Fields map[string]string `json:"fields"`
		}
		if err := json.Unmarshal(r.Details, &details); err != nil || details.Fields[s.badField] == "" {
			t.Errorf("booking %s: details %s do not name %s", s.id, r.Details, s.badField)
		}
	}

	// The isolation path was taken: some batch held valid and bad bookings
	// together and was refused as data.
	store.mu.Lock()
	shared := 0
	for _, c := range store.commits {
		if errors.Is(c.err, persistence.ErrInvalidData) && len(c.reservations) > 1 {
			shared++
		}
	}
	store.mu.Unlock()
	if shared < bursts {
		t.Fatalf("%d refused batches held several bookings, want one per burst (%d): the test did not mix them", shared, bursts)
	}

	// Audit: the calendar, rebuilt from the journal, holds exactly the
	// confirmed bookings, and every one of them has its row.
	inv, err := actors.LoadInventory(context.Background(), store, identity)
	if err != nil {
		t.Fatal(err)
	}
	if want := bursts * (valid + 1); len(confirmed) != want || len(inv.Allocations) != want {
		t.Fatalf("%d confirmed, %d allocations in the journal, want %d", len(confirmed), len(inv.Allocations), want)
	}
	for id := range inv.Allocations {
		if !confirmed[id] {
			t.Errorf("journal allocates %s, which was not confirmed", id)
		}
	}
	for d := arrival; d < arrival+2; d++ {
		if v := inv.View(d); int(v.Booked) != len(confirmed) || v.Booked > v.Total {
			t.Errorf("night %s booked %d of %d, want %d", d, v.Booked, v.Total, len(confirmed))
		}
	}
	for _, s := range all {
		_, err := store.GetReservation(context.Background(), tenant, s.id)
		switch {
		case confirmed[s.id] && err != nil:
			t.Errorf("confirmed %s has no row: %v", s.id, err)
		case s.badField != "" && !errors.Is(err, persistence.ErrNotFound):
			t.Errorf("refused %s has a row (or: %v)", s.id, err)
		}
	}
}
