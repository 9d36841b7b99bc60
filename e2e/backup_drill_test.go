package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/staylock/staylock/internal/poll"
)

// drillSize is the backup drill's load. `make test` runs the small
// default in seconds; `make backup-drill` sets DRILL_LOAD / DRILL_CLIENTS /
// DRILL_LAYOUT for a large database and prints the figures.
type drillSize struct {
	load    time.Duration // phase A: the load before the base backup
	clients int
	layout  []string // loadtest --setup flags of phase A
}

func drillSizeFromEnv(t *testing.T) drillSize {
	s := drillSize{load: 2 * time.Second, clients: 16, layout: []string{"--properties", "2", "--room-types", "20"}}
	if v := os.Getenv("DRILL_LOAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DRILL_LOAD=%q: %v", v, err)
		}
		s.load = d
	}
	if v := os.Getenv("DRILL_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("DRILL_CLIENTS=%q: want a positive number", v)
		}
		s.clients = n
	}
	if v, ok := os.LookupEnv("DRILL_LAYOUT"); ok {
		s.layout = strings.Fields(v) // "" is the spread scenario's own layout
	}
	return s
}

// loadtestCmd runs `staylock loadtest` and fails the test unless it exits 0
// (its audit passed).
func loadtestCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"loadtest", "--progress", "none"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("staylock loadtest %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// auditLine is the load tester's verdict line.
func auditLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "audit: ") && strings.Contains(l, "→") {
			return strings.TrimSpace(l)
		}
	}
	return "(no audit line)"
}

