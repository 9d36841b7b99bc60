package loadtest

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
)

// Scenario is one kind of load. Run calls, in order: Defaults (to complete
// the layout that --setup creates), Setup (only with --setup, after the
// layout exists), Prepare, then Do from every closed-loop client or for
// every open-loop arrival until the duration ends, with Background running
// beside the load for the same time, and Finish once everything has
// answered (before the audit).
//
// Requests go through the Env (book, modify, cancel, availability, send),
// which times them, retries them under their idempotency key and keeps the
// ledger the audit checks. A scenario that needs something else (the
// dashboard's WebSocket subscribers) runs it from Background and adds its
// figures in Finish.
type Scenario interface {
	Name() string
	// Defaults fills the zero fields of the layout.
	Defaults(l *Layout)
	// Setup creates what the scenario needs beyond the layout.
	Setup(ctx context.Context, e *Env) error
	// Prepare runs before the load, with the world known.
	Prepare(ctx context.Context, e *Env) error
	// Background runs beside the load; load ends when the duration does.
	// It must return once its own work is done and load has ended.
	Background(load context.Context, e *Env) error
	// Do performs one operation (which may be several requests). load
	// ends when the duration does; requests in flight are not cut short.
	Do(load context.Context, e *Env, w *Worker)
	// Finish adds the scenario's own results to the report.
	Finish(e *Env, r *Report)
}

// scenarios are the known scenarios by name.
var scenarios = map[string]func() Scenario{
	"hot":     func() Scenario { return &hotScenario{} },
	"spread":  func() Scenario { return &spreadScenario{} },
	"burst":   func() Scenario { return &burstScenario{} },
	"channel": func() Scenario { return &channelScenario{} },
	"mixed":   func() Scenario { return &mixedScenario{} },
	// The dashboard's booking load is Config.DashboardLoad (newScenario).
	"dashboard": func() Scenario { return newDashboard("hot") },
}

// newScenario is the configured scenario.
func newScenario(cfg Config) Scenario {
	if cfg.Scenario == "dashboard" {
		return newDashboard(cfg.DashboardLoad)
	}
	return scenarios[cfg.Scenario]()
}

// Scenarios lists the scenario names.
func Scenarios() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// baseScenario has the no-op methods that scenarios embed.
type baseScenario struct{}

func (baseScenario) Setup(context.Context, *Env) error   { return nil }
func (baseScenario) Prepare(context.Context, *Env) error { return nil }
func (baseScenario) Background(load context.Context, _ *Env) error {
	<-load.Done()
	return nil
}
func (baseScenario) Finish(*Env, *Report) {}

func defaults(l *Layout, properties, roomTypes, rooms, nights int) {
	if l.Properties == 0 {
		l.Properties = properties
	}
	if l.RoomTypes == 0 {
		l.RoomTypes = max(roomTypes, l.Properties)
	}
	if l.Rooms == 0 {
		l.Rooms = rooms
	}
	if l.Nights == 0 {
		l.Nights = nights
	}
}

// hotScenario: every client races for the same room type and the same few
// nights (two-night stays arriving on one of the first 7 nights).
type hotScenario struct {
	baseScenario
	rt roomType
}

func (*hotScenario) Name() string { return "hot" }

// hotArrivals is how many first nights hot arrivals spread over.
const hotArrivals = 7

func (*hotScenario) Defaults(l *Layout) { defaults(l, 1, 1, 100000, 30) }

func (s *hotScenario) Prepare(_ context.Context, e *Env) error {
	s.rt = e.world.roomTypes[0]
	return nil
}

func (s *hotScenario) Do(_ context.Context, e *Env, w *Worker) {
	nights := min(2, e.world.nights)
	arr := e.world.start + date(w.Rand.IntN(max(min(hotArrivals, e.world.nights-nights+1), 1)))
	e.book(w, opBook, s.rt.property, []stay{{RoomType: s.rt.id, Arrival: arr, Departure: arr + date(nights), Quantity: 1}})
}

// spreadScenario: bookings over many properties and room types with
// realistic stay lengths and lead times.
type spreadScenario struct{ baseScenario }

func (*spreadScenario) Name() string { return "spread" }

func (*spreadScenario) Defaults(l *Layout) { defaults(l, 10, 1000, 20, 180) }

func (*spreadScenario) Do(_ context.Context, e *Env, w *Worker) {
	rt := e.randomRoomType(w)
	e.book(w, opBook, rt.property, []stay{e.realisticStay(w, rt)})
}

// mixedScenario: what a busy installation sees: bookings (some over two
// room types), availability reads, modifications and cancellations.
type mixedScenario struct{ baseScenario }

func (*mixedScenario) Name() string { return "mixed" }

