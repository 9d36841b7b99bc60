package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/staylock/staylock/cluster/clustertest"
	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/notify/redistest"
	"github.com/staylock/staylock/persistence/pgtest"
)

// A cluster of `staylock serve` processes on loopback sharing one Postgres
// database and one Redis database: the seeds provider (every node lists
// all), or etcd when the etcd server is installed.

// clusterAppKey is shared by the nodes (stream tokens verify everywhere).
const clusterAppKey = "APP_KEY=base64:c3RheWxvY2stZTJlLWNsdXN0ZXItdGVzdC1rZXktMzJieXRlcw=="

type clusterNode struct {
	i        int
	bind     string // actor transport address
	httpAddr string
	url      string
	srv      *server // nil while stopped
	starts   int
}

type testCluster struct {
	t     *testing.T
	name  string
	env   []string // shared: DB, Redis, provider settings
	nodes []*clusterNode
	key   string
}

// freePorts returns n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// MustStartCluster starts n nodes with provider "seeds" or "etcd" and
// waits until every node sees all of them.
func MustStartCluster(t *testing.T, provider string, n int) *testCluster {
	t.Helper()
	// A node paused inside a transaction must not hold its actor's lock for
	// long: Postgres ends such a session (the pipeline is sent whole, so it
	// is rare, but a SIGSTOP can land mid-write).
	dbURL := pgtest.NewDatabase(t) + "&idle_in_transaction_session_timeout=3000"
	ports := freePorts(t, 2*n)
	tc := &testCluster{t: t, name: provider}
	var seeds []string
	for i := range n {
		nd := &clusterNode{i: i, bind: fmt.Sprintf("127.0.0.1:%d", ports[2*i]), httpAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		nd.url = "http://" + nd.httpAddr
		tc.nodes = append(tc.nodes, nd)
		seeds = append(seeds, nd.bind)
	}
	tc.env = []string{"DB_URL=" + dbURL, "REDIS_URL=" + redistest.DB(t), clusterAppKey, "CLUSTER_PROVIDER=" + provider}
	switch provider {
	case "seeds":
		tc.env = append(tc.env, "CLUSTER_SEEDS="+strings.Join(seeds, ","))
	case "etcd":
		tc.env = append(tc.env, "ETCD_ENDPOINTS="+MustStartEtcd(t))
	default:
		t.Fatalf("provider %q", provider)
	}
	tc.key = tc.backend(tc.nodes[0]).MustCreateKey(t, "acme", "admin") // migrates once
	var wg sync.WaitGroup
	for _, nd := range tc.nodes {
		wg.Go(func() { tc.start(nd) })
	}
	wg.Wait()
	tc.MustConverge()
	return tc
}

func (tc *testCluster) backend(nd *clusterNode) backend {
	env := append([]string(nil), tc.env...)
	env = append(env, "CLUSTER_BIND="+nd.bind, "HTTP_ADDR="+nd.httpAddr,
		"STORAGE_PATH="+filepath.Join(tc.t.TempDir(), fmt.Sprintf("node%d", nd.i)))
	return backend{tc.name, env}
}

// start starts node nd (again) and waits until it listens.
func (tc *testCluster) start(nd *clusterNode) {
	nd.srv = tc.backend(nd).MustStart(tc.t)
	nd.starts++
}

// metric reads one sample of node nd's /metrics (name with labels, as
// printed); ok is false when the node does not answer.
func (tc *testCluster) metric(nd *clusterNode, sample string) (float64, bool) {
	status, body, err := newClient(nd.url, "").do(context.Background(), "GET", "/metrics", nil)
	if err != nil || status != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// running are the nodes that are started.
func (tc *testCluster) running() []*clusterNode {
	var out []*clusterNode
	for _, nd := range tc.nodes {
		if nd.srv != nil {
			out = append(out, nd)
		}
	}
	return out
}

// MustConverge waits until every running node is ready and sees exactly the
// running nodes as members.
func (tc *testCluster) MustConverge() {
	tc.t.Helper()
	want := float64(len(tc.running()))
	poll.EventuallyNil(tc.t, 30*time.Second, fmt.Sprintf("the cluster to converge on %v members", want), func() error {
		var bad []string
		for _, nd := range tc.running() {
			status, _, err := newClient(nd.url, "").do(context.Background(), "GET", "/readyz", nil)
			m, ok := tc.metric(nd, "hotel_cluster_members")
			if err != nil || status != http.StatusOK || !ok || m != want {
				bad = append(bad, fmt.Sprintf("node %d: readyz %d %v, members %v", nd.i, status, err, m))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%v", bad)
		}
		return nil
	})
}

// client is an API client on node i.
func (tc *testCluster) client(i int) *client { return newClient(tc.nodes[i].url, tc.key) }

// liveClient is an API client on some running node.
func (tc *testCluster) liveClient() *client { return newClient(tc.running()[0].url, tc.key) }

// MustStartEtcd runs a single-member etcd on loopback for the test, or
// skips when the etcd server is not installed.
func MustStartEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd is not installed: apt-get install -y etcd-server (.ci/run does it)")
		}
		t.Skip("etcd is not installed (apt-get install -y etcd-server; .ci/run does it)")
	}
	ports := freePorts(t, 2)
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin, "--name", "e2e", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer, "--log-level", "error")
	// One writer for both streams, read through its lock while etcd writes.
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	poll.EventuallyNil(t, 30*time.Second, "etcd to be healthy", func() error {
		select {
		case <-done:
			t.Fatalf("etcd exited: %s", out.String())
		default:
		}
		resp, err := http.Get(client + "/health")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out.String())
		}
		var h struct{ Health string }
		_ = json.NewDecoder(resp.Body).Decode(&h)
		_ = resp.Body.Close()
		if h.Health != "true" {
			return fmt.Errorf("health %q\n%s", h.Health, out.String())
		}
		return nil
	})
	return client
}

