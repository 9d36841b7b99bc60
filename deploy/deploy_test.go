// Package deploy_test checks what the real tools cannot (deploy/check.sh
// runs nginx -t, systemd-analyze verify and promtool): that the deploy
// files agree with the code's defaults and keep the properties they
// promise (non-root, static, only 80/443 public, hardened units).
package deploy_test

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/joho/godotenv"
	"gopkg.in/yaml.v3"

	"github.com/staylock/staylock/config"
)

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// defaults is the Config with nothing set at all.
func defaults(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Environ: []string{}, NoDotEnv: true})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	return cfg
}

// nginxSize reads an nginx size ("1m", "512k", "1048576"): k and m are
// powers of 1024.
func nginxSize(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)([kKmMgG]?)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("nginx size %q", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	switch strings.ToLower(m[2]) {
	case "k":
		n <<= 10
	case "m":
		n <<= 20
	case "g":
		n <<= 30
	}
	return n
}

// nginxDirectives returns the arguments of every `name …;` in conf,
// comments stripped (a quoted argument may hold a ';').
func nginxDirectives(conf, name string) []string {
	var out []string
	re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(name) + `\s+((?:"[^"]*"|[^;"])*);`)
	for _, line := range strings.Split(conf, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if m := re.FindStringSubmatch(line); m != nil {
			out = append(out, strings.TrimSpace(m[1]))
		}
	}
	return out
}

func TestNginx_BodyLimitEqualsTheDefaultBodyLimit(t *testing.T) {
	conf := mustRead(t, "nginx/staylock.conf")
	sizes := nginxDirectives(conf, "client_max_body_size")
	if len(sizes) != 1 {
		t.Fatalf("want one client_max_body_size, got %q", sizes)
	}
	if got, want := nginxSize(t, sizes[0]), int64(defaults(t).BodyLimit); got != want {
		t.Errorf("nginx client_max_body_size is %d bytes, BODY_LIMIT's default is %d: change them together", got, want)
	}
}

func TestNginx_OnlyTLSAndRedirectArePublic(t *testing.T) {
	conf := mustRead(t, "nginx/staylock.conf")
	for _, l := range nginxDirectives(conf, "listen") {
		port := strings.Fields(l)[0]
		if port != "80" && port != "443" {
			t.Errorf("listen %s: only 80 and 443 may be public", l)
		}
		if port == "443" && !strings.Contains(l, "ssl") {
			t.Errorf("listen %s: 443 without ssl", l)
		}
	}
	if !regexp.MustCompile(`(?s)listen 80;.*return 301 https://\$host\$request_uri;`).MatchString(conf) {
		t.Error("the port 80 server does not redirect to https")
	}
	hsts := nginxDirectives(conf, "add_header")
	if !slices.ContainsFunc(hsts, func(h string) bool {
		return strings.HasPrefix(h, "Strict-Transport-Security") && strings.HasSuffix(h, "always")
	}) {
		t.Errorf("no `add_header Strict-Transport-Security … always`: %q", hsts)
	}
	if protos := nginxDirectives(conf, "ssl_protocols"); len(protos) != 1 || protos[0] != "TLSv1.2 TLSv1.3" {
		t.Errorf("ssl_protocols %q, want TLSv1.2 TLSv1.3", protos)
	}
	if gz := nginxDirectives(conf, "gzip_types"); len(gz) != 1 || !strings.Contains(gz[0], "application/json") {
		t.Errorf("gzip_types %q must include application/json", gz)
	}
	stream := regexp.MustCompile(`(?s)location = /v1/stream \{(.*?)\}`).FindStringSubmatch(conf)
	if stream == nil || !strings.Contains(stream[1], "Upgrade    $http_upgrade") || !strings.Contains(stream[1], "$connection_upgrade") {
		t.Error("/v1/stream does not pass the WebSocket upgrade")
	}
	if !strings.Contains(conf, "location ~ ^/(metrics|health)$ {\n        return 404;") {
		t.Error("/metrics and /health must not be public")
	}
	for _, s := range nginxDirectives(conf, "server") {
		if !strings.Contains(s, "max_fails=") || !strings.Contains(s, "fail_timeout=") {
			t.Errorf("upstream server %s: no passive health check (max_fails, fail_timeout)", s)
		}
	}
}

// dockerStage is one FROM … stage of a Dockerfile: its instructions with
// line continuations joined.
type dockerStage struct {
	from         string
	instructions []string
}

