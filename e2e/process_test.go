// Package e2e runs the real staylock binary as an operator would: crashes,
// restarts and loads it, and checks what survives by counting.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/staylock/staylock/persistence/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "staylock-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "staylock")
	build := exec.Command("go", "build", "-o", binary, "../cmd/staylock")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build staylock:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// backend is one way of running the server: its environment.
type backend struct {
	name string
	env  []string
}

// eachBackend runs f on the embedded SQLite default and on Postgres.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + pgtest.NewDatabase(t)}})
	})
}

func (b backend) environ() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "APP_ENV=local",
		"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=warn"}
	return append(env, b.env...)
}

// MustRunCommand runs a staylock subcommand and returns its stdout.
func (b backend) MustRunCommand(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--no-env-file")...)
	cmd.Env = b.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("staylock %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

// runCommand runs a staylock subcommand and returns its stdout and stderr
// together, and its error (non-nil on a non-zero exit).
func (b backend) runCommand(args ...string) (string, error) {
	cmd := exec.Command(binary, append(args, "--no-env-file")...)
	cmd.Env = b.environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustCreateKey returns a new key of role for tenant.
func (b backend) MustCreateKey(t *testing.T, tenant, role string) string {
	t.Helper()
	out := strings.TrimSpace(b.MustRunCommand(t, "keys", "create", "--tenant", tenant, "--role", role))
	lines := strings.Split(out, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// server is one running `staylock serve`.
type server struct {
	cmd    *exec.Cmd
	url    string
	stdout *lockedWriter // every line serve printed on stdout
	stderr *bytes.Buffer
	done   chan error
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// MustStart starts `staylock serve` and waits until it says where it listens.
func (b backend) MustStart(t *testing.T) *server {
	t.Helper()
	return b.mustStartCommand(t, listening, "serve")
}

var queueRunning = regexp.MustCompile(`staylock (?:worker|scheduler) running \((\S+)\)`)

// MustStartQueue starts `staylock worker` or `staylock scheduler` and waits
// until it runs; its url field holds its River id.
func (b backend) MustStartQueue(t *testing.T, role string, env ...string) *server {
	t.Helper()
	return backend{b.name, append(append([]string(nil), b.env...), env...)}.mustStartCommand(t, queueRunning, role)
}

// mustStartCommand starts a long-running subcommand and waits for the
// stdout line ready matches; its first group becomes the server's url.
func (b backend) mustStartCommand(t *testing.T, ready *regexp.Regexp, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--no-env-file")...)
	cmd.Env = b.environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stdout: &lockedWriter{w: &bytes.Buffer{}}, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{w: s.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = s.stdout.Write([]byte(sc.Text() + "\n"))
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	select {
	case s.url = <-urls:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("%v exited before it was ready: %v\n%s", args, err, s.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%v was not ready within 60 s\n%s", args, s.stderr.String())
	}
	return s
}

// stop sends sig and waits for the exit; it returns the exit code.
func (s *server) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit within 60 s of %v", sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// String is what was written so far (w must be a *bytes.Buffer).
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}

// client speaks the HTTP API with one key.
type client struct {
	base string
	key  string
	http *http.Client
}

func newClient(base, key string) *client {
	return &client{base: base, key: key, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// do sends a request; body may be nil. It returns status and body.
func (c *client) do(ctx context.Context, method, path string, body any, header ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// MustDo fails the test unless the answer has status want; it decodes into out.
func (c *client) MustDo(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	status, b, err := c.do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}