// ---------------------------------------------------------------- load

// clusterRoomTypes are the room types the load books; each gets rooms rooms.
var clusterRoomTypes = []string{"std", "dlx", "ste", "fam", "sgl", "twn"}

// clusterLoad is a booking load whose clients, on anything but a definite
// answer, retry the same request (same body, same Idempotency-Key) on the
// next node, as a channel manager behind a load balancer would.
type clusterLoad struct {
	tc    *testCluster
	rooms int
	rec   *clustertest.Recorder
	http  *http.Client
	// opTimeout bounds one client operation, retries included; tryTimeout
	// one HTTP request.
	opTimeout, tryTimeout time.Duration

	mu      sync.Mutex
	acked   map[string]clustertest.Booking // reservation id → booking
	lat     []opLatency
	tries   atomic.Int64
	retries atomic.Int64
	gaveUp  atomic.Int64
	odd     atomic.Int64 // unexpected answers (reported as test errors)
}

type opLatency struct {
	call, ret time.Time
	rt        string
	ok        bool // a definite answer
}

func newClusterLoad(tc *testCluster, rooms int) *clusterLoad {
	return &clusterLoad{tc: tc, rooms: rooms, rec: clustertest.NewRecorder(),
		http:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}},
		opTimeout: 40 * time.Second, tryTimeout: 4 * time.Second, acked: map[string]clustertest.Booking{}}
}

// book runs one booking to a definite answer (or gives up at opTimeout).
func (l *clusterLoad) book(ctx context.Context, client int, b clustertest.Booking, key string) clustertest.Outcome {
	arrival := dayAfter(windowFrom, b.First)
	body, _ := json.Marshal(map[string]any{
		"stays": []stay{{RoomType: b.RoomType, Arrival: arrival, Departure: dayAfter(arrival, b.Nights), Quantity: b.Qty}},
		"guest": map[string]string{"name": "Guest"}, "channel": "load",
	})
	done := l.rec.Call(client, b)
	call := time.Now()
	outcome := clustertest.Unknown
	defer func() {
		done(outcome)
		l.mu.Lock()
		l.lat = append(l.lat, opLatency{call: call, ret: time.Now(), rt: b.RoomType, ok: outcome != clustertest.Unknown})
		l.mu.Unlock()
		if outcome == clustertest.Unknown {
			l.gaveUp.Add(1)
		}
	}()
	deadline := call.Add(l.opTimeout)
	node := client % len(l.tc.nodes)
	for try := 0; time.Now().Before(deadline); try++ {
		if try > 0 {
			l.retries.Add(1)
			node = (node + 1) % len(l.tc.nodes)
			time.Sleep(time.Duration(min(try, 10)) * 20 * time.Millisecond)
		}
		l.tries.Add(1)
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.tryTimeout)
		req, _ := http.NewRequestWithContext(tctx, "POST", l.tc.nodes[node].url+"/v1/properties/p1/reservations", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+l.tc.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := l.http.Do(req)
		if err != nil {
			cancel()
			continue // refused, reset, timed out: another node
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		_ = resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode == http.StatusCreated:
			var r reservation
			if err := json.Unmarshal(buf.Bytes(), &r); err != nil || r.ID == "" {
				l.odd.Add(1)
				l.tc.t.Errorf("201 without a reservation: %s", buf.Bytes())
				return outcome
			}
			l.mu.Lock()
			l.acked[r.ID] = b
			l.mu.Unlock()
			outcome = clustertest.Confirmed
			return outcome
		case resp.StatusCode == http.StatusConflict && bytes.Contains(buf.Bytes(), []byte(`"sold_out"`)):
			outcome = clustertest.SoldOut
			return outcome
		case resp.StatusCode == http.StatusConflict, resp.StatusCode >= 500:
			continue // in flight elsewhere, or unavailable / maybe done: retry with the key
		default:
			l.odd.Add(1)
			l.tc.t.Errorf("booking answered %d: %s", resp.StatusCode, buf.Bytes())
			return outcome
		}
	}
	return outcome
}

