package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Dashboard loads (Config.DashboardLoad): the scenarios that book while the
// subscribers watch.
var dashboardLoads = []string{"hot", "spread"}

// dashboardSettle bounds how long the dashboard waits after the load for
// every subscriber to see the last acknowledged booking.
const dashboardSettle = 5 * time.Second

// dashboardMethod describes how the dashboard's latency is measured (also
// in the report).
const dashboardMethod = "per room type, the k-th committed change (seq = snapshot seq + k) is matched to the " +
	"k-th booking sent and the k-th 201 received; commit→delta lies between " +
	"(delta received − k-th 201 received, floored at 0) and (delta received − k-th booking sent)"

// dashboardScenario: Subscribers WebSocket clients subscribe to the
// properties the booking load (hot or spread) books, check the snapshot
// and every delta's chain, and time each committed booking to the delta
// that carries it.
//
// The client cannot see the server's commit times, but it can bound them.
// The load is the only writer of its room types and books one room type per
// reservation, so each room type's seq rises by one per acknowledged
// booking: the k-th change after the subscribers' snapshot is seq0+k.
// When it committed, at least k of those bookings had been sent, and by
// the time the k-th 201 arrived at least k had committed. So with S_k the
// k-th send time and A_k the k-th 201 arrival (each sorted), and D the
// time a subscriber received the first delta with seq ≥ seq0+k:
//
//	D − A_k ≤ commit→delta ≤ D − S_k
//
// The report's latency is the upper bound (honest: never flattering); the
// lower bound is reported beside it. Bookings whose outcome is unknown
// (timeouts after every retry) may or may not have committed; a room type
// that has one is left out of the latency, and counted.
type dashboardScenario struct {
	load Scenario
	base time.Time

	mu       sync.Mutex
	bookings map[rtKey]*rtBookings

	subs []*subscriber
}

// rtBookings are the acknowledged creates of one room type, as offsets
// from base.
type rtBookings struct {
	sent, acked []time.Duration
	ambiguous   int
}

func newDashboard(load string) *dashboardScenario {
	var sc Scenario = &hotScenario{}
	if load == "spread" {
		sc = &spreadScenario{}
	}
	return &dashboardScenario{load: sc, bookings: map[rtKey]*rtBookings{}}
}

func (*dashboardScenario) Name() string { return "dashboard" }

// Defaults are the booking load's, except that spread keeps the snapshots
// small (every subscriber reads its property's whole window).
func (s *dashboardScenario) Defaults(l *Layout) {
	if s.load.Name() == "spread" {
		defaults(l, 10, 100, 20, 60)
	}
	s.load.Defaults(l)
}

func (s *dashboardScenario) Setup(ctx context.Context, e *Env) error { return s.load.Setup(ctx, e) }

// Prepare prepares the load, connects every subscriber and waits for its
// snapshots, so that they precede the first booking.
func (s *dashboardScenario) Prepare(ctx context.Context, e *Env) error {
	if err := s.load.Prepare(ctx, e); err != nil {
		return err
	}
	s.base = time.Now()
	e.onCreate = s.created
	props := e.world.properties
	if s.load.Name() == "hot" {
		props = props[:1] // hot books the first room type only
	}
	if len(props) == 0 {
		return fmt.Errorf("%w: no property to subscribe to", ErrConfig)
	}
	n := e.cfg.Subscribers
	s.subs = make([]*subscriber, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := props[i%len(props)]
			sub := &subscriber{s: s, property: p, rts: map[string]*rtTrack{}, drops: map[string]int64{}}
			s.subs[i] = sub
			errs[i] = sub.connect(ctx, e, e.cfg.Targets[i%len(e.cfg.Targets)])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, sub := range s.subs {
			sub.close()
		}
		return fmt.Errorf("connect %d subscribers: %w", n, err)
	}
	for _, sub := range s.subs {
		go sub.read(e)
	}
	return nil
}

func (s *dashboardScenario) Background(load context.Context, e *Env) error {
	return s.load.Background(load, e)
}

func (s *dashboardScenario) Do(load context.Context, e *Env, w *Worker) { s.load.Do(load, e, w) }

// created notes one create of the booking load.
func (s *dashboardScenario) created(property string, stays []stay, sent, done time.Time, res result) {
	if !res.ok() && !res.ambiguous() {
		return // refused or rejected: nothing committed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range stays {
		k := rtKey{property, st.RoomType}
		b := s.bookings[k]
		if b == nil {
			b = &rtBookings{}
			s.bookings[k] = b
		}
		if res.ok() {
			b.sent = append(b.sent, sent.Sub(s.base))
			b.acked = append(b.acked, done.Sub(s.base))
		} else {
			b.ambiguous++
		}
	}
}

