package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/notify/redistest"
)

// localBackend is the embedded default with extra settings (later ones win).
func localBackend(t *testing.T, env ...string) backend {
	return backend{"sqlite", append([]string{"STORAGE_PATH=" + filepath.Join(t.TempDir(), "storage")}, env...)}
}

// The banner names a URL a person can click: a listener on every interface
// is localhost, not "[::]"; a named address stays; APP_URL is shown when it
// is not that URL.
func TestServe_BannerPrintsAClickableURL(t *testing.T) {
	for _, tc := range []struct {
		name, addr, host string
	}{
		{"all interfaces", ":0", "localhost"},
		{"all IPv4 interfaces", "0.0.0.0:0", "localhost"},
		{"all IPv6 interfaces", "[::]:0", "localhost"},
		{"loopback", "127.0.0.1:0", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := localBackend(t, "HTTP_ADDR="+tc.addr).MustStart(t)
			u, err := url.Parse(s.url)
			if err != nil || u.Hostname() != tc.host || u.Port() == "" || u.Port() == "0" {
				t.Fatalf("banner URL %q, want http://%s:<port>\n%s", s.url, tc.host, s.stdout.String())
			}
			resp, err := http.Get(s.url + "/livez")
			if err != nil {
				t.Fatalf("the banner's URL does not answer: %v", err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s/livez: %d", s.url, resp.StatusCode)
			}
		})
	}
	t.Run("APP_URL", func(t *testing.T) {
		s := localBackend(t, "APP_URL=https://booking.example.com").MustStart(t)
		want := "Its public URL (APP_URL) is https://booking.example.com\n"
		poll.EventuallyNil(t, 10*time.Second, "the banner to show APP_URL", func() error {
			if out := s.stdout.String(); !strings.Contains(out, want) {
				return fmt.Errorf("the output so far:\n%s", out)
			}
			return nil
		})
	})
}

var protoactorLine = regexp.MustCompile(`(?m)\t(DEBUG|INFO)\tprotoactor\t`)

// A start and stop at the default level shows Staylock's own lines, not
// protoactor's narration; LOG_LEVEL=debug shows it, through the same logger.
func TestServe_ProtoactorLogsOnlyAtDebug(t *testing.T) {
	run := func(t *testing.T, level string) string {
		s := localBackend(t, "LOG_LEVEL="+level).MustStart(t)
		if code := s.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d\n%s", code, s.stderr.String())
		}
		return s.stderr.String()
	}
	t.Run("info", func(t *testing.T) {
		logs := run(t, "info")
		if m := protoactorLine.FindAllString(logs, -1); len(m) > 0 {
			t.Errorf("%d protoactor info lines at the default level:\n%s", len(m), logs)
		}
		if !strings.Contains(logs, "staylock serving") {
			t.Errorf("our own info lines are missing:\n%s", logs)
		}
	})
	t.Run("debug", func(t *testing.T) {
		if logs := run(t, "debug"); !protoactorLine.MatchString(logs) {
			t.Errorf("no protoactor line at LOG_LEVEL=debug:\n%s", logs)
		}
	})
}

// RATE_LIMIT is enforced per key: in one process, and with REDIS_URL in
// Redis.
func TestServe_RateLimitIsEnforced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"in process", false}, {"redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"RATE_LIMIT=0.001", "RATE_LIMIT_BURST=2"}
			if tc.redis {
				env = append(env, "REDIS_URL="+redistest.DB(t))
			}
			b := localBackend(t, env...)
			key := b.MustCreateKey(t, "acme", "viewer")
			s := b.MustStart(t)
			c := newClient(s.url, key)
			for range 2 {
				c.MustDo(t, "GET", "/v1/properties", nil, http.StatusOK, nil)
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.url+"/v1/properties", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("third request within RATE_LIMIT_BURST=2: status %d, want 429", resp.StatusCode)
			}
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
				t.Errorf("Retry-After %q, want a positive number of seconds", resp.Header.Get("Retry-After"))
			}
			if resp.Header.Get("RateLimit-Limit") != "2" {
				t.Errorf("RateLimit-Limit %q, want 2", resp.Header.Get("RateLimit-Limit"))
			}
		})
	}
}

// What a first run leaves on disk is the service user's alone.
func TestServe_StorageIsPrivate(t *testing.T) {
	b := localBackend(t)
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	newClient(s.url, key).MustDo(t, "PUT", "/v1/properties/p1",
		map[string]string{"name": "Hotel One", "timezone": "Europe/Berlin", "currency": "EUR"}, http.StatusCreated, nil)
	storage := strings.TrimPrefix(b.env[0], "STORAGE_PATH=")
	for name, want := range map[string]os.FileMode{
		"":                0o700,
		"app.key":         0o600,
		"staylock.db":     0o600,
		"staylock.db-wal": 0o600,
		"staylock.db-shm": 0o600,
	} {
		fi, err := os.Stat(filepath.Join(storage, name))
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("STORAGE_PATH/%s has mode %#o, want %#o", name, got, want)
		}
	}
}