// run starts clients goroutines booking until ctx ends; wait for them with
// the returned function.
func (l *clusterLoad) run(ctx context.Context, clients int) (wait func()) {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for i := 0; ctx.Err() == nil; i++ {
				b := clustertest.Booking{RoomType: clusterRoomTypes[rng.IntN(len(clusterRoomTypes))],
					First: rng.IntN(20), Nights: 1 + rng.IntN(3), Qty: 1}
				l.book(ctx, c, b, fmt.Sprintf("c%d-%d-%d", c, i, rng.Uint32()))
			}
		})
	}
	return wg.Wait
}

// MustAudit checks, after the load: every acknowledged booking is stored
// and confirmed (none lost), no night is oversold and every night's count
// matches the stored reservations, and the client-side history is
// linearizable against per-night capacity.
func (l *clusterLoad) MustAudit(t *testing.T) {
	t.Helper()
	c := l.tc.liveClient()
	stored := map[string]string{}
	for _, r := range MustListReservations(t, c) {
		stored[r.ID] = r.Status
	}
	l.mu.Lock()
	lost := 0
	for id := range l.acked {
		if stored[id] != "confirmed" {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged reservation %s reads back %q", id, stored[id])
			}
		}
	}
	acked := len(l.acked)
	l.mu.Unlock()
	if lost > 0 {
		t.Errorf("%d of %d acknowledged bookings lost", lost, acked)
	}
	checkBooksBalance(t, c, clusterRoomTypes)
	rooms := map[string]int{}
	for _, rt := range clusterRoomTypes {
		rooms[rt] = l.rooms
	}
	res := clustertest.Check(l.rec.Operations(), rooms, 60*time.Second)
	t.Logf("linearizability: %s", res)
	if res.Verdict != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("staylock-%s-history.html", strings.ReplaceAll(t.Name(), "/", "_")))
		_ = res.Visualize(path)
		t.Errorf("history is not linearizable (%s); see %s", res.Verdict, path)
	}
}

// summary describes the load; since filters the operations called after it.
func (l *clusterLoad) summary(since time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ds []time.Duration
	for _, o := range l.lat {
		if !o.call.Before(since) {
			ds = append(ds, o.ret.Sub(o.call))
		}
	}
	counts := l.rec.Counts()
	return fmt.Sprintf("%d ops (%d confirmed, %d sold out, %d unknown), %d HTTP tries (%d retries); latency %s",
		len(l.lat), counts[clustertest.Confirmed], counts[clustertest.SoldOut], counts[clustertest.Unknown],
		l.tries.Load(), l.retries.Load(), percentiles(ds))
}

func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration {
		return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s p99 %s max %s (n=%d)", p(.50), p(.99), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}

// recovery is, for each room type, how long after at it first answered an
// operation called after at; the maximum is when every room type answered
// again.
func (l *clusterLoad) recovery(at time.Time) (time.Duration, map[string]time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := map[string]time.Duration{}
	for _, o := range l.lat {
		if o.ok && !o.call.Before(at) {
			d := o.ret.Sub(at)
			if cur, ok := first[o.rt]; !ok || d < cur {
				first[o.rt] = d
			}
		}
	}
	var worst time.Duration
	for _, d := range first {
		worst = max(worst, d)
	}
	return worst, first
}

// waitOps waits until the load has completed n more operations (or d).
func (l *clusterLoad) waitOps(n int, d time.Duration) {
	l.mu.Lock()
	target := len(l.lat) + n
	l.mu.Unlock()
	poll.Until(d, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.lat) >= target
	})
}

// ---------------------------------------------------------------- tests

func TestCluster_Seeds(t *testing.T) { clusterScenarios(t, "seeds") }

