package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/loadtest"
)

// quiet is the part of every test config that keeps output small.
func quiet(c loadtest.Config) loadtest.Config {
	c.Progress = loadtest.ProgressPlain
	c.ProgressInterval = 500 * time.Millisecond
	if c.Seed == 0 {
		c.Seed = 7
	}
	return c
}

// MustRun runs a load test that must pass, and returns its report.
func MustRun(t *testing.T, c loadtest.Config) loadtest.Report {
	t.Helper()
	var out bytes.Buffer
	rep, err := loadtest.Run(context.Background(), quiet(c), &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !rep.Passed || rep.Audit.Problems() != 0 || len(rep.Problems) != 0 {
		t.Fatalf("the run did not pass\n%s", out.String())
	}
	if rep.Audit.Skipped || rep.Audit.Acknowledged == 0 || rep.Audit.Nights == 0 || rep.Audit.Reservations < rep.Audit.Acknowledged {
		t.Fatalf("the audit checked too little: %+v\n%s", rep.Audit, out.String())
	}
	if rep.Bookings == 0 || rep.Total.P99 <= 0 || len(rep.Timeline) == 0 || len(rep.Histogram) == 0 {
		t.Fatalf("the report is empty\n%s", out.String())
	}
	if !strings.Contains(out.String(), "result: PASS") {
		t.Fatalf("no final table:\n%s", out.String())
	}
	t.Log(out.String())
	return rep
}

func TestRunAgainstRealServerPassesAudit(t *testing.T) {
	srv := MustStartServer(t)
	base := loadtest.Config{Targets: []string{srv.URL}, Key: srv.Key, Setup: true, Clients: 8,
		Duration: time.Second, MaxErrorRate: loadtest.ErrorRate(0)}

	t.Run("hot closed loop books one room type", func(t *testing.T) {
		c := base
		c.Scenario = "hot"
		rep := MustRun(t, c)
		if rep.Audit.RoomTypes != 1 {
			t.Errorf("hot touched %d room types, want 1", rep.Audit.RoomTypes)
		}
	})
	t.Run("hot open loop with two targets", func(t *testing.T) {
		c := base
		c.Scenario, c.Rate, c.Targets = "hot", 200, []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)}
		rep := MustRun(t, c)
		if rep.Mode != "open" || rep.Total.Count < 150 {
			t.Errorf("open loop: mode %s, %d operations; want open, about 200", rep.Mode, rep.Total.Count)
		}
	})
	t.Run("spread over many room types", func(t *testing.T) {
		c := base
		c.Scenario, c.Layout = "spread", loadtest.Layout{Properties: 3, RoomTypes: 30}
		rep := MustRun(t, c)
		if rep.Audit.Properties != 3 || rep.Audit.RoomTypes < 10 {
			t.Errorf("spread touched %d properties, %d room types", rep.Audit.Properties, rep.Audit.RoomTypes)
		}
	})
	t.Run("channel with duplicates, modifications and cancellations", func(t *testing.T) {
		c := base
		c.Scenario, c.Duration, c.Layout = "channel", 2*time.Second, loadtest.Layout{Properties: 2, RoomTypes: 6, Rooms: 5}
		rep := MustRun(t, c)
		ops := map[string]int64{}
		for _, o := range rep.Operations {
			ops[o.Name] = o.OK
		}
		for _, op := range []string{"book", "book_duplicate"} {
			if ops[op] == 0 {
				t.Errorf("no successful %s in the channel scenario: %v", op, ops)
			}
		}
		// Modifications and cancellations are 30% of the operations; on a
		// busy machine a short run may have few of either, never none.
		if ops["modify"]+ops["cancel"] == 0 {
			t.Errorf("no successful modify or cancel in the channel scenario: %v", ops)
		}
	})
	t.Run("mixed writes reports", func(t *testing.T) {
		dir := t.TempDir()
		c := base
		c.Scenario, c.Duration, c.Layout = "mixed", 1500*time.Millisecond, loadtest.Layout{Properties: 2, RoomTypes: 8, Rooms: 10}
		c.JSONFile, c.HTMLFile = filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
		rep := MustRun(t, c)
		b, err := os.ReadFile(c.JSONFile)
		if err != nil {
			t.Fatal(err)
		}
		var back loadtest.Report
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("JSON report: %v", err)
		}
		if back.Bookings != rep.Bookings || back.Total.P99 != rep.Total.P99 || !back.Passed {
			t.Errorf("JSON report differs: %d bookings, p99 %s", back.Bookings, back.Total.P99)
		}
		h, err := os.ReadFile(c.HTMLFile)
		if err != nil {
			t.Fatal(err)
		}
		html := string(h)
		if n := strings.Count(html, "<svg"); n != 3 {
			t.Errorf("HTML report has %d plots, want 3", n)
		}
		for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
			if strings.Contains(html, bad) {
				t.Errorf("HTML report is not self-contained: has %q", bad)
			}
		}
	})
	t.Run("burst sells exactly the free rooms", func(t *testing.T) {
		c := base
		c.Scenario, c.Clients, c.Duration = "burst", 4, 1500*time.Millisecond
		c.Layout = loadtest.Layout{RoomTypes: 4, Rooms: 20}
		c.Burst = loadtest.BurstConfig{Attempts: 300, Rooms: 40, Window: 300 * time.Millisecond, At: 300 * time.Millisecond}
		rep := MustRun(t, c)
		if rep.Burst == nil || rep.Burst.Available != 40 || rep.Burst.Accepted != 40 || rep.Burst.Refused != 260 {
			t.Fatalf("burst: %+v", rep.Burst)
		}
		if rep.Burst.SellOut <= 0 || rep.Burst.BackgroundOps == 0 {
			t.Errorf("burst timings missing: %+v", rep.Burst)
		}
	})
}