func (*mixedScenario) Defaults(l *Layout) { defaults(l, 10, 200, 30, 180) }

func (*mixedScenario) Do(_ context.Context, e *Env, w *Worker) {
	switch n := w.Rand.IntN(100); {
	case n < 55:
		rt := e.randomRoomType(w)
		stays := []stay{e.realisticStay(w, rt)}
		if others := e.world.byProperty[rt.property]; len(others) > 1 && w.Rand.IntN(10) == 0 {
			// One reservation over two room types of the property.
			other := others[w.Rand.IntN(len(others))]
			if other.id != rt.id {
				s := stays[0]
				s.RoomType = other.id
				stays = append(stays, s)
			}
		}
		e.book(w, opBook, rt.property, stays)
	case n < 80:
		rt := e.randomRoomType(w)
		nights := min(14, e.world.nights)
		from := e.world.start + date(w.Rand.IntN(e.world.nights-nights+1))
		e.availability(w, rt.property, rt.id, from, from+date(nights))
	case n < 90:
		if en := e.ledger.take(w.Rand); en != nil {
			e.modify(w, en, e.modifiedStays(w, en.stays))
			return
		}
		rt := e.randomRoomType(w)
		e.book(w, opBook, rt.property, []stay{e.realisticStay(w, rt)})
	default:
		if en := e.ledger.take(w.Rand); en != nil {
			e.cancel(w, en)
			return
		}
		rt := e.randomRoomType(w)
		e.book(w, opBook, rt.property, []stay{e.realisticStay(w, rt)})
	}
}

// channelScenario: a channel manager pushing bursts of bookings, each
// retried on timeouts and 5xx under its idempotency key, a share of them
// delivered twice under the same key (at once, or after the first
// answer), plus modifications and cancellations.
type channelScenario struct{ baseScenario }

func (*channelScenario) Name() string { return "channel" }

func (*channelScenario) Defaults(l *Layout) { defaults(l, 5, 50, 50, 180) }

// channelPush is the most bookings one push sends at once.
const channelPush = 8

func (s *channelScenario) Do(_ context.Context, e *Env, w *Worker) {
	switch n := w.Rand.IntN(100); {
	case n < 70:
		k := 1 + w.Rand.IntN(channelPush)
		var wg sync.WaitGroup
		for range k {
			sub := &Worker{ID: w.ID, Rand: rand.New(rand.NewPCG(w.Rand.Uint64(), w.Rand.Uint64())), intended: w.intended}
			wg.Go(func() { s.push(e, sub) })
		}
		wg.Wait()
	case n < 85:
		if en := e.ledger.take(w.Rand); en != nil {
			e.modify(w, en, e.modifiedStays(w, en.stays))
		}
	default:
		if en := e.ledger.take(w.Rand); en != nil {
			e.cancel(w, en)
		}
	}
}

// push delivers one booking, twice under the same key for a share of them,
// and checks that both deliveries got the same answer.
func (s *channelScenario) push(e *Env, w *Worker) {
	rt := e.randomRoomType(w)
	key := e.newKey()
	body := newReservationRequest(key, []stay{e.realisticStay(w, rt)})
	if w.Rand.Float64() >= e.cfg.DuplicateRate {
		e.deliver(w, opBook, rt.property, key, body, true)
		return
	}
	var first, dup booking
	if w.Rand.IntN(2) == 0 {
		// Both deliveries race (a channel manager that timed out and
		// resent while the first was still being processed).
		twin := &Worker{ID: w.ID, intended: w.intended}
		var wg sync.WaitGroup
		wg.Go(func() { dup = e.deliver(twin, opBookDup, rt.property, key, body, false) })
		first = e.deliver(w, opBook, rt.property, key, body, true)
		wg.Wait()
	} else {
		first = e.deliver(w, opBook, rt.property, key, body, true)
		dup = e.deliver(w, opBookDup, rt.property, key, body, false)
	}
	checkDuplicate(e, key, first, dup)
}

// checkDuplicate: two deliveries under one key that both got a final
// answer must have got the same one.
func checkDuplicate(e *Env, key string, a, b booking) {
	final := func(x booking) bool { return x.res.ok() || x.res.refused() }
	if !final(a) || !final(b) {
		return
	}
	switch {
	case a.res.code != b.res.code:
		e.problem("idempotency key %s: two deliveries were answered differently (%s and %s)",
			key, codeOrOK(a.res), codeOrOK(b.res))
	case a.res.ok() && a.r.ID != b.r.ID:
		e.problem("idempotency key %s: two deliveries made two reservations (%s and %s)", key, a.r.ID, b.r.ID)
	}
}

func codeOrOK(r result) string {
	if r.ok() {
		return "201"
	}
	return r.code
}
