package loadtest

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// flashRoomType is the id of the burst's room type under --setup.
const flashRoomType = "flash"

// maxBurstSamples bounds the background samples kept during a burst.
const maxBurstSamples = 2_000_000

// burstScenario: a flash sale, open loop (Burst.Attempts one-room bookings
// of one night within Burst.Window on a room type with Burst.Rooms rooms),
// over a background load of realistic bookings on the other room types.
// Exactly the rooms available must be accepted.
type burstScenario struct {
	flash      roomType
	background []roomType
	night      date
	available  int
	started    atomic.Int64 // unix nanos of the first arrival; 0 before

	mu           sync.Mutex
	samples      []sample // background operations that started during the burst
	accepted     int
	refused      int
	errors       int
	soldAt       time.Time
	lastAnswer   time.Time
	lastArrival  time.Time
	firstArrival time.Time
	flashLat     []time.Duration
	skipped      bool
}

type sample struct {
	intended time.Time
	lat      time.Duration
}

func (*burstScenario) Name() string { return "burst" }

func (*burstScenario) Defaults(l *Layout) { defaults(l, 1, 20, 50, 60) }

// Setup creates the flash room type in the first property.
func (s *burstScenario) Setup(ctx context.Context, e *Env) error {
	p := e.world.properties[0]
	if err := putRoomType(ctx, e, p, flashRoomType, e.cfg.Burst.Rooms); err != nil {
		return err
	}
	e.world.add(roomType{property: p, id: flashRoomType, rooms: e.cfg.Burst.Rooms})
	return nil
}

// Prepare picks the flash room type ("flash", else the first room type),
// the night, and reads how many rooms are free on it.
func (s *burstScenario) Prepare(ctx context.Context, e *Env) error {
	s.flash = e.world.roomTypes[0]
	for _, rt := range e.world.roomTypes {
		if rt.id == flashRoomType {
			s.flash = rt
		}
	}
	for _, rt := range e.world.roomTypes {
		if rt != s.flash {
			s.background = append(s.background, rt)
		}
	}
	if len(s.background) == 0 {
		return fmt.Errorf("%w: the burst scenario needs a second room type for the background load", ErrConfig)
	}
	s.night = e.world.start
	q := url.Values{"from": {s.night.String()}, "to": {(s.night + 1).String()}, "room_type": {s.flash.id}}
	var av availability
	if err := e.client.getJSON(ctx, "/v1/properties/"+url.PathEscape(s.flash.property)+"/availability?"+q.Encode(), &av); err != nil {
		return fmt.Errorf("read the flash room type's availability: %w", err)
	}
	if len(av.RoomTypes) != 1 || len(av.RoomTypes[0].Nights) != 1 {
		return fmt.Errorf("availability of %s/%s: want one night of one room type", s.flash.property, s.flash.id)
	}
	s.available = av.RoomTypes[0].Nights[0].Available
	e.rec.observe(func(op string, intended time.Time, lat time.Duration, _ result) {
		st := s.started.Load()
		if op == opFlash || st == 0 || intended.UnixNano() < st {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.samples) < maxBurstSamples {
			s.samples = append(s.samples, sample{intended, lat})
		}
	})
	return nil
}

// Do is the background load.
func (s *burstScenario) Do(_ context.Context, e *Env, w *Worker) {
	rt := s.background[w.Rand.IntN(len(s.background))]
	e.book(w, opBook, rt.property, []stay{e.realisticStay(w, rt)})
}

// Background runs the flash sale Burst.At after the load starts.
func (s *burstScenario) Background(load context.Context, e *Env) error {
	at := e.rec.start.Add(e.cfg.Burst.At)
	if !sleep(load, time.Until(at)) {
		s.mu.Lock()
		s.skipped = true
		s.mu.Unlock()
		return nil
	}
	n := e.cfg.Burst.Attempts
	step := e.cfg.Burst.Window / time.Duration(n)
	first := time.Now()
	s.started.Store(first.UnixNano())
	var wg sync.WaitGroup
	for i := range n {
		t := first.Add(time.Duration(i) * step)
		if d := time.Until(t); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() {
			w := &Worker{ID: -1 - i, intended: t}
			b := e.book(w, opFlash, s.flash.property,
				[]stay{{RoomType: s.flash.id, Arrival: s.night, Departure: s.night + 1, Quantity: 1}})
			done := time.Now()
			s.mu.Lock()
			defer s.mu.Unlock()
			s.flashLat = append(s.flashLat, done.Sub(t))
			switch {
			case b.res.ok():
				s.accepted++
				if done.After(s.soldAt) {
					s.soldAt = done
				}
			case b.res.refused():
				s.refused++
			default:
				s.errors++
			}
			if done.After(s.lastAnswer) {
				s.lastAnswer = done
			}
		})
	}
	s.mu.Lock()
	s.firstArrival, s.lastArrival = first, first.Add(time.Duration(n-1)*step)
	s.mu.Unlock()
	wg.Wait()
	<-load.Done()
	return nil
}

// Finish reports the burst and checks that exactly the free rooms sold.
func (s *burstScenario) Finish(e *Env, r *Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.skipped {
		e.problem("burst: the run ended before the flash sale was due (%s after the start); use a longer --duration", e.cfg.Burst.At)
		return
	}
	br := &BurstReport{RoomType: s.flash.property + "/" + s.flash.id, Night: s.night.String(),
		Attempts: e.cfg.Burst.Attempts, Available: s.available,
		Accepted: s.accepted, Refused: s.refused, Errors: s.errors}
	if s.accepted > 0 {
		br.SellOut = Millis(s.soldAt.Sub(s.firstArrival))
	}
	br.Drain = Millis(max(s.lastAnswer.Sub(s.lastArrival), 0))
	fh := newHist(3)
	for _, l := range s.flashLat {
		recordLatency(fh, l)
	}
	br.FlashP99 = quantile(fh, 99)
	bh := newHist(3)
	for _, smp := range s.samples {
		if !smp.intended.After(s.lastAnswer) {
			recordLatency(bh, smp.lat)
		}
	}
	br.BackgroundOps = bh.TotalCount()
	br.BackgroundP99 = quantile(bh, 99)
	r.Burst = br
	want := min(s.available, br.Attempts)
	switch {
	case s.accepted > s.available:
		e.problem("burst: %d bookings accepted for %d free rooms (oversold)", s.accepted, s.available)
	case s.accepted < want && s.errors == 0:
		e.problem("burst: only %d bookings accepted for %d free rooms and %d attempts", s.accepted, s.available, br.Attempts)
	}
}
