package loadtest

import (
	"sort"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms count microseconds from 1 µs to one hour.
const (
	histMin = 1
	histMax = int64(time.Hour / time.Microsecond)
)

func newHist(digits int) *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, digits) }

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(int64(d/time.Microsecond), histMin), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// opCounts are the outcomes of one kind of operation.
type opCounts struct {
	hist                       *hdrhistogram.Histogram
	count, ok, refused, errors int64
}

// second is one second of the timeline, by intended start.
type second struct {
	hist                           *hdrhistogram.Histogram
	ops, errors, bookings, refused int64
}

// recorder collects every outcome of the load phase. It is safe for
// concurrent use; a mutex is plenty at the rates one client machine makes.
type recorder struct {
	mu       sync.Mutex
	start    time.Time
	ops      map[string]*opCounts
	total    *opCounts
	errors   map[string]int64
	refusals map[string]int64
	retries  map[string]int64
	attempts int64
	bookings int64
	seconds  []*second
	lastDone time.Time
	// window is what progress shows: since the previous progress tick.
	window                *hdrhistogram.Histogram
	windowOps, windowErrs int64
	// observers see every outcome (scenarios that measure a sub-period).
	observers []func(op string, intended time.Time, lat time.Duration, res result)
}

func newRecorder(start time.Time) *recorder {
	return &recorder{
		start: start, ops: map[string]*opCounts{}, total: &opCounts{hist: newHist(3)},
		errors: map[string]int64{}, refusals: map[string]int64{}, retries: map[string]int64{},
		window: newHist(2),
	}
}

// observe adds an observer; call it before the load starts.
func (r *recorder) observe(f func(op string, intended time.Time, lat time.Duration, res result)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observers = append(r.observers, f)
}

// record counts one operation that was meant to start at intended and
// ended at done; booking marks a create whose 201 is a new booking.
func (r *recorder) record(op string, intended, done time.Time, res result, booking bool) {
	lat := done.Sub(intended)
	r.mu.Lock()
	oc := r.ops[op]
	if oc == nil {
		oc = &opCounts{hist: newHist(3)}
		r.ops[op] = oc
	}
	sec := r.secondAt(intended)
	for _, c := range []*opCounts{oc, r.total} {
		c.count++
		recordLatency(c.hist, lat)
	}
	recordLatency(sec.hist, lat)
	recordLatency(r.window, lat)
	sec.ops++
	r.windowOps++
	r.attempts += int64(res.attempts)
	for _, code := range res.retried {
		r.retries[code]++
	}
	switch {
	case res.ok():
		oc.ok++
		r.total.ok++
		if booking {
			r.bookings++
			sec.bookings++
		}
	case res.refused():
		oc.refused++
		r.total.refused++
		r.refusals[res.code]++
		sec.refused++
	default:
		oc.errors++
		r.total.errors++
		r.errors[res.code]++
		sec.errors++
		r.windowErrs++
	}
	if done.After(r.lastDone) {
		r.lastDone = done
	}
	obs := r.observers
	r.mu.Unlock()
	for _, f := range obs {
		f(op, intended, lat, res)
	}
}

// fail counts an operation that could not even be sent (open loop over
// MaxInFlight): an error without a latency.
func (r *recorder) fail(op string, intended time.Time, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oc := r.ops[op]
	if oc == nil {
		oc = &opCounts{hist: newHist(3)}
		r.ops[op] = oc
	}
	oc.count++
	oc.errors++
	r.total.count++
	r.total.errors++
	r.errors[code]++
	sec := r.secondAt(intended)
	sec.ops++
	sec.errors++
	r.windowOps++
	r.windowErrs++
}

func (r *recorder) secondAt(t time.Time) *second {
	i := max(int(t.Sub(r.start)/time.Second), 0)
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, &second{hist: newHist(2)})
	}
	return r.seconds[i]
}