func mustReady(t *testing.T, url string, within time.Duration) {
	t.Helper()
	poll.EventuallyNil(t, within, url+"/readyz to answer 200", func() error {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// The backup drill of docs/operations.md, on a PostgreSQL cluster of its
// own: a loaded `staylock serve`, a base backup (pg_basebackup) taken while
// a second load books, continuous WAL archiving, then the primary is lost
// (immediate stop) and a fresh cluster is restored from the base backup
// plus the archived WAL. `staylock serve` on the restored copy must pass
// the load tester's audit for both loads: every acknowledged booking
// present, no night oversold, booked = the reservations that hold it. The
// restore time (RTO) is printed.
func TestBackupDrill_BaseBackupPlusWALRestoresEveryAcknowledgedBooking(t *testing.T) {
	size := drillSizeFromEnv(t)
	ctx := context.Background()
	work, cred := pgWorkDir(t)
	archive := filepath.Join(work, "wal-archive")
	mkdirFor(t, cred, archive)

	// The primary: WAL archived by copying each finished segment, as
	// docs/operations.md configures it (a real one ships them off the host).
	primary := initPGCluster(t, work, cred, "primary",
		"wal_level = replica", "archive_mode = on",
		"archive_command = 'test ! -f "+archive+"/%f && cp %p "+archive+"/%f'",
		"max_wal_senders = 4", "shared_buffers = 128MB", "max_connections = 200")
	primary.start()
	pgRun(t, cred, work, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "staylock")

	b := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + primary.url("staylock")}}
	key := b.MustCreateKey(t, "drill", "admin")
	s := b.MustStart(t)
	ledgers := t.TempDir()
	ledgerA, ledgerB := filepath.Join(ledgers, "a.json"), filepath.Join(ledgers, "b.json")

	// Phase A: the database to back up.
	start := time.Now()
	outA := loadtestCmd(t, append([]string{"--url", s.url, "--key", key, "--setup", "--scenario", "spread",
		"--clients", strconv.Itoa(size.clients), "--duration", size.load.String(), "--ledger-out", ledgerA}, size.layout...)...)
	t.Logf("load A (%s): %s", time.Since(start).Round(time.Millisecond), auditLine(outA))

	// Phase B books while the base backup runs: the backup is online.
	loadB := make(chan string, 1)
	go func() {
		cmd := exec.Command(binary, "loadtest", "--progress", "none", "--url", s.url, "--key", key, "--setup",
			"--scenario", "hot", "--clients", "8", "--duration", "3s", "--ledger-out", ledgerB)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			out = append(out, []byte("\nload B failed: "+err.Error())...)
		}
		loadB <- string(out)
	}()
	time.Sleep(time.Second) // let B's setup finish and its bookings start
	base := filepath.Join(work, "base")
	mkdirFor(t, cred, base)
	backupStart := time.Now()
	pgRun(t, cred, work, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres",
		"-D", base, "-Ft", "-z", "-X", "stream", "--checkpoint=fast", "--label", "staylock-drill")
	backupTook := time.Since(backupStart)
	outB := <-loadB
	if strings.Contains(outB, "load B failed") {
		t.Fatalf("load B:\n%s", outB)
	}
	t.Logf("load B (during the backup): %s", auditLine(outB))

	// What the primary holds at the end, then every finished WAL segment
	// archived (archive_timeout does this on a timer in production; here
	// the switch is forced so that the drill's RPO is 0).
	pc := primary.conn("staylock")
	var wantReservations int64
	if err := pc.QueryRow(ctx, "SELECT count(*) FROM reservations").Scan(&wantReservations); err != nil {
		t.Fatal(err)
	}
	var lastSegment string
	if err := pc.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&lastSegment); err != nil {
		t.Fatal(err)
	}
	poll.EventuallyNil(t, 2*time.Minute, "segment "+lastSegment+" to be archived", func() error {
		var archived *string
		if err := pc.QueryRow(ctx, "SELECT last_archived_wal FROM pg_stat_archiver").Scan(&archived); err != nil {
			t.Fatal(err)
		}
		if archived == nil || *archived < lastSegment {
			return fmt.Errorf("last archived %v", archived)
		}
		return nil
	})
	// The disaster: the server and the primary's data are gone.
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	primary.stop("immediate")

	// The restore, timed: unpack the base backup into a fresh data folder,
	// replay the archived WAL to its end, promote, then serve.
	restoreStart := time.Now()
	restored := &pgCluster{t: t, data: filepath.Join(work, "restored"), cred: cred}
	mkdirFor(t, cred, restored.data)
	pgRun(t, cred, work, "tar", "-xzf", filepath.Join(base, "base.tar.gz"), "-C", restored.data)
	pgRun(t, cred, work, "tar", "-xzf", filepath.Join(base, "pg_wal.tar.gz"), "-C", filepath.Join(restored.data, "pg_wal"))
	if err := os.WriteFile(filepath.Join(restored.data, "recovery.signal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		_ = os.Chown(filepath.Join(restored.data, "recovery.signal"), int(cred.Uid), int(cred.Gid))
	}
	restored.configure("restore_command = 'cp "+archive+"/%f %p'", "recovery_target_timeline = 'latest'",
		"archive_mode = off")
	restored.start()
	rc := restored.conn("staylock")
	poll.Eventually(t, 10*time.Minute-time.Since(restoreStart), "the restored cluster to finish recovery", func() bool {
		var inRecovery bool
		if err := rc.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			t.Fatal(err)
		}
		return !inRecovery
	})
	dbReady := time.Since(restoreStart)
	rb := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + restored.url("staylock")}}
	s2 := rb.MustStart(t)
	mustReady(t, s2.url, time.Minute)
	rto := time.Since(restoreStart)

	// The audit of both loads against the restored copy.
	var gotReservations int64
	if err := rc.QueryRow(ctx, "SELECT count(*) FROM reservations").Scan(&gotReservations); err != nil {
		t.Fatal(err)
	}
	if gotReservations != wantReservations {
		t.Errorf("the restored copy has %d reservations, the primary had %d", gotReservations, wantReservations)
	}
	audit := loadtestCmd(t, "--url", s2.url, "--key", key, "--audit-ledger", ledgerA, "--audit-ledger", ledgerB)
	var baseBytes int64
	for _, f := range []string{"base.tar.gz", "pg_wal.tar.gz"} {
		if fi, err := os.Stat(filepath.Join(base, f)); err == nil {
			baseBytes += fi.Size()
		}
	}
	archived, _ := os.ReadDir(archive)
	report := fmt.Sprintf("backup drill: %d reservations; base backup %.1f MiB (pg_basebackup -Ft -z, %s, taken while load B booked); "+
		"%d WAL segments archived; restore: base backup + WAL replay + promotion %s, staylock serve ready %s → RTO %s; RPO 0 (last segment archived)",
		gotReservations, float64(baseBytes)/(1<<20), backupTook.Round(time.Millisecond), len(archived),
		dbReady.Round(time.Millisecond), (rto - dbReady).Round(time.Millisecond), rto.Round(time.Millisecond))
	t.Log(report)
	for _, l := range strings.Split(strings.TrimSpace(audit), "\n") {
		t.Log("restored copy " + strings.TrimSpace(l))
	}
	if os.Getenv("DRILL_REPORT") != "" {
		fmt.Println(report) // make backup-drill prints the figure on its own line
	}
}