func TestAuditFindsWhatABrokenServerDid(t *testing.T) {
	t.Run("oversold nights", func(t *testing.T) {
		url := MustStartFake(t, fakeOversell, 0)
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{url}, Key: "k", Setup: true,
			Clients: 4, Duration: 300 * time.Millisecond, Layout: loadtest.Layout{Rooms: 3}}), &out)
		if !errors.Is(err, loadtest.ErrAudit) {
			t.Fatalf("err = %v, want ErrAudit\n%s", err, out.String())
		}
		if rep.Passed || rep.Audit.OversoldNights == 0 || !strings.Contains(out.String(), "oversold, booked") {
			t.Fatalf("oversold nights not reported: %+v\n%s", rep.Audit, out.String())
		}
	})
	t.Run("acknowledged bookings that are missing", func(t *testing.T) {
		url := MustStartFake(t, fakeForget, 0)
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{url}, Key: "k", Setup: true,
			Clients: 4, Duration: 300 * time.Millisecond}), &out)
		if !errors.Is(err, loadtest.ErrAudit) {
			t.Fatalf("err = %v, want ErrAudit\n%s", err, out.String())
		}
		if rep.Audit.Missing == 0 || rep.Audit.Missing != rep.Audit.Acknowledged/5 {
			t.Fatalf("missing = %d of %d acknowledged, want a fifth\n%s", rep.Audit.Missing, rep.Audit.Acknowledged, out.String())
		}
	})
	t.Run("the command fails", func(t *testing.T) {
		url := MustStartFake(t, fakeForget, 0)
		err := runCommand(t, "--url", url, "--key", "k", "--setup", "--clients", "2", "--duration", "200ms")
		if !errors.Is(err, loadtest.ErrAudit) {
			t.Fatalf("command error = %v, want ErrAudit", err)
		}
	})
	t.Run("an honest fake passes", func(t *testing.T) {
		url := MustStartFake(t, fakeHonest, 0)
		if err := runCommand(t, "--url", url, "--key", "k", "--setup", "--clients", "2", "--duration", "200ms"); err != nil {
			t.Fatalf("command error = %v", err)
		}
	})
}

// runCommand runs `staylock loadtest ARGS` and returns its error.
func runCommand(t *testing.T, args ...string) error {
	t.Helper()
	cmd := loadtest.NewCommand(&bytes.Buffer{})
	cmd.SetArgs(append(args, "--progress", "none"))
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return cmd.ExecuteContext(context.Background())
}