// Finish waits for the subscribers to see every acknowledged booking,
// closes them and reports, then lets the booking load report.
func (s *dashboardScenario) Finish(e *Env, r *Report) {
	s.mu.Lock()
	want := map[rtKey]int64{}
	for k, b := range s.bookings {
		want[k] = int64(len(b.acked) + b.ambiguous)
	}
	s.mu.Unlock()
	deadline := time.Now().Add(dashboardSettle)
	for time.Now().Before(deadline) && !s.caughtUp(want) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, sub := range s.subs {
		sub.close()
	}
	for _, sub := range s.subs {
		<-sub.done
	}
	r.Dashboard = s.report(e)
	s.load.Finish(e, r)
}

// caughtUp: every live subscriber has seen, for each room type of its
// property, at least as many changes as were made.
func (s *dashboardScenario) caughtUp(want map[rtKey]int64) bool {
	for _, sub := range s.subs {
		sub.mu.Lock()
		ok := sub.closed
		if !ok {
			ok = true
			for k, n := range want {
				if k.property != sub.property {
					continue
				}
				t := sub.rts[k.roomType]
				if t == nil || t.last-t.seq0 < n {
					ok = false
					break
				}
			}
		}
		sub.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

func (s *dashboardScenario) report(e *Env) *DashboardReport {
	dr := &DashboardReport{Load: s.load.Name(), Subscribers: len(s.subs), Method: dashboardMethod, Drops: map[string]int64{}}
	upper, lower := newHist(3), newHist(3)
	s.mu.Lock()
	defer s.mu.Unlock()
	var excluded []string
	for k, b := range s.bookings {
		dr.Commits += int64(len(b.acked))
		dr.Ambiguous += int64(b.ambiguous)
		if b.ambiguous > 0 {
			excluded = append(excluded, k.property+"/"+k.roomType)
		}
		slices.Sort(b.sent)
		slices.Sort(b.acked)
	}
	dr.MinDeltas = -1
	for _, sub := range s.subs {
		sub.mu.Lock()
		dr.Deltas += sub.deltas
		dr.Gaps += sub.gaps
		dr.Resyncs += sub.resyncs
		if dr.MinDeltas < 0 || sub.deltas < dr.MinDeltas {
			dr.MinDeltas = sub.deltas
		}
		if sub.deltas == 0 {
			dr.WithoutDeltas++
		}
		for code, n := range sub.drops {
			dr.Drops[code] += n
		}
		dropped := len(sub.drops) > 0
		for rt, t := range sub.rts {
			b := s.bookings[rtKey{sub.property, rt}]
			if b == nil {
				if t.last != t.seq0 {
					dr.Unexplained += t.last - t.seq0
				}
				continue
			}
			if extra := t.last - t.seq0 - int64(len(b.acked)+b.ambiguous); extra > 0 {
				dr.Unexplained += extra
			}
			if b.ambiguous > 0 {
				continue
			}
			j := 0
			for k := range b.acked {
				target := uint32(k + 1)
				for j < len(t.obs) && t.obs[j].seq < target {
					j++
				}
				if j == len(t.obs) {
					if !dropped {
						dr.Missed += int64(len(b.acked) - k)
					}
					break
				}
				d := time.Duration(t.obs[j].at) * time.Microsecond
				recordLatency(upper, d-b.sent[k])
				recordLatency(lower, max(d-b.acked[k], 0))
			}
		}
		sub.mu.Unlock()
	}
	if dr.MinDeltas < 0 {
		dr.MinDeltas = 0
	}
	dr.Samples = upper.TotalCount()
	if dr.Samples > 0 {
		dr.P50, dr.P90, dr.P99 = quantile(upper, 50), quantile(upper, 90), quantile(upper, 99)
		dr.Max = Millis(time.Duration(upper.Max()) * time.Microsecond)
		dr.LowerP50, dr.LowerP99 = quantile(lower, 50), quantile(lower, 99)
		dr.LowerMax = Millis(time.Duration(lower.Max()) * time.Microsecond)
		dr.Histogram = buckets(upper)
	}
	slices.Sort(excluded)
	dr.Excluded = excluded
	if dr.Gaps > 0 {
		e.problem("dashboard: %d chain gap(s): a delta's prev_seq was not the last seq seen", dr.Gaps)
	}
	if dr.Missed > 0 {
		e.problem("dashboard: %d acknowledged change(s) never reached a connected subscriber within %s", dr.Missed, dashboardSettle)
	}
	if dr.Commits > 0 && dr.WithoutDeltas > 0 {
		e.problem("dashboard: %d of %d subscribers received no delta", dr.WithoutDeltas, dr.Subscribers)
	}
	return dr
}

// DashboardReport is what the dashboard's subscribers saw. Latencies are
// the upper bound of commit→delta (from the send of the booking); the
// Lower* figures are the lower bound (from its 201). See Method.
type DashboardReport struct {
	Load        string `json:"load"`
	Subscribers int    `json:"subscribers"`
	// Commits are the acknowledged bookings on watched room types;
	// Ambiguous those whose outcome is unknown.
	Commits   int64 `json:"commits"`
	Ambiguous int64 `json:"ambiguous"`
	// Deltas received in all; MinDeltas by the subscriber with fewest.
	Deltas        int64 `json:"deltas"`
	MinDeltas     int64 `json:"min_deltas"`
	WithoutDeltas int   `json:"subscribers_without_deltas"`
	// Gaps: deltas whose prev_seq was not the last seq seen.
	Gaps int64 `json:"gaps"`
	// Resyncs: snapshots after the first (the hub repairing a chain).
	Resyncs int64 `json:"resyncs"`
	// Missed: (subscriber, change) pairs never delivered to a subscriber
	// that stayed connected.
	Missed int64 `json:"missed"`
	// Unexplained: changes seen beyond the bookings made (another writer
	// of the room types makes the latency unreliable).
	Unexplained int64 `json:"unexplained_changes"`
	// Drops are subscribers closed by the server, by close code.
	Drops map[string]int64 `json:"drops"`
	// Excluded room types (a booking with an unknown outcome).
	Excluded  []string          `json:"excluded_room_types,omitempty"`
	Samples   int64             `json:"latency_samples"`
	P50       Millis            `json:"p50_ms"`
	P90       Millis            `json:"p90_ms"`
	P99       Millis            `json:"p99_ms"`
	Max       Millis            `json:"max_ms"`
	LowerP50  Millis            `json:"lower_p50_ms"`
	LowerP99  Millis            `json:"lower_p99_ms"`
	LowerMax  Millis            `json:"lower_max_ms"`
	Histogram []HistogramBucket `json:"histogram"`
	Method    string            `json:"method"`
}

func (d *DashboardReport) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "dashboard: %d subscribers (load %s), %d commits → %d deltas (min %d per subscriber), %d gaps, %d resyncs, %d missed, drops %s\n",
		d.Subscribers, d.Load, d.Commits, d.Deltas, d.MinDeltas, d.Gaps, d.Resyncs, d.Missed, countsText(d.Drops))
	fmt.Fprintf(b, "dashboard commit→delta (upper bound, send→delta): p50 %s · p90 %s · p99 %s · max %s (%d samples); "+
		"lower bound (201→delta): p50 %s · p99 %s · max %s\n",
		d.P50, d.P90, d.P99, d.Max, d.Samples, d.LowerP50, d.LowerP99, d.LowerMax)
	if d.Ambiguous > 0 || d.Unexplained > 0 {
		fmt.Fprintf(b, "dashboard: %d bookings with unknown outcome (room types left out of the latency: %s), %d unexplained changes\n",
			d.Ambiguous, strings.Join(d.Excluded, ", "), d.Unexplained)
	}
}

