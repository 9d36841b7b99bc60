package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/persistence/pgtest"
)

// binary is the staylock binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "staylock-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "staylock")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build staylock: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "--- stderr:\n" + r.stderr
}

// lines splits output into lines without the trailing empty one.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// env is one environment for the binary: nothing is inherited but PATH, so
// the developer's own settings cannot leak into a test.
type env map[string]string

// staylock runs the binary in dir (a temporary folder when empty) with
// exactly the variables of e and returns what happened.
func staylock(t *testing.T, dir string, e env, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run staylock %v: %v", args, err)
	}
	return r
}

// MustRun runs staylock and fails the test unless it exits 0.
func MustRun(t *testing.T, e env, args ...string) result {
	t.Helper()
	r := staylock(t, "", e, args...)
	if r.code != 0 {
		t.Fatalf("staylock %s: %v", strings.Join(args, " "), r)
	}
	return r
}

var keyLine = regexp.MustCompile(`^sl_[0-9A-Za-z]{43}$`)

// createKey runs `keys create` and checks the output contract: the key
// alone on the last line of stdout, printed once. It returns key and id.
func createKey(t *testing.T, e env, args ...string) (secret, id string, r result) {
	t.Helper()
	r = MustRun(t, e, append([]string{"keys", "create"}, args...)...)
	out := lines(r.stdout)
	if len(out) == 0 {
		t.Fatalf("keys create printed nothing on stdout: %v", r)
	}
	secret = out[len(out)-1]
	if !keyLine.MatchString(secret) {
		t.Fatalf("last stdout line %q is not a key alone: %v", secret, r)
	}
	if n := strings.Count(r.stdout+r.stderr, secret); n != 1 {
		t.Errorf("the key appears %d times in the output, want once", n)
	}
	m := regexp.MustCompile(`key_[0-9A-Za-z]{12}`).FindString(r.stderr)
	if m == "" {
		t.Fatalf("no key id in stderr: %v", r)
	}
	return secret, m, r
}

func localEnv(t *testing.T) env {
	return env{"STORAGE_PATH": filepath.Join(t.TempDir(), "storage")}
}

func TestVersion(t *testing.T) {
	r := MustRun(t, nil, "version")
	if !strings.HasPrefix(r.stdout, "staylock ") || len(lines(r.stdout)) != 1 {
		t.Errorf("version output: %v", r)
	}
}

