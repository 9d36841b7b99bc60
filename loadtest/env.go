package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Operation names in the report.
const (
	opBook         = "book"
	opBookDup      = "book_duplicate"
	opModify       = "modify"
	opCancel       = "cancel"
	opAvailability = "availability"
	opFlash        = "flash"
)

// loadChannel is the channel name the load tester books under.
const loadChannel = "loadtest"

// maxProblems bounds the problem messages kept (all are counted).
const maxProblems = 100

// Env is what a Scenario works with: the API client, the properties and
// room types under load, the booking window, the ledger of what the server
// acknowledged (for the audit), and the recorder.
type Env struct {
	cfg    Config
	ctx    context.Context // for requests: ends only when the run is interrupted
	client *client
	rec    *recorder
	world  world
	ledger *ledger
	seq    atomic.Uint64
	// onCreate, when set (before the load), sees every create: its stays,
	// when it was sent (the first attempt), when its final answer came,
	// and the answer. The dashboard scenario uses it to time deltas.
	onCreate func(property string, stays []stay, sent, done time.Time, res result)

	mu       sync.Mutex
	touched  map[rtKey]bool
	minDate  date
	maxDate  date
	problems []string
	nProblem int
}

// rtKey names a room type of a property.
type rtKey struct{ property, roomType string }

// roomType is one room type under load.
type roomType struct {
	property, id string
	rooms        int
}

// world is the data under load and the booking window.
type world struct {
	properties []string
	roomTypes  []roomType
	byProperty map[string][]roomType
	start      date // first night of the window
	nights     int  // length of the window
}

func (w *world) add(rt roomType) {
	if w.byProperty == nil {
		w.byProperty = map[string][]roomType{}
	}
	if _, ok := w.byProperty[rt.property]; !ok {
		w.properties = append(w.properties, rt.property)
	}
	w.byProperty[rt.property] = append(w.byProperty[rt.property], rt)
	w.roomTypes = append(w.roomTypes, rt)
}

// Worker is one closed-loop client, or one open-loop arrival. Rand is its
// own random source (seeded from Config.Seed).
type Worker struct {
	ID   int
	Rand *rand.Rand
	// intended is the open-loop arrival time: the first request the
	// worker sends is timed from it.
	intended time.Time
}

// start is when the next request counts from: the intended arrival for the
// first request of an open-loop arrival, else now.
func (w *Worker) start() time.Time {
	if !w.intended.IsZero() {
		t := w.intended
		w.intended = time.Time{}
		return t
	}
	return time.Now()
}

func newEnv(ctx context.Context, cfg Config) *Env {
	return &Env{cfg: cfg, ctx: ctx, client: newClient(cfg), ledger: newLedger(), touched: map[rtKey]bool{}}
}

// problem records a finding that fails the run.
func (e *Env) problem(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nProblem++
	if len(e.problems) < maxProblems {
		e.problems = append(e.problems, fmt.Sprintf(format, args...))
	}
}

// newKey is a new idempotency key, also used as the external reference.
func (e *Env) newKey() string {
	return fmt.Sprintf("%s-%d", e.cfg.Prefix, e.seq.Add(1))
}

// touch notes the room types and nights a request asks for, so the audit
// knows what to read back.
func (e *Env) touch(property string, stays []stay) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range stays {
		e.touched[rtKey{property, s.RoomType}] = true
		if e.minDate == 0 || s.Arrival < e.minDate {
			e.minDate = s.Arrival
		}
		if s.Departure > e.maxDate {
			e.maxDate = s.Departure
		}
	}
}

// send runs one request and records it as op.
func (e *Env) send(w *Worker, op string, req request, booking bool) result {
	start := w.start()
	res := e.client.do(e.ctx, req)
	if booking && !res.ok() {
		booking = false
	}
	e.rec.record(op, start, time.Now(), res, booking)
	return res
}

// booking is the outcome of one create.
type booking struct {
	res   result
	r     reservation // when res.ok()
	key   string
	entry *entry // the ledger's entry (nil unless 201)
}

func newReservationRequest(ref string, stays []stay) reservationRequest {
	return reservationRequest{Stays: stays, Guest: guest{Name: "Load Test", Email: "loadtest@example.com"},
		Channel: loadChannel, ExternalRef: ref}
}

func reservationsPath(property string) string {
	return "/v1/properties/" + url.PathEscape(property) + "/reservations"
}