func parseDockerfile(t *testing.T, text string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		ins := strings.TrimSpace(cur.String())
		cur.Reset()
		if ins == "" {
			return
		}
		if kw, rest, _ := strings.Cut(ins, " "); strings.EqualFold(kw, "FROM") {
			stages = append(stages, dockerStage{from: strings.TrimSpace(rest)})
			return
		}
		if len(stages) == 0 {
			if kw, _, _ := strings.Cut(ins, " "); !strings.EqualFold(kw, "ARG") {
				t.Fatalf("instruction before the first FROM: %s", ins)
			}
			return
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, ins)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func (s dockerStage) get(kw string) []string {
	var out []string
	for _, ins := range s.instructions {
		if k, rest, _ := strings.Cut(ins, " "); strings.EqualFold(k, kw) {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

func TestDockerfile_NonRootStaticBinary(t *testing.T) {
	stages := parseDockerfile(t, mustRead(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", final.from)
	}
	users := final.get("USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: it would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	if uid, err := strconv.Atoi(user); err != nil || uid == 0 {
		t.Errorf("USER %s: want a numeric non-zero uid (Kubernetes' runAsNonRoot checks numbers)", users[len(users)-1])
	}
	if !slices.Contains(final.get("EXPOSE"), "8080") {
		t.Errorf("EXPOSE %q, want 8080", final.get("EXPOSE"))
	}
	hc := strings.Join(final.get("HEALTHCHECK"), " ")
	if !strings.Contains(hc, `CMD ["/usr/local/bin/staylock", "probe"`) || !strings.Contains(hc, "/readyz") {
		t.Errorf("HEALTHCHECK %q: want the exec form of `staylock probe` on /readyz (no shell in the image)", hc)
	}

	// The build line, built here with the same flags: the ELF must have no
	// interpreter and need no shared library.
	var build string
	for _, st := range stages[:len(stages)-1] {
		for _, run := range st.get("RUN") {
			if strings.Contains(run, "go build") {
				build = run
			}
		}
	}
	m := regexp.MustCompile(`CGO_ENABLED=0 go build (-trimpath) -ldflags "([^"]*)" -o \S+ (\./cmd/staylock)`).FindStringSubmatch(build)
	if m == nil {
		t.Fatalf("no `CGO_ENABLED=0 go build -trimpath -ldflags \"…\" -o … ./cmd/staylock` in the build stage: %q", build)
	}
	bin := filepath.Join(t.TempDir(), "staylock")
	ldflags := strings.ReplaceAll(m[2], "${VERSION}", "deploy-test")
	cmd := exec.Command("go", "build", m[1], "-ldflags", ldflags, "-o", bin, m[3])
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q (%v)", libs, err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "staylock deploy-test" {
		t.Errorf("the static binary's version: %q, %v (want the -X main.version of the build line)", out, err)
	}
}

// composeFile is the part of a compose file the test looks at.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		EnvFile     []string          `yaml:"env_file"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Restart     string            `yaml:"restart"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func TestCompose_PostgresRedisMigrateServeWorkerScheduler(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(mustRead(t, "compose.yaml")), &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for name, prefix := range map[string]string{"postgres": "postgres:15", "redis": "redis:7"} {
		s, ok := c.Services[name]
		switch {
		case !ok:
			t.Errorf("no %s service", name)
		case !strings.HasPrefix(s.Image, prefix):
			t.Errorf("%s image %q, want %s", name, s.Image, prefix)
		case len(s.Ports) > 0:
			t.Errorf("%s publishes %q: only the server may be reachable from the host", name, s.Ports)
		case s.Healthcheck == nil:
			t.Errorf("%s has no healthcheck (the others wait for it)", name)
		}
	}
	if pg := c.Services["postgres"]; !slices.Contains(pg.EnvFile, "postgres.env") {
		t.Errorf("postgres env_file %q: its password belongs in postgres.env", pg.EnvFile)
	}
	commands := map[string]string{"migrate": "migrate up --force", "serve": "serve", "worker": "worker", "scheduler": "scheduler"}
	for name, want := range commands {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if got := strings.Join(s.Command, " "); !strings.HasPrefix(got, want) {
			t.Errorf("%s runs %q, want %q", name, got, want)
		}
		if s.Image != "staylock:latest" || !slices.Contains(s.EnvFile, "staylock.env") {
			t.Errorf("%s: image %q, env_file %q: want staylock:latest with the secrets from staylock.env", name, s.Image, s.EnvFile)
		}
		if len(s.Environment) > 0 {
			t.Errorf("%s sets %v inline: settings and secrets belong in staylock.env", name, s.Environment)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: read_only %v, cap_drop %q: want a read-only root and no capabilities", name, s.ReadOnly, s.CapDrop)
		}
		if name == "migrate" {
			if s.Restart != "no" {
				t.Errorf("migrate restart %q: a one-shot must not restart", s.Restart)
			}
			continue
		}
		if d := s.DependsOn["migrate"]; d.Condition != "service_completed_successfully" {
			t.Errorf("%s starts before the migration succeeded (depends_on migrate: %q)", name, d.Condition)
		}
		if name != "serve" && len(s.Ports) > 0 {
			t.Errorf("%s publishes %q", name, s.Ports)
		}
	}
	serve := c.Services["serve"]
	if serve.Healthcheck == nil || !strings.Contains(strings.Join(serve.Healthcheck.Test, " "), "probe --url http://127.0.0.1:8080/readyz") {
		t.Errorf("serve's healthcheck must probe /readyz: %+v", serve.Healthcheck)
	}
	for _, p := range serve.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("serve publishes %q beyond the host's loopback: nginx on 80/443 is the public side", p)
		}
	}
	for _, dep := range []string{"postgres", "redis"} {
		if d := serve.DependsOn[dep]; d.Condition != "service_healthy" {
			t.Errorf("serve depends_on %s: %q, want service_healthy", dep, d.Condition)
		}
	}
}

