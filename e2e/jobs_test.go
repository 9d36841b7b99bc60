package e2e

import (
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // reads River's tables

	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/jobs/mail/smtptest"
	"github.com/staylock/staylock/persistence/pgtest"
)

// mailEnv points a backend's processes at a real SMTP server with short
// job timings, so that a dead worker's job is rescued within seconds.
func mailEnv(b backend, srv *smtptest.Server) backend {
	env := append(append([]string(nil), b.env...),
		"MAIL_MAILER=smtp", "MAIL_HOST="+srv.Host, "MAIL_PORT="+strconv.Itoa(srv.Port), "MAIL_ENCRYPTION=none",
		"MAIL_FROM_ADDRESS=hotel@example.com", "JOB_TIMEOUT=2s", "JOB_RESCUE_AFTER=3s", "JOB_POLL_INTERVAL=200ms")
	return backend{b.name, env}
}

// confirmedMailIDs are the Message-IDs the confirmed reservations of p1
// call for, read from the server (the database's truth).
func confirmedMailIDs(t *testing.T, c *client) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for _, r := range MustListReservations(t, c) {
		if r.Status == "confirmed" {
			want[r.ID+".confirmed.v1@staylock"] = true
		}
	}
	return want
}

// mustGetExactlyOneEach waits until the SMTP server has accepted every mail
// of want, then checks that it accepted each exactly once and nothing else
// (no mail for a refused booking).
func mustGetExactlyOneEach(t *testing.T, srv *smtptest.Server, want map[string]bool, within time.Duration) {
	t.Helper()
	srv.WaitFor(t, len(want), within)
	// Let stragglers (a duplicate would be one) arrive before counting.
	poll.Until(2*time.Second, func() bool { return len(srv.Messages()) != len(want) })
	counts := srv.CountByID()
	var bad []string
	for id := range want {
		if counts[id] != 1 {
			bad = append(bad, fmt.Sprintf("%s ×%d", id, counts[id]))
		}
	}
	for id, n := range counts {
		if !want[id] {
			bad = append(bad, fmt.Sprintf("unexpected %s ×%d", id, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d of %d mails wrong: %v", len(bad), len(want), bad[:min(len(bad), 20)])
	}
}

// TestJobs_SIGKILLOfServeUnderLoadLosesNoEmail: 32 clients book (some sold
// out) while `serve` is killed; after a restart, every acknowledged booking
// (and every confirmed reservation, acknowledged or not) has exactly one
// confirmation email at a real SMTP server, and a refused booking none.
// The jobs were written in the bookings' own transactions. On SQLite the
// serving process itself sends (and its deliveries are held at MAIL FROM
// until after the kill, so none is half done); on Postgres a worker does,
// throughout.
func TestJobs_SIGKILLOfServeUnderLoadLosesNoEmail(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		srv := smtptest.Start(t)
		b = mailEnv(b, srv)
		roomTypes := []string{"std", "dlx"}
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		if b.name == "postgres" {
			b.MustStartQueue(t, "worker")
			b.MustStartQueue(t, "scheduler")
		} else {
			srv.Hold()
		}
		c := newClient(s.url, key)
		mustSetUpHotel(t, c, roomTypes, 15)

		load := startLoad(t, c, roomTypes, 32, true)
		load.waitFor(t, 60)
		s.stop(t, syscall.SIGKILL)
		load.halt()
		acked := load.acknowledged()
		t.Logf("%s: %d attempts, %d acknowledged before SIGKILL", b.name, load.attempts.Load(), len(acked))
		srv.Release()

		s2 := b.MustStart(t)
		c2 := newClient(s2.url, key)
		want := confirmedMailIDs(t, c2)
		for _, id := range acked {
			if !want[id+".confirmed.v1@staylock"] {
				t.Errorf("acknowledged %s is not a confirmed reservation after the restart", id)
			}
		}
		if int(load.attempts.Load()) <= len(want) {
			t.Fatalf("no booking was refused (%d attempts, %d confirmed): the test proves nothing about refusals", load.attempts.Load(), len(want))
		}
		mustGetExactlyOneEach(t, srv, want, 60*time.Second)
	})
}

// TestJobs_SIGKILLOfWorkerWhileSending: a worker killed in the middle of
// deliveries (its SMTP sessions open, nothing accepted yet) leaves them
// running; the leading scheduler rescues them and the next worker delivers
// each exactly once, never zero times.
func TestJobs_SIGKILLOfWorkerWhileSending(t *testing.T) {
	srv := smtptest.Start(t)
	b := mailEnv(backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + pgtest.NewDatabase(t)}}, srv)
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	mustSetUpHotel(t, c, []string{"dlx"}, 50)
	b.MustStartQueue(t, "scheduler")
	srv.Hold()
	w := b.MustStartQueue(t, "worker")
	for i := range 20 {
		c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
			"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, i%10), Departure: dayAfter(windowFrom, i%10+1), Quantity: 1}},
			"guest": map[string]string{"name": "Guest", "email": fmt.Sprintf("g%d@example.com", i)}}, http.StatusCreated, nil)
	}
	select {
	case <-srv.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("the worker started no delivery within 30 s")
	}
	w.stop(t, syscall.SIGKILL)
	srv.Release()
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d mails accepted from the killed worker", n)
	}
	b.MustStartQueue(t, "worker")
	mustGetExactlyOneEach(t, srv, confirmedMailIDs(t, c), 60*time.Second)
}