// subscriber is one WebSocket client of the dashboard.
type subscriber struct {
	s        *dashboardScenario
	property string
	conn     *websocket.Conn
	done     chan struct{}
	closing  atomic.Bool

	mu      sync.Mutex
	rts     map[string]*rtTrack
	deltas  int64
	gaps    int64
	resyncs int64
	drops   map[string]int64
	closed  bool // by the server or an error
}

// rtTrack is one room type's chain as a subscriber sees it.
type rtTrack struct {
	seq0, last int64
	// obs are the deltas (and repair snapshots) received: seq-seq0 and
	// the receive time in µs from base. Compact: a run has many.
	obs []obs
}

type obs struct{ seq, at uint32 }

// streamMessage is any message of the stream.
type streamMessage struct {
	Type      string `json:"type"`
	Property  string `json:"property"`
	RoomType  string `json:"room_type"`
	PrevSeq   int64  `json:"prev_seq"`
	Seq       int64  `json:"seq"`
	RoomTypes []struct {
		RoomType string            `json:"room_type"`
		Seq      int64             `json:"seq"`
		Nights   []json.RawMessage `json:"nights"`
	} `json:"room_types"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func streamURL(target string) string {
	if rest, ok := strings.CutPrefix(target, "https://"); ok {
		return "wss://" + rest + "/v1/stream"
	}
	return "ws://" + strings.TrimPrefix(target, "http://") + "/v1/stream"
}

// connect opens the stream (bearer key, no Origin), subscribes to the
// property's whole window and checks the snapshot.
func (sub *subscriber) connect(ctx context.Context, e *Env, target string) error {
	sub.done = make(chan struct{})
	d := websocket.Dialer{HandshakeTimeout: e.cfg.Timeout, ReadBufferSize: 16 << 10, WriteBufferSize: 4 << 10}
	h := http.Header{"Authorization": {"Bearer " + e.cfg.Key}}
	c, resp, err := d.DialContext(ctx, streamURL(target), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		close(sub.done)
		if resp != nil {
			return fmt.Errorf("open the stream: %s: %w", resp.Status, err)
		}
		return fmt.Errorf("open the stream: %w", err)
	}
	sub.conn = c
	from, to := e.world.start, e.world.start+date(e.world.nights)
	_ = c.SetWriteDeadline(time.Now().Add(e.cfg.Timeout))
	if err := c.WriteJSON(map[string]string{"type": "subscribe", "property": sub.property,
		"from": from.String(), "to": to.String()}); err != nil {
		close(sub.done)
		return fmt.Errorf("subscribe: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(max(e.cfg.Timeout, 10*time.Second)))
	var m streamMessage
	if err := c.ReadJSON(&m); err != nil {
		close(sub.done)
		return fmt.Errorf("read the snapshot: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if m.Type != "snapshot" || m.Property != sub.property {
		close(sub.done)
		return fmt.Errorf("want the snapshot of %s, got %s", sub.property, describeMessage(m))
	}
	want := map[string]bool{}
	for _, rt := range e.world.byProperty[sub.property] {
		want[rt.id] = true
	}
	for _, rt := range m.RoomTypes {
		if len(rt.Nights) != e.world.nights {
			close(sub.done)
			return fmt.Errorf("snapshot of %s/%s: %d nights, want %d", sub.property, rt.RoomType, len(rt.Nights), e.world.nights)
		}
		sub.rts[rt.RoomType] = &rtTrack{seq0: rt.Seq, last: rt.Seq}
		delete(want, rt.RoomType)
	}
	if len(want) > 0 {
		close(sub.done)
		return fmt.Errorf("snapshot of %s lacks %d room type(s) under load", sub.property, len(want))
	}
	return nil
}

func describeMessage(m streamMessage) string {
	if m.Error != nil {
		return "error " + m.Error.Code + ": " + m.Error.Message
	}
	return strconv.Quote(m.Type)
}

// read receives until the connection closes, checking the chain.
func (sub *subscriber) read(e *Env) {
	defer close(sub.done)
	for {
		var m streamMessage
		err := sub.conn.ReadJSON(&m)
		at := time.Since(sub.s.base)
		if err != nil {
			sub.mu.Lock()
			sub.closed = true
			if !sub.closing.Load() {
				code := "error"
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					code = strconv.Itoa(ce.Code)
				}
				sub.drops[code]++
			}
			sub.mu.Unlock()
			return
		}
		us := uint32(min(at/time.Microsecond, 1<<32-1))
		sub.mu.Lock()
		switch m.Type {
		case "delta":
			sub.deltas++
			t := sub.rts[m.RoomType]
			if t == nil {
				// A room type created after the snapshot starts at 0.
				t = &rtTrack{}
				sub.rts[m.RoomType] = t
			}
			if m.PrevSeq != t.last {
				sub.gaps++
			}
			t.last = m.Seq
			t.obs = append(t.obs, obs{seq: uint32(max(m.Seq-t.seq0, 0)), at: us})
		case "snapshot":
			sub.resyncs++
			for _, rt := range m.RoomTypes {
				t := sub.rts[rt.RoomType]
				if t == nil {
					t = &rtTrack{}
					sub.rts[rt.RoomType] = t
				}
				t.last = rt.Seq
				t.obs = append(t.obs, obs{seq: uint32(max(rt.Seq-t.seq0, 0)), at: us})
			}
		case "error":
			e.problem("dashboard: the stream answered %s", describeMessage(m))
		}
		sub.mu.Unlock()
	}
}

// close ends the connection with 1000 (normal closure).
func (sub *subscriber) close() {
	if sub == nil || sub.conn == nil {
		return
	}
	sub.closing.Store(true)
	_ = sub.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = sub.conn.Close()
}