func TestCluster_Etcd(t *testing.T) {
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd is not installed: apt-get install -y etcd-server (.ci/run does it)")
		}
		t.Skip("etcd is not installed (apt-get install -y etcd-server; .ci/run does it)")
	}
	clusterScenarios(t, "etcd")
}

func clusterScenarios(t *testing.T, provider string) {
	t.Run("LastRoomsRacedThroughAllNodesSellExactlyTheRooms", func(t *testing.T) {
		tc := MustStartCluster(t, provider, 3)
		mustSetUpHotel(t, tc.client(0), []string{"dlx"}, 10)
		var confirmed, soldOut atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				status, body, err := tc.client(i%3).do(context.Background(), "POST", "/v1/properties/p1/reservations", map[string]any{
					"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 9), Departure: dayAfter(windowFrom, 11), Quantity: 1}},
					"guest": map[string]string{"name": "Guest"}, "channel": "race",
				}, "Idempotency-Key", fmt.Sprintf("race-%d", i))
				switch {
				case err != nil:
					t.Errorf("booking %d: %v", i, err)
				case status == http.StatusCreated:
					confirmed.Add(1)
				case status == http.StatusConflict && bytes.Contains(body, []byte("sold_out")):
					soldOut.Add(1)
				default:
					t.Errorf("booking %d: %d %s", i, status, body)
				}
			})
		}
		wg.Wait()
		if confirmed.Load() != 10 || soldOut.Load() != 50 {
			t.Fatalf("%d confirmed, %d sold out; want 10 and 50", confirmed.Load(), soldOut.Load())
		}
		checkBooksBalance(t, tc.client(2), []string{"dlx"})
	})

	if provider == "seeds" {
		t.Run("SIGSTOPPastEvictionCannotCommitAndExits", func(t *testing.T) { clusterPause(t, provider) })
		t.Run("RollingRestartUnderLoadFailsNoRequest", func(t *testing.T) { clusterRolling(t, provider) })
	}
	t.Run("SIGKILLUnderLoadLosesNoAcknowledgedBooking", func(t *testing.T) { clusterKill(t, provider) })
}

const clusterClients = 24

// clusterRooms per room type: small enough that nights sell out during a
// run, so the history has both confirmations and refusals to check.
const clusterRooms = 15

func clusterKill(t *testing.T, provider string) {
	tc := MustStartCluster(t, provider, 3)
	mustSetUpHotel(t, tc.client(0), clusterRoomTypes, clusterRooms)
	load := newClusterLoad(tc, clusterRooms)
	ctx, stop := context.WithCancel(context.Background())
	wait := load.run(ctx, clusterClients)
	load.waitOps(300, 20*time.Second)
	// The victim is the node hosting the most room types, so that some
	// have to move.
	victim, most := tc.nodes[1], 0.0
	for _, nd := range tc.nodes {
		if a, _ := tc.metric(nd, "hotel_cluster_activations"); a > most {
			victim, most = nd, a
		}
	}
	t.Logf("%s: SIGKILL node %d, which hosts %v of %d room types", provider, victim.i, most, len(clusterRoomTypes))
	killedAt := time.Now()
	victim.srv.stop(t, syscall.SIGKILL)
	victim.srv = nil
	load.waitOps(600, 30*time.Second)
	// Keep going until every room type answered after the kill.
	poll.Until(30*time.Second, func() bool {
		_, first := load.recovery(killedAt)
		return len(first) == len(clusterRoomTypes)
	})
	answered, first := load.recovery(killedAt)
	t.Logf("%s: every room type answered again %s after SIGKILL (per room type: %v)", provider, answered.Round(time.Millisecond), roundAll(first))
	load.waitOps(300, 20*time.Second)
	stop()
	wait()
	worst, _ := load.recovery(killedAt)
	t.Logf("%s kill: %s", provider, load.summary(time.Time{}))
	t.Logf("%s kill: after recovery: %s", provider, load.summary(killedAt.Add(worst)))
	if n := load.gaveUp.Load(); n > 0 {
		t.Errorf("%d operations got no definite answer within %s", n, load.opTimeout)
	}
	load.MustAudit(t)
}

func roundAll(m map[string]time.Duration) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v.Round(time.Millisecond).String()
	}
	return out
}

var evictedLine = regexp.MustCompile(`"fenced_by_store": (\d+), "fenced_after_eviction": (\d+), "refused_after_eviction": (\d+)`)

