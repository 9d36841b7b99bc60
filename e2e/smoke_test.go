package e2e

import (
	"database/sql"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/jobs/mail/smtptest"
	"github.com/staylock/staylock/persistence/pgtest"
)

// runSmoke runs `staylock smoke` against url; it returns the output and
// whether it passed.
func runSmoke(t *testing.T, base, key string) (string, bool) {
	t.Helper()
	cmd := exec.Command(binary, "smoke", "--url", base, "--key", key, "--timeout", "20s", "--no-env-file")
	out, err := cmd.CombinedOutput()
	if err != nil {
		out = append(out, []byte("\n(exit: "+err.Error()+")")...)
	}
	return string(out), err == nil
}

// TestSmoke: `smoke` passes against a running node (every step printed
// with its time) and fails naming the step against a node whose database
// is gone and against one whose mailer refuses mail.
func TestSmoke(t *testing.T) {
	t.Run("passes", func(t *testing.T) {
		srv := smtptest.Start(t)
		b := mailEnv(backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}, srv)
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		out, ok := runSmoke(t, s.url, key)
		if !ok || !strings.Contains(out, "smoke test passed") || strings.Count("\n"+out, "\nok   ") != 9 {
			t.Fatalf("smoke against a healthy node:\n%s", out)
		}
		for _, step := range []string{"health", "readyz", "dashboard page", "book", "confirmation email", "cancel", "metrics moved"} {
			if !strings.Contains(out, step) {
				t.Errorf("step %q not printed:\n%s", step, out)
			}
		}
		// The booking's confirmation and its cancellation, once each.
		msgs := srv.WaitFor(t, 2, 20*time.Second)
		counts := srv.CountByID()
		confirmed, cancelled := 0, 0
		for id, n := range counts {
			switch {
			case strings.HasSuffix(id, ".confirmed.v1@staylock"):
				confirmed += n
			case strings.Contains(id, ".cancelled.v"):
				cancelled += n
			}
		}
		if confirmed != 1 || cancelled != 1 || len(msgs) != 2 {
			t.Errorf("mails %v, want one confirmation and one cancellation", counts)
		}
	})

	t.Run("mailer refuses", func(t *testing.T) {
		srv := smtptest.Start(t)
		srv.Refuse(550)
		b := mailEnv(backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}, srv)
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		out, ok := runSmoke(t, s.url, key)
		if ok || !strings.Contains(out, `failed at step "confirmation email"`) || !strings.Contains(out, "550") {
			t.Fatalf("smoke with a refusing mailer (want a failure at the email, naming the 550):\n%s", out)
		}
	})

	t.Run("database stopped", func(t *testing.T) {
		dbURL := pgtest.NewDatabase(t)
		b := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + dbURL}}
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		admin, err := sql.Open("pgx", pgtest.ServerURL())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		// The node's database stops taking connections and drops the ones
		// it has: as if the server were stopped, for this node only.
		for _, q := range []string{`ALTER DATABASE "` + name + `" ALLOW_CONNECTIONS false`,
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + name + `' AND pid <> pg_backend_pid()`} {
			if _, err := admin.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		out, ok := runSmoke(t, s.url, key)
		if ok || !strings.Contains(out, `failed at step "health"`) {
			t.Fatalf("smoke with the database stopped (want a failure at health):\n%s", out)
		}
	})
}