func TestThresholds(t *testing.T) {
	t.Run("a breached max-p99 fails", func(t *testing.T) {
		url := MustStartFake(t, fakeHonest, 3*time.Millisecond)
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{url}, Key: "k", Setup: true,
			Clients: 2, Duration: 200 * time.Millisecond, MaxP99: time.Millisecond}), &out)
		if !errors.Is(err, loadtest.ErrThresholds) || errors.Is(err, loadtest.ErrAudit) {
			t.Fatalf("err = %v, want ErrThresholds alone\n%s", err, out.String())
		}
		if rep.Passed || len(rep.Thresholds) != 1 || rep.Thresholds[0].OK || !strings.Contains(out.String(), "BREACHED") {
			t.Fatalf("thresholds: %+v\n%s", rep.Thresholds, out.String())
		}
		err = runCommand(t, "--url", url, "--key", "k", "--setup", "--clients", "2", "--duration", "200ms", "--max-p99", "1ms")
		if !errors.Is(err, loadtest.ErrThresholds) {
			t.Fatalf("command error = %v, want ErrThresholds", err)
		}
	})
	t.Run("a met max-p99 passes", func(t *testing.T) {
		url := MustStartFake(t, fakeHonest, 0)
		err := runCommand(t, "--url", url, "--key", "k", "--setup", "--clients", "2", "--duration", "200ms", "--max-p99", "10s")
		if err != nil {
			t.Fatalf("command error = %v", err)
		}
	})
	t.Run("errors over max-error-rate fail", func(t *testing.T) {
		url := MustStartFake(t, fakeFlaky, 0)
		err := runCommand(t, "--url", url, "--key", "k", "--setup", "--clients", "2", "--duration", "200ms",
			"--retries", "-1", "--max-error-rate", "0")
		if !errors.Is(err, loadtest.ErrThresholds) {
			t.Fatalf("command error = %v, want ErrThresholds", err)
		}
	})
	t.Run("retries with the same key hide a flaky 500", func(t *testing.T) {
		url := MustStartFake(t, fakeFlaky, 0)
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{url}, Key: "k", Setup: true,
			Clients: 2, Duration: 200 * time.Millisecond, MaxErrorRate: loadtest.ErrorRate(0)}), &out)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, out.String())
		}
		if rep.Retries["internal"] == 0 || rep.Requests <= rep.Total.Count {
			t.Fatalf("no retries counted: %v, %d requests for %d operations", rep.Retries, rep.Requests, rep.Total.Count)
		}
	})
}

// failingTransport fails the test if anything is sent.
type failingTransport struct{ t *testing.T }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("a request was sent to %s", r.URL)
	return nil, errors.New("no network in this test")
}

