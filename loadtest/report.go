package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Millis is a duration that JSON shows as milliseconds (a number).
type Millis time.Duration

// MarshalJSON writes the duration in milliseconds with µs precision.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(m.Ms(), 'f', 3, 64)), nil
}

// UnmarshalJSON reads milliseconds, to the microsecond MarshalJSON keeps:
// 133.503 must come back as 133503 µs, not the 133502.999… µs that a
// float product truncates to.
func (m *Millis) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("milliseconds: %w", err)
	}
	*m = Millis(time.Duration(math.Round(f*1000)) * time.Microsecond)
	return nil
}

// Ms is the duration in milliseconds.
func (m Millis) Ms() float64 { return float64(m) / float64(time.Millisecond) }

// String shows the duration with 3 significant digits: 850µs, 3.21ms, 1.20s.
func (m Millis) String() string {
	d := time.Duration(m)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return strconv.FormatFloat(m.Ms(), 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}

// Report is the outcome of a load test. Latencies are from the intended
// start (open loop) or the send (closed loop) of an operation to its final
// answer, retries included.
type Report struct {
	Scenario  string    `json:"scenario"`
	Mode      string    `json:"mode"` // "closed" or "open"
	Clients   int       `json:"clients,omitempty"`
	Rate      float64   `json:"rate,omitempty"`
	Targets   []string  `json:"targets"`
	Seed      uint64    `json:"seed"`
	Prefix    string    `json:"prefix"`
	StartedAt time.Time `json:"started_at"`
	Duration  Millis    `json:"duration_ms"`
	Elapsed   Millis    `json:"elapsed_ms"`
	Layout    Layout    `json:"layout"`

	// Requests counts HTTP attempts (retries included); Bookings the 201s
	// of new bookings (duplicate deliveries not counted again).
	Requests       int64   `json:"requests"`
	Bookings       int64   `json:"bookings"`
	BookingsPerSec float64 `json:"bookings_per_sec"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	// ErrorRate is failed operations / operations; sold_out and restricted
	// are answers, not errors.
	ErrorRate  float64          `json:"error_rate"`
	Total      OpStats          `json:"total"`
	Operations []OpStats        `json:"operations"`
	Errors     map[string]int64 `json:"errors"`
	Refusals   map[string]int64 `json:"refusals"`
	// Retries counts retried attempts by the code that caused the retry.
	Retries   map[string]int64  `json:"retries"`
	Timeline  []TimelinePoint   `json:"timeline"`
	Histogram []HistogramBucket `json:"histogram"`

	Burst     *BurstReport     `json:"burst,omitempty"`
	Dashboard *DashboardReport `json:"dashboard,omitempty"`
	Audit     Audit            `json:"audit"`
	// Problems are the scenario's own findings (idempotency, burst count).
	Problems   []string          `json:"problems"`
	Thresholds []ThresholdResult `json:"thresholds"`
	Passed     bool              `json:"passed"`
}

// OpStats are the outcomes and latencies of one kind of operation.
type OpStats struct {
	Name    string `json:"name"`
	Count   int64  `json:"count"`
	OK      int64  `json:"ok"`
	Refused int64  `json:"refused"`
	Errors  int64  `json:"errors"`
	Mean    Millis `json:"mean_ms"`
	P50     Millis `json:"p50_ms"`
	P90     Millis `json:"p90_ms"`
	P99     Millis `json:"p99_ms"`
	P999    Millis `json:"p999_ms"`
	Max     Millis `json:"max_ms"`
}

// TimelinePoint is one second of the run, by intended start.
type TimelinePoint struct {
	Second   int    `json:"second"`
	Ops      int64  `json:"ops"`
	Bookings int64  `json:"bookings"`
	Refused  int64  `json:"refused"`
	Errors   int64  `json:"errors"`
	P50      Millis `json:"p50_ms"`
	P99      Millis `json:"p99_ms"`
	Max      Millis `json:"max_ms"`
}

// HistogramBucket counts the operations with latency in (From, To].
type HistogramBucket struct {
	From  Millis `json:"from_ms"`
	To    Millis `json:"to_ms"`
	Count int64  `json:"count"`
}

// BurstReport is the flash sale of the burst scenario.
type BurstReport struct {
	RoomType  string `json:"room_type"`
	Night     string `json:"night"`
	Attempts  int    `json:"attempts"`
	Available int    `json:"available"` // rooms free before the burst
	Accepted  int    `json:"accepted"`
	Refused   int    `json:"refused"`
	Errors    int    `json:"errors"`
	// SellOut is from the first arrival to the answer that sold the last
	// room; Drain from the last arrival to the last answer.
	SellOut Millis `json:"sell_out_ms"`
	Drain   Millis `json:"drain_ms"`
	// BackgroundP99 is the p99 of the background operations that started
	// between the first arrival and the last answer of the burst.
	BackgroundOps int64  `json:"background_ops"`
	BackgroundP99 Millis `json:"background_p99_ms"`
	FlashP99      Millis `json:"flash_p99_ms"`
}

// ThresholdResult is one checked threshold.
type ThresholdResult struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Value string `json:"value"`
	OK    bool   `json:"ok"`
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("create report: %w", err)
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// describeLoad is "closed loop, 64 clients" or "open loop, 500/s".
func (r Report) describeLoad() string {
	if r.Mode == "open" {
		return "open loop, " + strconv.FormatFloat(r.Rate, 'f', -1, 64) + "/s"
	}
	return fmt.Sprintf("closed loop, %d clients", r.Clients)
}

// WriteText writes the final table.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nscenario %s · %s · %s (elapsed %s) · %d target(s) · seed %d · prefix %s\n",
		r.Scenario, r.describeLoad(), time.Duration(r.Duration), r.Elapsed, len(r.Targets), r.Seed, r.Prefix)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tcount\tok\trefused\terrors\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, o := range append(append([]OpStats{}, r.Operations...), r.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			o.Name, o.Count, o.OK, o.Refused, o.Errors, o.P50, o.P90, o.P99, o.P999, o.Max)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "throughput: %.1f bookings/s · %.1f operations/s · %.1f HTTP requests/s\n",
		r.BookingsPerSec, r.OpsPerSec, r.RequestsPerSec)
	fmt.Fprintf(&b, "errors: %s (rate %.3f%%)\n", countsText(r.Errors), 100*r.ErrorRate)
	fmt.Fprintf(&b, "refusals: %s\n", countsText(r.Refusals))
	fmt.Fprintf(&b, "retried attempts: %s\n", countsText(r.Retries))
	if br := r.Burst; br != nil {
		fmt.Fprintf(&b, "burst: %d attempts on %s night %s, %d available → %d accepted, %d refused, %d errors; "+
			"sold out after %s, drained %s after the last arrival; flash p99 %s; background p99 during the burst %s (%d ops)\n",
			br.Attempts, br.RoomType, br.Night, br.Available, br.Accepted, br.Refused, br.Errors,
			br.SellOut, br.Drain, br.FlashP99, br.BackgroundP99, br.BackgroundOps)
	}
	if r.Dashboard != nil {
		r.Dashboard.writeText(&b)
	}
	r.Audit.writeText(&b)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "PROBLEM: %s\n", p)
	}
	for _, t := range r.Thresholds {
		verdict := "ok"
		if !t.OK {
			verdict = "BREACHED"
		}
		fmt.Fprintf(&b, "threshold %s: %s (limit %s) %s\n", t.Name, t.Value, t.Limit, verdict)
	}
	if r.Passed {
		b.WriteString("result: PASS\n")
	} else {
		b.WriteString("result: FAIL\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// countsText is "a 3, b 1" by count, or "none".
func countsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
