// Command staylock-bench is `make bench`: it runs the same loads against
// Staylock on Postgres, against the baselines users would build instead
// (naive Postgres, Redis with Lua) and against Staylock's non-durable
// in-memory ceiling, interleaved and repeated, and writes the medians,
// ranges and ratios to docs/benchmarks.md.
//
//	go run ./bench/cmd/staylock-bench [--reps 3] [--duration 10s] [--out docs/benchmarks.md]
//
// It needs PostgreSQL (PG_BENCH_URL, default the tests' server) and
// redis-server on PATH (it starts its own with appendfsync always).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staylock/staylock/loadtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "staylock-bench:", err)
		os.Exit(1)
	}
}

// scenario is one load, run the same way against every engine.
type scenario struct {
	name string
	args []string
	// staylockOnly: the baselines have no stream.
	staylockOnly bool
}

var scenarios = []scenario{
	{name: "hot, 64 clients", args: []string{"--scenario", "hot", "--clients", "64"}},
	{name: "spread, 8 clients", args: []string{"--scenario", "spread", "--clients", "8"}},
	{name: "spread, 64 clients", args: []string{"--scenario", "spread", "--clients", "64"}},
	{name: "burst", args: []string{"--scenario", "burst", "--clients", "8"}},
	{name: "dashboard, 1,000 subscribers", args: []string{"--scenario", "dashboard", "--subscribers", "1000", "--clients", "8"}, staylockOnly: true},
}

// engine is one server under test.
type engine struct {
	name  string
	start func(ctx context.Context, b *bench) (srv *server, err error)
}

var engines = []engine{
	{"staylock (Postgres)", startStaylock(false)},
	{"staylock (memory, ceiling)", startStaylock(true)},
	{"naive (Postgres FOR UPDATE)", startBaseline("naive")},
	{"redis (Lua, appendfsync always)", startBaseline("redis")},
}

type bench struct {
	dir      string
	staylock string
	baseline string
	pgURL    string
	redisURL string
	duration time.Duration
}

type server struct {
	url, key string
	stop     func()
}

type result struct {
	scenario, engine string
	rep              int
	idle             float64
	busy             bool
	bookingsPerSec   float64
	p50, p99         float64 // ms
	extra            string
	err              error
}