// book creates a reservation under a new idempotency key (also its
// external reference) and records it as op.
func (e *Env) book(w *Worker, op, property string, stays []stay) booking {
	key := e.newKey()
	return e.deliver(w, op, property, key, newReservationRequest(key, stays), true)
}

// deliver sends a create with key; first says whether a 201 counts as a
// new booking (false for a duplicate delivery).
func (e *Env) deliver(w *Worker, op, property, key string, body reservationRequest, first bool) booking {
	e.touch(property, body.Stays)
	sent := time.Now()
	res := e.send(w, op, request{method: http.MethodPost, path: reservationsPath(property), body: body,
		idemKey: key, retryConflict: true}, first)
	if e.onCreate != nil {
		e.onCreate(property, body.Stays, sent, time.Now(), res)
	}
	b := booking{res: res, key: key}
	if res.ok() {
		res.decode(&b.r)
		b.res = res
	}
	switch {
	case b.res.ok():
		b.entry = e.ledger.add(property, body.ExternalRef, b.r)
	case b.res.ambiguous():
		e.ledger.unknownCreate()
	}
	return b
}

// modify changes an entry's stays under a new key; it gives the entry back
// to the ledger.
func (e *Env) modify(w *Worker, en *entry, stays []stay) result {
	defer e.ledger.give(en)
	e.touch(en.property, stays)
	res := e.send(w, opModify, request{method: http.MethodPatch, path: "/v1/reservations/" + url.PathEscape(en.id),
		body: modifyRequest{Stays: stays}, idemKey: e.newKey()}, false)
	var r reservation
	res.decode(&r)
	e.ledger.modified(en, res, r)
	return res
}

// cancel cancels an entry under a new key; it gives the entry back to the
// ledger.
func (e *Env) cancel(w *Worker, en *entry) result {
	defer e.ledger.give(en)
	res := e.send(w, opCancel, request{method: http.MethodPost,
		path: "/v1/reservations/" + url.PathEscape(en.id) + "/cancel", idemKey: e.newKey()}, false)
	e.ledger.cancelled(en, res)
	return res
}

// availability reads a range of one room type.
func (e *Env) availability(w *Worker, property, rt string, from, to date) result {
	q := url.Values{"from": {from.String()}, "to": {to.String()}, "room_type": {rt}}
	return e.send(w, opAvailability, request{method: http.MethodGet,
		path: "/v1/properties/" + url.PathEscape(property) + "/availability?" + q.Encode()}, false)
}

// stayLengths are the weights of stays of 1…7 nights (city hotels: most
// stays are short).
var stayLengths = []int{30, 25, 18, 10, 7, 5, 5}

// realisticStay is a stay in rt: lead time exponential with a 30-night
// mean (capped to the window), 1–7 nights, mostly one room.
func (e *Env) realisticStay(w *Worker, rt roomType) stay {
	nights := pickWeighted(w.Rand, stayLengths) + 1
	nights = min(nights, e.world.nights)
	lead := min(int(w.Rand.ExpFloat64()*30), e.world.nights-nights)
	q := 1
	if w.Rand.IntN(10) == 0 {
		q = 2
	}
	arr := e.world.start + date(lead)
	return stay{RoomType: rt.id, Arrival: arr, Departure: arr + date(nights), Quantity: q}
}

func pickWeighted(r *rand.Rand, weights []int) int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	n := r.IntN(sum)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// randomRoomType picks uniformly among all room types.
func (e *Env) randomRoomType(w *Worker) roomType {
	return e.world.roomTypes[w.Rand.IntN(len(e.world.roomTypes))]
}

// modifiedStays moves a reservation's stays one night later, or makes them
// one night longer, within the window.
func (e *Env) modifiedStays(w *Worker, stays []stay) []stay {
	out := make([]stay, len(stays))
	copy(out, stays)
	end := e.world.start + date(e.world.nights)
	shift := w.Rand.IntN(2) == 0
	for i := range out {
		if out[i].Departure+1 > end {
			// No room to grow: one night earlier instead, or shorter.
			if out[i].Arrival > e.world.start {
				out[i].Arrival--
				out[i].Departure--
			} else if out[i].Departure-out[i].Arrival > 1 {
				out[i].Departure--
			}
			continue
		}
		if shift {
			out[i].Arrival++
		}
		out[i].Departure++
	}
	return out
}