func TestBadConfigPrintsOneLinePerProblem(t *testing.T) {
	bad := env{
		"APP_ENV":          "production",
		"APP_DEBUG":        "true",
		"APP_URL":          "http://book.example.com",
		"CLUSTER_PROVIDER": "seeds",
		"IDEMPOTENCY_TTL":  "1h",
	}
	want := []string{"APP_DEBUG", "APP_URL", "APP_KEY", "DB_URL", "REDIS_URL", "CLUSTER_SEEDS", "IDEMPOTENCY_TTL"}
	for _, args := range [][]string{{"serve"}, {"keys", "list"}, {"migrate", "status"}, {"keys", "create", "--tenant", "t", "--role", "admin"}, {"config"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := staylock(t, "", bad, args...)
			if r.code == 0 {
				t.Fatalf("exit 0 with a bad configuration: %v", r)
			}
			if r.stdout != "" {
				t.Errorf("stdout should be empty: %v", r)
			}
			got := lines(r.stderr)
			if len(got) != len(want) {
				t.Errorf("got %d lines, want %d: %v", len(got), len(want), r)
			}
			for i, v := range want {
				if i < len(got) && !strings.HasPrefix(got[i], v+": ") {
					t.Errorf("line %d = %q, want it to name %s", i+1, got[i], v)
				}
			}
		})
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	t.Run("unknown --set names the setting", func(t *testing.T) {
		r := staylock(t, "", nil, "--set", "HTTP_ADRR=:1", "config")
		if r.code == 0 || strings.TrimSpace(r.stderr) != "HTTP_ADRR: unknown setting" {
			t.Errorf("%v", r)
		}
	})
	t.Run("malformed --set is a usage error", func(t *testing.T) {
		r := staylock(t, "", nil, "--set", "HTTP_ADDR", "config")
		if r.code != 2 || !strings.Contains(r.stderr, "want KEY=VALUE") {
			t.Errorf("%v", r)
		}
	})
	t.Run("flags win over environment and .env", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("HTTP_ADDR=:9090\nLOG_LEVEL=debug\nMAX_BATCH=7\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := staylock(t, dir, env{"LOG_LEVEL": "warn"}, "--http-addr", "127.0.0.1:7070", "--set", "MAX_BATCH=9", "config")
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		for _, want := range []string{"HTTP_ADDR=127.0.0.1:7070", "LOG_LEVEL=warn", "MAX_BATCH=9"} {
			if !slices.Contains(lines(r.stdout), want) {
				t.Errorf("config lacks %s:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("config masks secrets", func(t *testing.T) {
		secret := strings.Repeat("s", 40)
		r := MustRun(t, env{"APP_KEY": secret, "MAIL_PASSWORD": "hunter2", "DB_URL": "postgres://u:dbpw@db/x"}, "config")
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "hunter2") || strings.Contains(r.stdout, "dbpw") {
			t.Errorf("secret printed:\n%s", r.stdout)
		}
	})
}

func TestKeysOnEmbeddedDatabase(t *testing.T) {
	e := localEnv(t)
	storage := e["STORAGE_PATH"]

	secret, id, r := createKey(t, e, "--tenant", "acme", "--role", "admin", "--name", "Ops team")
	if !strings.Contains(r.stderr, "created tenant acme") {
		t.Errorf("a new tenant should be announced: %v", r)
	}
	if fi, err := os.Stat(filepath.Join(storage, "app.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("local APP_KEY not stored with mode 0600: %v", err)
	}

	_, id2, r := createKey(t, e, "--tenant", "acme", "--role", "viewer")
	if strings.Contains(r.stderr, "created tenant") {
		t.Errorf("tenant acme was created twice: %v", r)
	}
	_, id3, _ := createKey(t, e, "--tenant", "other", "--role", "channel")

	r = MustRun(t, e, "keys", "list")
	if strings.Contains(r.stdout, secret) {
		t.Fatal("keys list shows a secret")
	}
	out := lines(r.stdout)
	if len(out) != 4 || !strings.HasPrefix(out[0], "ID") {
		t.Fatalf("want a header and 3 keys: %v", r)
	}
	for _, want := range [][]string{{id, "acme", "admin", "Ops team", "active"}, {id2, "acme", "viewer"}, {id3, "other", "channel"}} {
		if !slices.ContainsFunc(out, func(l string) bool { return containsAll(l, want...) }) {
			t.Errorf("no line with %q in:\n%s", want, r.stdout)
		}
	}

	r = MustRun(t, e, "keys", "list", "--json", "--tenant", "acme")
	var listed []struct {
		ID, Tenant, Role, Name string
		RevokedAt              *time.Time `json:"revoked_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("keys list --json --tenant acme: %v: %v", err, r)
	}

	r = MustRun(t, e, "keys", "revoke", id)
	if !strings.Contains(r.stdout, id) {
		t.Errorf("revoke output: %v", r)
	}
	r = MustRun(t, e, "keys", "list")
	if !slices.ContainsFunc(lines(r.stdout), func(l string) bool { return containsAll(l, id, "revoked") }) {
		t.Errorf("revoked key not shown as revoked:\n%s", r.stdout)
	}

	r = staylock(t, "", e, "keys", "revoke", id)
	if r.code != 1 || !containsAll(r.stderr, id, "already revoked at", "nothing changed") {
		t.Errorf("revoke twice: %v", r)
	}
	r = staylock(t, "", e, "keys", "revoke", "key_doesnotexist")
	if r.code != 1 || !strings.Contains(r.stderr, "no API key with id") {
		t.Errorf("revoke unknown id: %v", r)
	}
}

func TestKeysCreateRefusesBadInput(t *testing.T) {
	e := localEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"--tenant", "acme", "--role", "owner"}, "--role"},
		{"bad tenant id", []string{"--tenant", "Acme Corp", "--role", "admin"}, "--tenant"},
		{"missing tenant", []string{"--role", "admin"}, "tenant"},
		{"missing role", []string{"--tenant", "acme"}, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := staylock(t, "", e, append([]string{"keys", "create"}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || keyLine.MatchString(strings.TrimSpace(r.stdout)) {
				t.Errorf("%v", r)
			}
		})
	}
}

func TestDotEnvInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "from-dotenv")
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("STORAGE_PATH="+storage+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := staylock(t, dir, nil, "keys", "create", "--tenant", "acme", "--role", "admin")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	if _, err := os.Stat(filepath.Join(storage, "app.key")); err != nil {
		t.Errorf("STORAGE_PATH from .env not used: %v", err)
	}
}

// migrationCounts reads "N migration(s), M pending" from migrate status.
func migrationCounts(t *testing.T, r result) (total, pending int) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(\d+) migration\(s\), (\d+) pending$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no summary line in migrate status: %v", r)
	}
	total, _ = strconv.Atoi(m[1])
	pending, _ = strconv.Atoi(m[2])
	return total, pending
}

func TestMigrateOnEmbeddedDatabase(t *testing.T) {
	e := localEnv(t)
	total, pending := migrationCounts(t, MustRun(t, e, "migrate", "status"))
	if total == 0 || pending != total {
		t.Fatalf("fresh database: %d migrations, %d pending; want all pending", total, pending)
	}
	r := MustRun(t, e, "migrate", "up") // no --force needed in local
	if !strings.Contains(r.stdout, "applied "+strconv.Itoa(total)+" migration") {
		t.Errorf("migrate up: %v", r)
	}
	r = MustRun(t, e, "migrate", "status")
	if _, pending := migrationCounts(t, r); pending != 0 {
		t.Errorf("after up: %v", r)
	}
	if strings.Contains(r.stdout, "pending\t") || strings.Count(r.stdout, "applied") < total {
		t.Errorf("every migration should show applied:\n%s", r.stdout)
	}
	if r := MustRun(t, e, "migrate", "up"); !strings.Contains(r.stdout, "up to date") {
		t.Errorf("second up: %v", r)
	}
	MustRun(t, e, "migrate", "down")
	if _, pending := migrationCounts(t, MustRun(t, e, "migrate", "status")); pending != 1 {
		t.Errorf("after down: %d pending, want 1", pending)
	}
	// In local every other command applies pending migrations itself.
	r = MustRun(t, e, "keys", "list")
	if !strings.Contains(r.stderr, "applied 1 pending migration") {
		t.Errorf("keys list in local should apply the pending migration: %v", r)
	}
	if _, pending := migrationCounts(t, MustRun(t, e, "migrate", "status")); pending != 0 {
		t.Errorf("after keys list: %d pending", pending)
	}
}

func TestPostgresOutsideLocalNeedsForce(t *testing.T) {
	e := env{
		"APP_ENV":      "staging",
		"APP_URL":      "https://staging.example.com",
		"APP_KEY":      "base64:" + strings.Repeat("QUJD", 11),
		"DB_URL":       pgtest.NewDatabase(t),
		"STORAGE_PATH": t.TempDir(),
	}

	r := staylock(t, "", e, "keys", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "staylock migrate up --force") {
		t.Fatalf("a schema that is behind must be refused outside local: %v", r)
	}
	for _, sub := range []string{"up", "down"} {
		r = staylock(t, "", e, "migrate", sub)
		if r.code != 2 || !strings.Contains(r.stderr, "without --force") {
			t.Errorf("migrate %s without --force: %v", sub, r)
		}
	}
	total, pending := migrationCounts(t, MustRun(t, e, "migrate", "status"))
	if total == 0 || pending != total {
		t.Fatalf("fresh Postgres database: %d/%d pending", pending, total)
	}

	MustRun(t, e, "migrate", "up", "--force")
	if _, pending := migrationCounts(t, MustRun(t, e, "migrate", "status")); pending != 0 {
		t.Errorf("after up --force: %d pending", pending)
	}

	secret, id, _ := createKey(t, e, "--tenant", "acme", "--role", "channel", "--name", "Booking.com")
	r = MustRun(t, e, "keys", "list")
	if !containsAll(r.stdout, id, "acme", "channel", "Booking.com", "active") || strings.Contains(r.stdout, secret) {
		t.Errorf("keys list on Postgres:\n%s", r.stdout)
	}
	MustRun(t, e, "keys", "revoke", id)
	if r := MustRun(t, e, "keys", "list"); !containsAll(r.stdout, id, "revoked") {
		t.Errorf("after revoke:\n%s", r.stdout)
	}

	MustRun(t, e, "migrate", "down", "--force")
	if _, pending := migrationCounts(t, MustRun(t, e, "migrate", "status")); pending != 1 {
		t.Errorf("after down --force: %d pending, want 1", pending)
	}
	if _, err := os.Stat(filepath.Join(e["STORAGE_PATH"], "app.key")); !os.IsNotExist(err) {
		t.Errorf("app.key must only be generated in local")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// configLine returns the value `config` printed for variable v.
func configLine(t *testing.T, r result, v string) string {
	t.Helper()
	for _, l := range lines(r.stdout) {
		if val, ok := strings.CutPrefix(l, v+"="); ok {
			return val
		}
	}
	t.Fatalf("config printed no %s line:\n%s", v, r.stdout)
	return ""
}

// In local the signing key comes from STORAGE_PATH/app.key: `config` says
// so instead of printing an empty APP_KEY.
func TestConfigShowsWhereAppKeyComesFrom(t *testing.T) {
	e := localEnv(t)
	keyFile := filepath.Join(e["STORAGE_PATH"], "app.key")

	r := MustRun(t, e, "config")
	if got, want := configLine(t, r, "APP_KEY"), "(not set: generated into "+keyFile+" at first use)"; got != want {
		t.Errorf("before any command made the key: APP_KEY=%q, want %q", got, want)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config must not create the key file: %v", err)
	}

	createKey(t, e, "--tenant", "acme", "--role", "admin")
	r = MustRun(t, e, "config")
	if got, want := configLine(t, r, "APP_KEY"), "(generated, "+keyFile+")"; got != want {
		t.Errorf("after keys create: APP_KEY=%q, want %q", got, want)
	}

	secret := strings.Repeat("s", 40)
	e["APP_KEY"] = secret
	r = MustRun(t, e, "config")
	if got := configLine(t, r, "APP_KEY"); got != "(set, masked)" {
		t.Errorf("with APP_KEY set: APP_KEY=%q, want (set, masked)", got)
	}
	if strings.Contains(r.stdout, secret) {
		t.Errorf("the key is printed:\n%s", r.stdout)
	}
}

// TestDownRefusesBadFlags: `down` says what to fix and changes nothing;
// `down` then `up` on the embedded store with no node running succeed.
func TestDownRefusesBadFlags(t *testing.T) {
	e := localEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"down", "--retry", "0"}, "--retry 0: want seconds from 1 to 86400"},
		{[]string{"down", "--secret", "short"}, "--secret: at least 16 characters"},
		{[]string{"down", "--message", strings.Repeat("x", 501)}, "--message: at most 500 characters"},
	} {
		if r := staylock(t, "", e, tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %v", tc.args[:2], r)
		}
	}
	if r := MustRun(t, e, "down", "--retry", "30"); !strings.Contains(r.stdout, "maintenance mode is on (Retry-After 30 s) on every live node") {
		t.Errorf("down: %v", r)
	}
	if r := MustRun(t, e, "up"); !strings.Contains(r.stdout, "maintenance mode is off on every live node") {
		t.Errorf("up: %v", r)
	}
}