// TestJobs_OneSchedulerLeadsEachTick: three schedulers on one database run
// the periodic purge once per tick (one leader enqueues it, one job per
// period), and when the leader is SIGKILLed another takes over the next
// ticks.
func TestJobs_OneSchedulerLeadsEachTick(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	b := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + dbURL, "JOB_PURGE_EVERY=1s",
		"JOB_TIMEOUT=2s", "JOB_RESCUE_AFTER=3s", "JOB_POLL_INTERVAL=200ms"}}
	b.MustRunCommand(t, "migrate", "up")
	byID := map[string]*server{}
	for range 3 {
		s := b.MustStartQueue(t, "scheduler")
		byID[s.url] = s
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	// ticks counts the purge jobs per period and how many of them ran.
	ticks := func() (perTick map[time.Time]int, completed int, last time.Time) {
		rows, err := db.Query(`SELECT date_trunc('second', scheduled_at), state::text FROM river_job WHERE kind = 'purge_idempotency'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		perTick = map[time.Time]int{}
		for rows.Next() {
			var at time.Time
			var state string
			if err := rows.Scan(&at, &state); err != nil {
				t.Fatal(err)
			}
			perTick[at]++
			if state == "completed" {
				completed++
				if at.After(last) {
					last = at
				}
			}
		}
		return perTick, completed, last
	}
	leader := func() string {
		var id string
		if err := db.QueryRow(`SELECT leader_id FROM river_leader`).Scan(&id); err != nil {
			return ""
		}
		return id
	}
	checkOncePerTick := func() {
		t.Helper()
		perTick, _, _ := ticks()
		for at, n := range perTick {
			if n != 1 {
				t.Fatalf("tick %s has %d purge jobs, want 1", at.Format(time.TimeOnly), n)
			}
		}
	}

	poll.Eventually(t, 60*time.Second, "four ticks run", func() bool { _, done, _ := ticks(); return done >= 4 })
	checkOncePerTick()
	first := leader()
	victim := byID[first]
	if victim == nil {
		t.Fatalf("leader %q is none of the schedulers %v", first, byID)
	}
	victim.stop(t, syscall.SIGKILL)
	killedAt := time.Now()
	poll.Eventually(t, 60*time.Second, "another scheduler to lead", func() bool { l := leader(); return l != "" && l != first })
	poll.Eventually(t, 60*time.Second, "ticks after the kill to run", func() bool { _, _, last := ticks(); return last.After(killedAt) })
	checkOncePerTick()
}

// TestJobs_HoldSweepRunsOnTheServingNodes: the leading scheduler enqueues
// the backstop hold sweep every JOB_SWEEP_EVERY and the history pruning
// every JOB_PRUNE_EVERY into the engine queue, and the serving node (which
// has the actors) runs them.
func TestJobs_HoldSweepRunsOnTheServingNodes(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	b := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + dbURL, "JOB_SWEEP_EVERY=1s",
		"JOB_PRUNE_EVERY=1s", "JOB_POLL_INTERVAL=200ms"}}
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	mustSetUpHotel(t, newClient(s.url, key), []string{"dlx"}, 5)
	b.MustStartQueue(t, "scheduler")
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	start := time.Now() // both kinds within one minute
	for _, kind := range []string{"sweep_holds", "prune_history"} {
		var by string
		poll.EventuallyNil(t, time.Minute-time.Since(start), "two "+kind+" jobs completed", func() error {
			var done int
			err := db.QueryRow(`SELECT count(*), coalesce(max(attempted_by[1]), '') FROM river_job WHERE kind = $1 AND state = 'completed'`, kind).Scan(&done, &by)
			if err == nil && done < 2 {
				err = fmt.Errorf("%d completed", done)
			}
			return err
		})
		if !strings.HasPrefix(by, "node-") {
			t.Errorf("%s ran on %q, want a serving node", kind, by)
		}
	}
}

// TestJobs_OccupancyReportMailed: with OCCUPANCY_REPORT_TO set, the leader
// enqueues the occupancy report every JOB_REPORT_EVERY; a serving node
// reads the counts from the actors (holds included) and mails it to a real
// SMTP server, one Message-ID per day.
func TestJobs_OccupancyReportMailed(t *testing.T) {
	srv := smtptest.Start(t)
	b := mailEnv(backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}, srv)
	b.env = append(b.env, "OCCUPANCY_REPORT_TO=ops@example.com", "JOB_REPORT_EVERY=1s")
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	mustSetUpHotel(t, c, []string{"dlx", "std"}, 4)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(berlin).Format(time.DateOnly)
	c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: today, Departure: dayAfter(today, 2), Quantity: 2}},
		"guest": map[string]string{"name": "Tonight"}}, http.StatusCreated, nil)
	c.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{
		"stays": []stay{{RoomType: "std", Arrival: today, Departure: dayAfter(today, 1), Quantity: 1}}}, http.StatusCreated, nil)

	want := "2 of 8 rooms booked tonight (25%)"
	var report *smtptest.Message
	poll.EventuallyNil(t, 60*time.Second, fmt.Sprintf("an occupancy report saying %q", want), func() error {
		for _, m := range srv.Messages() {
			if strings.HasPrefix(m.ID, "occupancy.") && strings.Contains(m.Subject, want) {
				report = &m
			}
		}
		if report == nil {
			return fmt.Errorf("got %v", srv.CountByID())
		}
		return nil
	})
	if report.To[0] != "ops@example.com" || !strings.Contains(report.Body, today+"  booked 2/8 (25%)  held 1  available 5") ||
		!strings.Contains(report.Body, dayAfter(today, 1)+"  booked 2/8 (25%)  held 0  available 6") ||
		report.ID != "occupancy."+time.Now().UTC().Format(time.DateOnly)+"@staylock" && report.ID != "occupancy."+time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)+"@staylock" {
		t.Errorf("report %s to %v:\n%s", report.ID, report.To, report.Body)
	}
}