// live is what a progress tick shows.
type live struct {
	ops, errors, bookings int64
	windowOps             int64
	windowErrs            int64
	windowP99             time.Duration
}

// tick returns the totals and the window since the previous tick, and
// starts a new window.
func (r *recorder) tick() live {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := live{ops: r.total.count, errors: r.total.errors, bookings: r.bookings,
		windowOps: r.windowOps, windowErrs: r.windowErrs,
		windowP99: time.Duration(r.window.ValueAtQuantile(99)) * time.Microsecond}
	r.window.Reset()
	r.windowOps, r.windowErrs = 0, 0
	return l
}

// fill writes the recorder's figures into the report.
func (r *recorder) fill(rep *Report, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastDone.After(end) {
		end = r.lastDone
	}
	elapsed := end.Sub(r.start)
	rep.Elapsed = Millis(elapsed)
	names := make([]string, 0, len(r.ops))
	for name := range r.ops {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rep.Operations = append(rep.Operations, opStats(name, r.ops[name]))
	}
	rep.Total = opStats("total", r.total)
	rep.Requests = r.attempts
	rep.Bookings = r.bookings
	if s := elapsed.Seconds(); s > 0 {
		rep.BookingsPerSec = float64(r.bookings) / s
		rep.OpsPerSec = float64(r.total.count) / s
		rep.RequestsPerSec = float64(r.attempts) / s
	}
	if r.total.count > 0 {
		rep.ErrorRate = float64(r.total.errors) / float64(r.total.count)
	}
	rep.Errors, rep.Refusals, rep.Retries = copyMap(r.errors), copyMap(r.refusals), copyMap(r.retries)
	for i, s := range r.seconds {
		p := TimelinePoint{Second: i, Ops: s.ops, Bookings: s.bookings, Refused: s.refused, Errors: s.errors}
		if s.hist.TotalCount() > 0 {
			p.P50 = quantile(s.hist, 50)
			p.P99 = quantile(s.hist, 99)
			p.Max = Millis(time.Duration(s.hist.Max()) * time.Microsecond)
		}
		rep.Timeline = append(rep.Timeline, p)
	}
	rep.Histogram = buckets(r.total.hist)
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func quantile(h *hdrhistogram.Histogram, q float64) Millis {
	return Millis(time.Duration(h.ValueAtQuantile(q)) * time.Microsecond)
}

func opStats(name string, c *opCounts) OpStats {
	s := OpStats{Name: name, Count: c.count, OK: c.ok, Refused: c.refused, Errors: c.errors}
	if c.hist.TotalCount() > 0 {
		s.Mean = Millis(time.Duration(c.hist.Mean()) * time.Microsecond)
		s.P50 = quantile(c.hist, 50)
		s.P90 = quantile(c.hist, 90)
		s.P99 = quantile(c.hist, 99)
		s.P999 = quantile(c.hist, 99.9)
		s.Max = Millis(time.Duration(c.hist.Max()) * time.Microsecond)
	}
	return s
}

// buckets folds a histogram into 1-2-5 buckets from 10 µs up, for the
// report's latency histogram.
func buckets(h *hdrhistogram.Histogram) []HistogramBucket {
	if h.TotalCount() == 0 {
		return nil
	}
	var bounds []int64 // upper bounds in µs
	for decade := int64(10); decade <= histMax; decade *= 10 {
		bounds = append(bounds, decade, 2*decade, 5*decade)
	}
	counts := make([]int64, len(bounds))
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= bar.To })
		if i == len(bounds) {
			i--
		}
		counts[i] += bar.Count
	}
	first, last := -1, 0
	for i, c := range counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	var out []HistogramBucket
	for i := first; i <= last; i++ {
		from := int64(0)
		if i > 0 {
			from = bounds[i-1]
		}
		out = append(out, HistogramBucket{
			From: Millis(time.Duration(from) * time.Microsecond), To: Millis(time.Duration(bounds[i]) * time.Microsecond),
			Count: counts[i]})
	}
	return out
}