func TestRemoteTargetsAreRefused(t *testing.T) {
	never := &http.Client{Transport: failingTransport{t}}
	for _, target := range []string{"http://192.0.2.10:8080", "http://example.invalid", "https://10.1.2.3"} {
		t.Run(target, func(t *testing.T) {
			_, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []string{"http://127.0.0.1:1", target},
				Key: "k", Setup: true, HTTPClient: never}, &bytes.Buffer{})
			if !errors.Is(err, loadtest.ErrRemoteTarget) {
				t.Fatalf("err = %v, want ErrRemoteTarget", err)
			}
		})
	}
	t.Run("the command refuses too", func(t *testing.T) {
		err := runCommand(t, "--url", "http://192.0.2.10:8080", "--key", "k", "--setup")
		if !errors.Is(err, loadtest.ErrRemoteTarget) {
			t.Fatalf("command error = %v, want ErrRemoteTarget", err)
		}
	})
	t.Run("loopback names and addresses are allowed", func(t *testing.T) {
		for _, target := range []string{"http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"} {
			calls := 0
			hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				calls++
				return nil, errors.New("refused by the test")
			})}
			_, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []string{target}, Key: "k", Setup: true,
				Retries: -1, HTTPClient: hc}, &bytes.Buffer{})
			if errors.Is(err, loadtest.ErrRemoteTarget) || calls == 0 {
				t.Errorf("%s: err = %v after %d calls; want a setup error after trying", target, err, calls)
			}
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInterruptedRunReportsWhatItMeasured(t *testing.T) {
	url := MustStartFake(t, fakeHonest, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	rep, err := loadtest.Run(ctx, quiet(loadtest.Config{Targets: []string{url}, Key: "k", Setup: true,
		Clients: 2, Duration: time.Minute}), &out)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	if time.Since(start) > 10*time.Second || rep.Passed || !rep.Audit.Skipped || rep.Bookings == 0 {
		t.Fatalf("after %s: passed %v, audit skipped %v, %d bookings\n%s", time.Since(start), rep.Passed, rep.Audit.Skipped, rep.Bookings, out.String())
	}
	if !strings.Contains(out.String(), "result: FAIL") {
		t.Fatalf("no final table:\n%s", out.String())
	}
}

func TestDashboardSubscribersSeeEveryBooking(t *testing.T) {
	srv := MustStartServer(t)
	base := loadtest.Config{Targets: []string{srv.URL}, Key: srv.Key, Setup: true, Clients: 4,
		Duration: 2 * time.Second, MaxErrorRate: loadtest.ErrorRate(0), Scenario: "dashboard", Subscribers: 20}
	for _, load := range []string{"hot", "spread"} {
		t.Run(load, func(t *testing.T) {
			c := base
			c.DashboardLoad = load
			c.HTMLFile = filepath.Join(t.TempDir(), "r.html")
			if load == "spread" {
				c.Layout = loadtest.Layout{Properties: 3, RoomTypes: 12, Rooms: 20, Nights: 30}
			}
			rep := MustRun(t, c)
			d := rep.Dashboard
			if d == nil {
				t.Fatal("no dashboard report")
			}
			if d.Subscribers != 20 || d.WithoutDeltas != 0 || d.MinDeltas == 0 {
				t.Errorf("every subscriber must receive deltas: %+v", d)
			}
			if d.Gaps != 0 || d.Missed != 0 || len(d.Drops) != 0 || d.Unexplained != 0 {
				t.Errorf("gaps %d, missed %d, drops %v, unexplained %d; want none", d.Gaps, d.Missed, d.Drops, d.Unexplained)
			}
			if d.Commits != rep.Bookings || d.Samples == 0 || len(d.Histogram) == 0 || d.P99 <= 0 || d.Max < d.P99 {
				t.Errorf("latency: %d commits for %d bookings, %d samples, p99 %s, max %s, %d buckets",
					d.Commits, rep.Bookings, d.Samples, d.P99, d.Max, len(d.Histogram))
			}
			if d.LowerP99 > d.P99 {
				t.Errorf("lower bound p99 %s above the upper bound's %s", d.LowerP99, d.P99)
			}
			if h, err := os.ReadFile(c.HTMLFile); err != nil || !strings.Contains(string(h), "Dashboard (live stream)") {
				t.Errorf("HTML report lacks the dashboard (err %v)", err)
			}
		})
	}
}

// --ledger-out keeps what a load acknowledged; --audit-ledger audits it
// again later without loading: it passes against the same server (also
// after more load) and fails against a server that lacks the bookings,
// as a backup restored without them would.
func TestRun_LedgerAuditedAgainLater(t *testing.T) {
	srv := MustStartServer(t)
	ledger := filepath.Join(t.TempDir(), "ledger.json")
	for _, scenario := range []string{"channel", "spread"} {
		c := loadtest.Config{Targets: []string{srv.URL}, Key: srv.Key, Setup: true, Clients: 4, Scenario: scenario,
			Duration: 500 * time.Millisecond, LedgerOut: ledger}
		if scenario == "spread" {
			c.LedgerOut = filepath.Join(t.TempDir(), "later.json") // more load after the first ledger
			c.Layout = loadtest.Layout{Properties: 3, RoomTypes: 12}
		}
		if rep := MustRun(t, c); rep.Bookings == 0 {
			t.Fatalf("%s booked nothing", scenario)
		}
	}

	t.Run("the same server passes", func(t *testing.T) {
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{srv.URL}, Key: srv.Key,
			AuditLedgers: []string{ledger}}), &out)
		if err != nil || !rep.Passed || rep.Audit.Acknowledged == 0 || rep.Audit.Problems() != 0 {
			t.Fatalf("err %v, audit %+v\n%s", err, rep.Audit, out.String())
		}
		if strings.Contains(out.String(), "load:") {
			t.Errorf("an audit-only run loaded the server:\n%s", out.String())
		}
	})
	t.Run("a server without the bookings fails", func(t *testing.T) {
		empty := MustStartServer(t)
		var out bytes.Buffer
		rep, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{empty.URL}, Key: empty.Key,
			AuditLedgers: []string{ledger}}), &out)
		if !errors.Is(err, loadtest.ErrAudit) || rep.Passed {
			t.Fatalf("err = %v, want ErrAudit\n%s", err, out.String())
		}
	})
	t.Run("a file that is not a ledger is a config error", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"version":99}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadtest.Run(context.Background(), quiet(loadtest.Config{Targets: []string{srv.URL}, Key: srv.Key,
			AuditLedgers: []string{bad}}), io.Discard)
		if !errors.Is(err, loadtest.ErrConfig) {
			t.Fatalf("err = %v, want ErrConfig", err)
		}
	})
}
