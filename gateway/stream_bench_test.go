package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/testserver"
	"github.com/staylock/staylock/notify"
)

// commitClock is a bus that remembers when each delta's first change
// committed, keyed by room type and prev_seq, so that a client can tell its
// commit→client latency on the same clock.
type commitClock struct {
	*notify.Local
	at sync.Map // "rt/prev_seq" → time.Time
}

func (c *commitClock) Publish(d booking.AvailabilityDelta) {
	c.at.Store(fmt.Sprintf("%s/%d", d.RoomType, d.PrevSeq), d.At)
	c.Local.Publish(d)
}

func (c *commitClock) commitOf(rt string, prev int64) (time.Time, bool) {
	v, ok := c.at.Load(fmt.Sprintf("%s/%d", rt, prev))
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

// BenchmarkStreamFanOut: 1,000 WebSocket subscribers of one property on
// one node while bookings commit at 100/s and then as fast as 16 clients
// can book (and, for reference, the same bookings with no subscriber). Each subscriber checks its prev_seq chain; reported:
// commit→client p50/p99 (ms) over every delta every subscriber got,
// bookings/s, deltas received, chain gaps and clients dropped. Run with
//
//	go test -run '^$' -bench StreamFanOut -benchtime 1x ./gateway/
func BenchmarkStreamFanOut(b *testing.B) {
	for _, c := range []struct{ subscribers, rate int }{
		{fanOutSubscribers, 100}, {fanOutSubscribers, 0}, {0, 0}, // the last: bookings alone, for reference
	} {
		rate := fmt.Sprint(c.rate)
		if c.rate == 0 {
			rate = "max"
		}
		b.Run(fmt.Sprintf("subscribers=%d/rate=%s", c.subscribers, rate), func(b *testing.B) {
			for range b.N {
				runFanOut(b, c.subscribers, c.rate)
			}
		})
	}
}

const (
	fanOutSubscribers = 1000
	fanOutDuration    = 5 * time.Second
)

func runFanOut(b *testing.B, subscribers, rate int) {
	clock := &commitClock{Local: notify.NewLocal(notify.LocalOptions{})}
	defer clock.Close()
	reg := prometheus.NewRegistry()
	srv := testserver.Start(b, "", testserver.Options{Bus: clock, Gateway: gateway.WithClock(gateway.Options{Registry: reg}, envNow)})
	admin := srv.MustKey(b, "acme", booking.RoleAdmin)
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Errorf("%s %s: %v", method, path, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	do("PUT", "/v1/properties/p1", `{"name":"H","timezone":"UTC","currency":"EUR"}`)
	do("PUT", "/v1/properties/p1/room-types/dlx", `{"name":"D","rooms":100000,"price":100}`)

	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/stream"
	var (
		mu        sync.Mutex
		latencies []time.Duration
		received  atomic.Int64
		gaps      atomic.Int64
		closed    atomic.Int64
		ready     sync.WaitGroup
		readers   sync.WaitGroup
	)
	conns := make([]*websocket.Conn, 0, subscribers)
	dialer := *websocket.DefaultDialer
	for i := range subscribers {
		ws, _, err := dialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + admin}})
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, ws)
		ready.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","property":"p1","from":"2027-01-01","to":"2028-01-01"}`))
			var last int64
			var mine []time.Duration
			first := true
			var buf bytes.Buffer
			for {
				// NextReader into a reused buffer: cheaper than ReadMessage,
				// and these clients share the server's cores.
				_, r, err := ws.NextReader()
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(r)
				}
				raw := buf.Bytes()
				now := time.Now()
				if err != nil {
					if websocket.IsCloseError(err, websocket.CloseTryAgainLater, websocket.ClosePolicyViolation) {
						closed.Add(1)
					}
					break
				}
				// Read only what is needed, cheaply: in production the
				// clients' decoding is not on the server's cores.
				var m struct {
					Type         string
					PrevSeq, Seq int64
					SnapshotSeq  int64
				}
				switch {
				case bytes.HasPrefix(raw, []byte(`{"type":"delta"`)):
					m.Type, m.PrevSeq, m.Seq = "delta", jsonInt(raw, "prev_seq"), jsonInt(raw, "seq")
				case bytes.HasPrefix(raw, []byte(`{"type":"snapshot"`)):
					m.Type, m.SnapshotSeq = "snapshot", jsonInt(raw, "seq")
				}
				switch m.Type {
				case "snapshot":
					last = m.SnapshotSeq
					if first {
						first = false
						ready.Done()
					}
				case "delta":
					received.Add(1)
					if m.PrevSeq != last {
						gaps.Add(1)
					}
					last = m.Seq
					if at, ok := clock.commitOf("dlx", m.PrevSeq); ok {
						mine = append(mine, now.Sub(at))
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	ready.Wait()

	// Book: one night each, spread over the year (one room type, so every
	// booking goes to all subscribers).
	ctx, cancel := context.WithTimeout(context.Background(), fanOutDuration)
	defer cancel()
	var booked atomic.Int64
	start := time.Now()
	bookOne := func(i int64) {
		day := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i%360))
		body := fmt.Sprintf(`{"stays":[{"room_type":"dlx","arrival":"%s","departure":"%s","quantity":1}],"guest":{"name":"g"}}`,
			day.Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02"))
		if do("POST", "/v1/properties/p1/reservations", body) == http.StatusCreated {
			booked.Add(1)
		}
	}
	if rate > 0 {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var wg sync.WaitGroup
		for i := int64(0); ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
			case <-tick.C:
				wg.Go(func() { bookOne(i) })
			}
		}
		tick.Stop()
		wg.Wait()
	} else {
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for ctx.Err() == nil {
					bookOne(n.Add(1))
				}
			})
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	time.Sleep(time.Second) // let the last deltas arrive
	for _, ws := range conns {
		_ = ws.Close()
	}
	readers.Wait()

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	var dropped float64
	for _, r := range []string{"write_timeout", "pong_timeout", "queue_full", "lagging"} {
		dropped += counterValue(b, reg, "hotel_stream_clients_dropped_total", r)
	}
	coalesced := counterValue(b, reg, "hotel_stream_deltas_coalesced_total", "")
	sp50, sp99 := histogramQuantile(b, reg, "hotel_stream_commit_to_send_seconds", 0.5), histogramQuantile(b, reg, "hotel_stream_commit_to_send_seconds", 0.99)
	b.ReportMetric(float64(booked.Load())/elapsed.Seconds(), "bookings/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(pct(1), "max_ms")
	b.ReportMetric(sp50*1000, "server_p50_ms")
	b.ReportMetric(sp99*1000, "server_p99_ms")
	b.ReportMetric(float64(received.Load()), "deltas_received")
	b.ReportMetric(coalesced, "coalesced")
	b.ReportMetric(float64(gaps.Load()), "gaps")
	b.ReportMetric(dropped, "dropped")
	b.Logf("%d bookings in %v (%.0f/s); %d deltas to %d subscribers; commit→client p50 %.1f ms, p99 %.1f ms, max %.1f ms "+
		"(commit→socket write, from the histogram's buckets: p50 ≈ %.1f ms, p99 ≈ %.1f ms); coalesced %.0f, gaps %d, dropped %.0f (closes seen by clients %d)",
		booked.Load(), elapsed.Round(time.Millisecond), float64(booked.Load())/elapsed.Seconds(), received.Load(), subscribers,
		pct(0.5), pct(0.99), pct(1), sp50*1000, sp99*1000, coalesced, gaps.Load(), dropped, closed.Load())
}

// counterValue reads a counter of reg by name and, when given, its reason
// label.
func counterValue(b *testing.B, reg *prometheus.Registry, name, reason string) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// jsonInt returns the first integer value of "name" in raw (0 if absent).
func jsonInt(raw []byte, name string) int64 {
	i := bytes.Index(raw, []byte(`"`+name+`":`))
	if i < 0 {
		return 0
	}
	var n int64
	for _, c := range raw[i+len(name)+3:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// histogramQuantile estimates a quantile of a histogram of reg from its
// buckets (linear inside a bucket), in the histogram's unit.
func histogramQuantile(b *testing.B, reg *prometheus.Registry, name string, q float64) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		total := float64(h.GetSampleCount())
		if total == 0 {
			return 0
		}
		rank, lower, below := q*total, 0.0, 0.0
		for _, bk := range h.GetBucket() {
			n := float64(bk.GetCumulativeCount())
			if n >= rank {
				if n == below {
					return bk.GetUpperBound()
				}
				return lower + (bk.GetUpperBound()-lower)*(rank-below)/(n-below)
			}
			lower, below = bk.GetUpperBound(), n
		}
		return lower
	}
	return 0
}