// The example env file is what an operator copies: it must be a complete
// production configuration for the compose stack (placeholders aside).
func TestCompose_EnvExampleIsAValidProductionConfig(t *testing.T) {
	vars, err := godotenv.Read("staylock.env.example")
	if err != nil {
		t.Fatal(err)
	}
	environ := make([]string, 0, len(vars))
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.Load(config.LoadOptions{Environ: environ, NoDotEnv: true})
	if err != nil {
		t.Fatalf("staylock.env.example is not a valid configuration:\n%v", err)
	}
	if cfg.Env != config.EnvProduction || !strings.Contains(cfg.DBURL, "@postgres:5432/") || !strings.Contains(cfg.RedisURL, "//redis:6379") {
		t.Errorf("staylock.env.example: APP_ENV %q, DB_URL %q, REDIS_URL %q: want production on the stack's postgres and redis",
			cfg.Env, cfg.DBURL, cfg.RedisURL)
	}
	pg, err := godotenv.Read("postgres.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://" + pg["POSTGRES_USER"] + ":" + pg["POSTGRES_PASSWORD"] + "@postgres:5432/" + pg["POSTGRES_DB"] + "?"; !strings.HasPrefix(cfg.DBURL, want) {
		t.Errorf("DB_URL %q does not match postgres.env.example (%s…)", cfg.DBURL, want)
	}
	if !strings.Contains(mustRead(t, "../.gitignore"), "/deploy/*.env") {
		t.Error(".gitignore does not keep deploy/*.env (the real secrets) out of git")
	}
}

// unitFile is a systemd unit as section → key → values.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, name string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	for _, line := range strings.Split(mustRead(t, name), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q", name, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unitFile) one(section, key string) string {
	if v := u[section][key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func TestSystemd_UnitsAreHardenedAndRestart(t *testing.T) {
	units := map[string]string{
		"systemd/staylock@.service":          "serve",
		"systemd/staylock-worker@.service":   "worker",
		"systemd/staylock-scheduler.service": "scheduler",
	}
	for file, sub := range units {
		t.Run(filepath.Base(file), func(t *testing.T) {
			u := parseUnit(t, file)
			want := map[string]string{
				"User": "staylock", "Group": "staylock", "NoNewPrivileges": "true", "ProtectSystem": "strict",
				"Restart": "on-failure", "ExecStart": "/usr/local/bin/staylock " + sub + " --no-env-file",
			}
			for k, v := range want {
				if got := u.one("Service", k); got != v {
					t.Errorf("[Service] %s=%q, want %q", k, got, v)
				}
			}
			if u.one("Unit", "StartLimitIntervalSec") == "" {
				t.Error("no StartLimitIntervalSec in [Unit] (systemd ignores it in [Service])")
			}
			if u.one("Service", "StartLimitIntervalSec") != "" {
				t.Error("StartLimitIntervalSec in [Service] is ignored by systemd")
			}
			if out := u.one("Service", "StandardOutput"); out != "" && out != "journal" {
				t.Errorf("StandardOutput=%s, want journal", out)
			}
			if u.one("Install", "WantedBy") != "multi-user.target" {
				t.Error("not WantedBy=multi-user.target")
			}
		})
	}
}

func TestGrafana_DashboardPanelsQueryPrometheus(t *testing.T) {
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, "grafana/staylock.json")), &d); err != nil {
		t.Fatalf("grafana/staylock.json: %v", err)
	}
	if d.UID == "" {
		t.Error("no uid: re-imports would duplicate the dashboard")
	}
	n := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		n++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
		}
	}
	if n < 10 {
		t.Errorf("%d panels", n)
	}
}