func run() error {
	reps := flag.Int("reps", 3, "repetitions of each scenario and engine")
	duration := flag.Duration("duration", 10*time.Second, "length of each load")
	out := flag.String("out", "docs/benchmarks.md", "markdown file whose generated section is replaced")
	only := flag.String("scenarios", "", "comma-separated scenario names to run (default all): hot, spread8, spread64, burst, dashboard")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "staylock-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	b := &bench{dir: dir, duration: *duration,
		staylock: filepath.Join(dir, "staylock"), baseline: filepath.Join(dir, "staylock-baseline")}
	b.pgURL = os.Getenv("PG_BENCH_URL")
	if b.pgURL == "" {
		b.pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	for bin, pkg := range map[string]string{b.staylock: "./cmd/staylock", b.baseline: "./bench/cmd/staylock-baseline"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	stopRedis, err := b.startRedis(ctx)
	if err != nil {
		return err
	}
	defer stopRedis()

	chosen := selectScenarios(*only)
	var results []result
	for rep := 1; rep <= *reps; rep++ {
		for _, sc := range chosen {
			// interleaved: every engine runs each scenario before the next rep
			for _, en := range engines {
				if sc.staylockOnly && !strings.HasPrefix(en.name, "staylock") {
					continue
				}
				r := b.runOne(ctx, sc, en, rep)
				results = append(results, r)
				status := "ok"
				if r.err != nil {
					status = "FAILED: " + r.err.Error()
				}
				fmt.Printf("rep %d  %-30s %-32s idle %3.0f%%  %8.1f bookings/s  p99 %7.2f ms  %s\n",
					rep, sc.name, en.name, r.idle*100, r.bookingsPerSec, r.p99, status)
			}
		}
	}
	return writeReport(*out, results, *reps, *duration, chosen)
}

func selectScenarios(only string) []scenario {
	if only == "" {
		return scenarios
	}
	alias := map[string]string{"hot": "hot, 64 clients", "spread8": "spread, 8 clients", "spread64": "spread, 64 clients",
		"burst": "burst", "dashboard": "dashboard, 1,000 subscribers"}
	var out []scenario
	for _, name := range strings.Split(only, ",") {
		for _, sc := range scenarios {
			if sc.name == alias[strings.TrimSpace(name)] {
				out = append(out, sc)
			}
		}
	}
	return out
}

func (b *bench) runOne(ctx context.Context, sc scenario, en engine, rep int) result {
	r := result{scenario: sc.name, engine: en.name, rep: rep}
	r.idle = idleShare(time.Second)
	r.busy = r.idle < 0.8
	srv, err := en.start(ctx, b)
	if err != nil {
		r.err = err
		return r
	}
	defer srv.stop()
	report := filepath.Join(b.dir, "report.json")
	args := append([]string{"loadtest", "--url", srv.url, "--key", srv.key, "--setup", "--progress", "none",
		"--duration", b.duration.String(), "--json", report}, sc.args...)
	cmd := exec.CommandContext(ctx, b.staylock, args...)
	out, err := cmd.CombinedOutput()
	var rep2 loadtest.Report
	if data, rerr := os.ReadFile(report); rerr == nil {
		_ = json.Unmarshal(data, &rep2)
		_ = os.Remove(report)
	}
	if err != nil && rep2.Bookings == 0 {
		r.err = fmt.Errorf("loadtest: %v: %s", err, lastLines(string(out), 3))
		return r
	}
	if !rep2.Passed {
		r.err = fmt.Errorf("audit or thresholds failed: %s", strings.Join(rep2.Problems, "; "))
	}
	r.bookingsPerSec = rep2.BookingsPerSec
	r.p50 = float64(time.Duration(rep2.Total.P50)) / float64(time.Millisecond)
	r.p99 = float64(time.Duration(rep2.Total.P99)) / float64(time.Millisecond)
	if d := rep2.Dashboard; d != nil {
		r.extra = fmt.Sprintf("commit→delta to %d subscribers: upper bound (booking sent→delta) p50 %.1f ms, p99 %.1f ms; lower bound (201→delta) p99 %.1f ms; %d gaps, %d missed, drops %v",
			d.Subscribers, ms(d.P50), ms(d.P99), ms(d.LowerP99), d.Gaps, d.Missed, d.Drops)
	}
	if bu := rep2.Burst; bu != nil {
		r.extra = fmt.Sprintf("accepted %d of %d free; sold out in %.0f ms, drained %.0f ms after the last arrival",
			bu.Accepted, bu.Available, ms(bu.SellOut), ms(bu.Drain))
	}
	return r
}

func ms(m loadtest.Millis) float64 { return float64(time.Duration(m)) / float64(time.Millisecond) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// idleShare is the share of CPU time the whole machine spent idle over d.
func idleShare(d time.Duration) float64 {
	read := func() (idle, total float64) {
		data, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		fields := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])[1:]
		for i, f := range fields {
			v, _ := strconv.ParseFloat(f, 64)
			total += v
			if i == 3 || i == 4 { // idle, iowait
				idle += v
			}
		}
		return idle, total
	}
	i0, t0 := read()
	time.Sleep(d)
	i1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return (i1 - i0) / (t1 - t0)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates a database for one run and returns its URL and a drop.
func (b *bench) freshDatabase(ctx context.Context) (string, func(), error) {
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w (start PostgreSQL or set PG_BENCH_URL)", b.pgURL, err)
	}
	name := "bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = conn.Close(ctx)
		return "", nil, err
	}
	u, _ := url.Parse(b.pgURL)
	u.Path = "/" + name
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = conn.Close(context.Background())
	}
	return u.String(), drop, nil
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startStaylock runs `staylock serve` on a fresh Postgres database, or on
// the in-memory store (memory: the ceiling, nothing durable).
func startStaylock(memory bool) func(ctx context.Context, b *bench) (*server, error) {
	return func(ctx context.Context, b *bench) (*server, error) {
		storage, err := os.MkdirTemp(b.dir, "storage")
		if err != nil {
			return nil, err
		}
		dbURL, drop := "memory://", func() {}
		if !memory {
			if dbURL, drop, err = b.freshDatabase(ctx); err != nil {
				return nil, err
			}
		}
		env := append(os.Environ(), "APP_ENV=local", "DB_URL="+dbURL, "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=warn",
			"STORAGE_PATH="+storage, "REDIS_URL=")
		key := ""
		if !memory {
			out, err := runEnv(env, b.staylock, "keys", "create", "--tenant", "bench", "--role", "admin", "--no-env-file")
			if err != nil {
				drop()
				return nil, fmt.Errorf("keys create: %w", err)
			}
			key = lastLines(out, 1)
		}
		cmd := exec.Command(b.staylock, "serve", "--no-env-file")
		cmd.Env = env
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			drop()
			return nil, err
		}
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			drop()
		}
		srvURL, memKey, err := readServeLines(stdout)
		if err != nil {
			stop()
			return nil, err
		}
		if memory {
			key = memKey
		}
		if key == "" {
			stop()
			return nil, errors.New("no API key for the in-memory server")
		}
		return &server{url: srvURL, key: key, stop: stop}, nil
	}
}

var benchKeyLine = regexp.MustCompile(`admin key for tenant bench: (\S+)`)

// readServeLines waits for serve's address (and, in memory mode, the key it
// made, since a key created by another process would not be there).
func readServeLines(r interface{ Read([]byte) (int, error) }) (srvURL, key string, err error) {
	sc := bufio.NewScanner(r)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return "", "", errors.New("serve exited before listening")
			}
			if m := benchKeyLine.FindStringSubmatch(line); m != nil {
				key = m[1]
			}
			if m := listening.FindStringSubmatch(line); m != nil {
				go func() {
					for range lines { // keep draining so serve never blocks on stdout
					}
				}()
				return m[1], key, nil
			}
		case <-timeout:
			return "", "", errors.New("serve did not listen within 60 s")
		}
	}
}