func clusterPause(t *testing.T, provider string) {
	tc := MustStartCluster(t, provider, 3)
	mustSetUpHotel(t, tc.client(0), clusterRoomTypes, clusterRooms)
	load := newClusterLoad(tc, clusterRooms)
	ctx, stop := context.WithCancel(context.Background())
	wait := load.run(ctx, clusterClients)
	load.waitOps(300, 20*time.Second)

	stale, most := tc.nodes[2], 0.0
	for _, nd := range tc.nodes {
		if a, _ := tc.metric(nd, "hotel_cluster_activations"); a > most {
			stale, most = nd, a
		}
	}
	t.Logf("SIGSTOP node %d, which hosts %v of %d room types", stale.i, most, len(clusterRoomTypes))
	if err := stale.srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	// Past eviction: the others drop it and take its room types over.
	var others []*clusterNode
	for _, nd := range tc.nodes {
		if nd != stale {
			others = append(others, nd)
		}
	}
	poll.EventuallyNil(t, 20*time.Second, "the other nodes to drop the paused one", func() error {
		for _, nd := range others {
			if m, _ := tc.metric(nd, "hotel_cluster_members"); m != 2 {
				return fmt.Errorf("node %d sees %v members", nd.i, m)
			}
		}
		return nil
	})
	evicted := time.Since(stoppedAt)
	load.waitOps(600, 30*time.Second)
	time.Sleep(time.Second) // a little longer paused
	pausedFor := time.Since(stoppedAt)
	if err := stale.srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// It finds it was evicted, refuses everything, lingers a moment for a
	// last scrape, and exits non-zero for its supervisor to restart it.
	var fenced, refused float64
	poll.Eventually(t, 2*time.Minute, "the paused node to exit", func() bool {
		f1, ok1 := tc.metric(stale, `hotel_actor_fenced_total{reason="fence"}`)
		f2, ok2 := tc.metric(stale, `hotel_actor_fenced_total{reason="evicted"}`)
		r, ok3 := tc.metric(stale, `hotel_cluster_refused_total{reason="evicted"}`)
		if ok1 && ok2 && ok3 {
			fenced, refused = f1+f2, r
		}
		select {
		case err := <-stale.srv.done:
			stale.srv.done <- err
			return true
		default:
			return false
		}
	})
	code := stale.srv.cmd.ProcessState.ExitCode()
	if code == 0 {
		t.Fatalf("the paused node exited 0 after losing its membership\n%s", stale.srv.stderr.String())
	}
	logs := stale.srv.stderr.String()
	m := evictedLine.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no eviction summary in the paused node's log:\n%s", logs)
	}
	fs, _ := strconv.Atoi(m[1])
	fe, _ := strconv.Atoi(m[2])
	re, _ := strconv.Atoi(m[3])
	t.Logf("paused %s (evicted by its peers after %s); exit code %d; its /metrics last showed %v fenced commits and %v refused requests; its final count: %d commits refused by the store's fence, %d refused after eviction, %d requests refused",
		pausedFor.Round(time.Millisecond), evicted.Round(time.Millisecond), code, fenced, refused, fs, fe, re)
	if fs+fe+re == 0 {
		t.Errorf("the paused node refused no write; it had requests in flight when it was stopped")
	}
	// Its supervisor restarts it: a fresh member joins.
	stale.srv = nil
	tc.start(stale)
	tc.MustConverge()
	load.waitOps(300, 20*time.Second)
	stop()
	wait()
	t.Logf("pause: %s", load.summary(time.Time{}))
	if n := load.gaveUp.Load(); n > 0 {
		t.Errorf("%d operations got no definite answer within %s", n, load.opTimeout)
	}
	load.MustAudit(t)
}

func clusterRolling(t *testing.T, provider string) {
	tc := MustStartCluster(t, provider, 3)
	mustSetUpHotel(t, tc.client(0), clusterRoomTypes, clusterRooms)
	load := newClusterLoad(tc, clusterRooms)
	ctx, stop := context.WithCancel(context.Background())
	wait := load.run(ctx, clusterClients)
	load.waitOps(200, 20*time.Second)
	for _, nd := range tc.nodes {
		start := time.Now()
		if code := nd.srv.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("node %d: SIGTERM exit code %d\n%s", nd.i, code, nd.srv.stderr.String())
		}
		left := time.Since(start)
		nd.srv = nil
		load.waitOps(100, 20*time.Second)
		tc.start(nd)
		tc.MustConverge()
		t.Logf("node %d: left in %s, back and converged after %s", nd.i, left.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		load.waitOps(100, 20*time.Second)
	}
	stop()
	wait()
	t.Logf("rolling: %s", load.summary(time.Time{}))
	if n := load.gaveUp.Load(); n > 0 {
		t.Errorf("%d requests failed after the clients' retries", n)
	}
	load.MustAudit(t)
}