func runEnv(env []string, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs a Redis of our own that fsyncs every write.
func (b *bench) startRedis(ctx context.Context) (func(), error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.dir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server (apt-get install -y redis-server): %w", err)
	}
	b.redisURL = fmt.Sprintf("redis://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, errors.New("redis-server did not answer within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

func startBaseline(kind string) func(ctx context.Context, b *bench) (*server, error) {
	return func(ctx context.Context, b *bench) (*server, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		key := "sl_bench" + randomHex(12)
		args := []string{"--engine", kind, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--key", key}
		drop := func() {}
		if kind == "naive" {
			var dbURL string
			if dbURL, drop, err = b.freshDatabase(ctx); err != nil {
				return nil, err
			}
			args = append(args, "--db-url", dbURL)
		} else {
			args = append(args, "--redis-url", b.redisURL, "--prefix", "b"+randomHex(4))
		}
		cmd := exec.Command(b.baseline, args...)
		if err := cmd.Start(); err != nil {
			drop()
			return nil, err
		}
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			drop()
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("baseline %s did not listen within 30 s", kind)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), key: key, stop: stop}, nil
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

const (
	beginMarker = "<!-- bench:begin (generated by make bench; do not edit by hand) -->"
	endMarker   = "<!-- bench:end -->"
)

func writeReport(path string, results []result, reps int, duration time.Duration, chosen []scenario) error {
	var sb strings.Builder
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	fmt.Fprintf(&sb, "%s\n## Measured: %s\n\n", beginMarker, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&sb, "- machine: %s, %d cores, %s\n", cpuModel(), runtime.NumCPU(), memTotal())
	fmt.Fprintf(&sb, "- commit: `%s`\n", strings.TrimSpace(string(commit)))
	fmt.Fprintf(&sb, "- command: `make bench` (`go run ./bench/cmd/staylock-bench --reps %d --duration %s`); every run on a fresh database, engines interleaved\n", reps, duration)
	fmt.Fprintf(&sb, "- figures are medians of %d runs with the [min–max] range; ratios compare medians within this one command\n\n", reps)
	var flagged []string
	for _, sc := range chosen {
		fmt.Fprintf(&sb, "### %s\n\n| engine | bookings/s (median) | range | p50 ms | p99 ms | × naive | × redis | × ceiling | failed runs |\n|---|---|---|---|---|---|---|---|---|\n", sc.name)
		med := map[string]float64{}
		type row struct {
			engine             string
			bps, lo, hi, p, p5 float64
			failed             int
			extra              string
		}
		var rows []row
		for _, en := range engines {
			var bps, p99s, p50s []float64
			failed := 0
			extra := ""
			for _, r := range results {
				if r.scenario != sc.name || r.engine != en.name {
					continue
				}
				if r.busy {
					flagged = append(flagged, fmt.Sprintf("%s / %s / rep %d started with the machine %.0f%% idle", sc.name, en.name, r.rep, r.idle*100))
				}
				if r.err != nil {
					failed++
					continue
				}
				bps, p99s, p50s = append(bps, r.bookingsPerSec), append(p99s, r.p99), append(p50s, r.p50)
				if r.extra != "" {
					extra = r.extra
				}
			}
			if len(bps)+failed == 0 {
				continue
			}
			m := median(bps)
			med[en.name] = m
			lo, hi := 0.0, 0.0
			if len(bps) > 0 {
				lo, hi = slices.Min(bps), slices.Max(bps)
			}
			rows = append(rows, row{en.name, m, lo, hi, median(p99s), median(p50s), failed, extra})
		}
		ratio := func(a, b float64) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		for _, r := range rows {
			fmt.Fprintf(&sb, "| %s | %.0f | %.0f–%.0f | %.2f | %.2f | %s | %s | %s | %d |\n", r.engine, r.bps, r.lo, r.hi, r.p5, r.p,
				ratio(r.bps, med[engines[2].name]), ratio(r.bps, med[engines[3].name]), ratio(r.bps, med[engines[1].name]), r.failed)
		}
		for _, r := range rows {
			if r.extra != "" {
				fmt.Fprintf(&sb, "\n- %s: %s", r.engine, r.extra)
			}
		}
		sb.WriteString("\n\n")
	}
	if len(flagged) > 0 {
		sb.WriteString("Runs that started on a busy machine (under 80% idle), which skews them:\n\n")
		for _, f := range flagged {
			fmt.Fprintf(&sb, "- %s\n", f)
		}
		sb.WriteString("\n")
	}
	sb.WriteString(endMarker + "\n")

	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	text := string(old)
	if i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker); i >= 0 && j > i {
		text = text[:i] + sb.String() + strings.TrimPrefix(text[j+len(endMarker):], "\n")
	} else {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n" + sb.String()
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return fmt.Sprintf("%.0f GiB memory", kb/1024/1024)
			}
		}
	}
	return "memory unknown"
}
