package config_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/config"
)

// A 32-byte key in both accepted forms.
var (
	rawKey = strings.Repeat("k", 32)
	b64Key = "base64:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32)))
)

// load runs config.Load on exactly the given variables (no process
// environment) and, when dotenv is not empty, a .env file with that text.
func load(t *testing.T, vars map[string]string, dotenv string) (config.Config, error) {
	t.Helper()
	dir := t.TempDir()
	if dotenv != "" {
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	environ := []string{}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return config.Load(config.LoadOptions{Environ: environ, DotEnvDir: dir})
}

// MustLoad loads and fails the test on any problem.
func MustLoad(t *testing.T, vars map[string]string, dotenv string) config.Config {
	t.Helper()
	cfg, err := load(t, vars, dotenv)
	if err != nil {
		t.Fatalf("Load: unexpected problems:\n%v", err)
	}
	return cfg
}

// production is a complete, valid production setup; cases change one thing.
func production() map[string]string {
	return map[string]string{
		"APP_ENV":   "production",
		"APP_URL":   "https://book.example.com",
		"APP_KEY":   b64Key,
		"DB_URL":    "postgres://staylock:secret@db:5432/staylock?sslmode=require",
		"REDIS_URL": "redis://:pw@cache:6379/0",
	}
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestLoadDefaults(t *testing.T) {
	cfg := MustLoad(t, nil, "")
	want := config.Config{
		Env:         "local",
		Debug:       false,
		URL:         "http://localhost:8080",
		HTTPAddr:    ":8080",
		StoragePath: "./storage",
		Mail:        config.Mail{Mailer: "log", Encryption: "starttls"},
		Jobs: config.Jobs{Concurrency: 10, MailMaxAttempts: 10, Timeout: time.Minute, RescueAfter: 10 * time.Minute,
			PurgeEvery: time.Hour, SweepEvery: time.Minute, PruneEvery: 24 * time.Hour, HistoryKeepDays: 30, ReportEvery: 24 * time.Hour, WebhookMaxAttempts: 8, RetryBase: 10 * time.Second, WebhookTimeout: 10 * time.Second},
		CORSAllowedOrigins: []string{"http://localhost:8080"},
		ClusterProvider:    "local",
		ClusterBind:        "127.0.0.1:0",
		IdempotencyTTL:     72 * time.Hour,
		BodyLimit:          1 << 20,
		RateLimit:          0,
		SnapshotEvery:      500,
		ShutdownTimeout:    30 * time.Second,
		LogLevel:           "info",
		GroupCommit:        true,
		MaxBatch:           256,
		ActorIdleTimeout:   10 * time.Minute,
		CommitJoin:         64,
		CommitSlots:        2,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if !cfg.IsLocal() || !cfg.Embedded() {
		t.Errorf("IsLocal=%v Embedded=%v, want both true", cfg.IsLocal(), cfg.Embedded())
	}
}

func TestLoadValidSetups(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, c config.Config)
	}{
		{"production complete", production(), func(t *testing.T, c config.Config) {
			if !slices.Equal(c.CORSAllowedOrigins, []string{"https://book.example.com"}) {
				t.Errorf("CORS default = %v, want APP_URL's origin", c.CORSAllowedOrigins)
			}
		}},
		{"staging needs no https", with(production(), "APP_ENV", "staging", "APP_URL", "http://staging.internal:8080", "APP_DEBUG", "true"), nil},
		{"raw text key", with(production(), "APP_KEY", rawKey), nil},
		{"url-safe base64 key without padding", with(production(), "APP_KEY", "base64:"+base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32)))), nil},
		{"postgresql scheme and rediss", with(production(), "DB_URL", "postgresql://db/x", "REDIS_URL", "rediss://cache:6380"), nil},
		{"memory store in local", map[string]string{"DB_URL": "memory://"}, func(t *testing.T, c config.Config) {
			if !c.MemoryStore() || c.Embedded() {
				t.Errorf("DB_URL=memory://: MemoryStore=%v Embedded=%v, want true, false", c.MemoryStore(), c.Embedded())
			}
		}},
		{"memory store in staging", with(production(), "APP_ENV", "staging", "DB_URL", "memory://"), nil},
		{"embedded local with debug", map[string]string{"APP_DEBUG": "true"}, func(t *testing.T, c config.Config) {
			if !c.Debug {
				t.Error("APP_DEBUG=true not read")
			}
		}},
		{"cors list trimmed and lower-cased", map[string]string{"CORS_ALLOWED_ORIGINS": " https://A.example.com/ , http://b.example.com:8080,"}, func(t *testing.T, c config.Config) {
			want := []string{"https://a.example.com", "http://b.example.com:8080"}
			if !slices.Equal(c.CORSAllowedOrigins, want) {
				t.Errorf("CORS = %q, want %q", c.CORSAllowedOrigins, want)
			}
		}},
		{"cors default from APP_URL with path", map[string]string{"APP_URL": "https://x.example.com:8443/app/"}, func(t *testing.T, c config.Config) {
			if !slices.Equal(c.CORSAllowedOrigins, []string{"https://x.example.com:8443"}) {
				t.Errorf("CORS = %q", c.CORSAllowedOrigins)
			}
		}},
		{"seeds cluster", with(production(), "CLUSTER_PROVIDER", "seeds", "CLUSTER_SEEDS", "10.0.0.1:6330, 10.0.0.2:6330"), func(t *testing.T, c config.Config) {
			if !slices.Equal(c.ClusterSeeds, []string{"10.0.0.1:6330", "10.0.0.2:6330"}) {
				t.Errorf("seeds = %q", c.ClusterSeeds)
			}
		}},
		{"etcd cluster", with(production(), "CLUSTER_PROVIDER", "etcd", "ETCD_ENDPOINTS", "http://10.0.0.2:2379,10.0.0.3:2379"), nil},
		{"k8s cluster", with(production(), "CLUSTER_PROVIDER", "k8s"), nil},
		{"smtp complete", map[string]string{"MAIL_MAILER": "smtp", "MAIL_HOST": "smtp.example.com", "MAIL_PORT": "587", "MAIL_FROM_ADDRESS": "Hotel <noreply@example.com>"}, nil},
		{"tuning", map[string]string{"IDEMPOTENCY_TTL": "24h", "BODY_LIMIT": "2MiB", "RATE_LIMIT": "12.5", "SNAPSHOT_EVERY": "10", "SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "debug", "GROUP_COMMIT": "false", "MAX_BATCH": "1", "ACTOR_IDLE_TIMEOUT": "90s", "COMMIT_JOIN": "1", "COMMIT_SLOTS": "4"}, func(t *testing.T, c config.Config) {
			if c.IdempotencyTTL != 24*time.Hour || c.BodyLimit != 2<<20 || c.RateLimit != 12.5 || c.SnapshotEvery != 10 ||
				c.ShutdownTimeout != 5*time.Second || c.LogLevel != "debug" || c.GroupCommit || c.MaxBatch != 1 || c.ActorIdleTimeout != 90*time.Second ||
				c.CommitJoin != 1 || c.CommitSlots != 4 {
				t.Errorf("tuning not read: %+v", c)
			}
		}},
		{"empty value means default", map[string]string{"HTTP_ADDR": "", "MAX_BATCH": ""}, func(t *testing.T, c config.Config) {
			if c.HTTPAddr != ":8080" || c.MaxBatch != 256 {
				t.Errorf("HTTP_ADDR=%q MAX_BATCH=%d", c.HTTPAddr, c.MaxBatch)
			}
		}},
		{"unrelated variables ignored", map[string]string{"PATH": "/bin", "HOME": "/root"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustLoad(t, tt.vars, "")
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
		wantMsg string // substring of the message
	}{
		{"unknown APP_ENV", map[string]string{"APP_ENV": "prod"}, "APP_ENV", "local, staging or production"},
		{"debug in production", with(production(), "APP_DEBUG", "true"), "APP_DEBUG", "APP_ENV=production"},
		{"APP_DEBUG not a bool", map[string]string{"APP_DEBUG": "maybe"}, "APP_DEBUG", `true or false, not "maybe"`},
		{"http APP_URL in production", with(production(), "APP_URL", "http://book.example.com"), "APP_URL", "must be https when APP_ENV=production"},
		{"relative APP_URL", map[string]string{"APP_URL": "localhost:8080"}, "APP_URL", "absolute http(s) URL"},
		{"APP_KEY missing in production", with(production(), "APP_KEY", ""), "APP_KEY", "required when APP_ENV=production"},
		{"APP_KEY missing in staging", with(production(), "APP_ENV", "staging", "APP_KEY", ""), "APP_KEY", "required when APP_ENV=staging"},
		{"APP_KEY short", map[string]string{"APP_KEY": "short"}, "APP_KEY", "at least 32 bytes, got 5"},
		{"APP_KEY base64 short", map[string]string{"APP_KEY": "base64:" + base64.StdEncoding.EncodeToString(make([]byte, 31))}, "APP_KEY", "got 31"},
		{"APP_KEY bad base64", map[string]string{"APP_KEY": "base64:!!!not base64!!!"}, "APP_KEY", "not valid base64"},
		{"APP_KEY_NEXT short", map[string]string{"APP_KEY_NEXT": "short"}, "APP_KEY_NEXT", "at least 32 bytes"},
		{"HTTP_ADDR no port", map[string]string{"HTTP_ADDR": "localhost"}, "HTTP_ADDR", "host:port"},
		{"HTTP_ADDR bad port", map[string]string{"HTTP_ADDR": ":http"}, "HTTP_ADDR", "bad port"},
		{"STORAGE_PATH blank", map[string]string{"STORAGE_PATH": "  "}, "STORAGE_PATH", "must not be empty"},
		{"DB_URL mysql", map[string]string{"DB_URL": "mysql://db/x"}, "DB_URL", "postgres://"},
		{"DB_URL not a URL", map[string]string{"DB_URL": "host=db user=x"}, "DB_URL", "postgres://"},
		{"DB_URL memory in production", with(production(), "DB_URL", "memory://"), "DB_URL", "memory:// keeps nothing; it is for benchmarks only and refused in production"},
		{"DB_URL memory in a cluster", with(production(), "APP_ENV", "staging", "CLUSTER_PROVIDER", "k8s", "DB_URL", "memory://"), "DB_URL", "required (a postgres:// URL) when CLUSTER_PROVIDER=k8s"},
		{"REDIS_URL http", map[string]string{"REDIS_URL": "http://cache:6379"}, "REDIS_URL", "redis://"},
		{"MAIL_MAILER unknown", map[string]string{"MAIL_MAILER": "sendmail"}, "MAIL_MAILER", "smtp or log"},
		{"MAIL_ENCRYPTION unknown", map[string]string{"MAIL_ENCRYPTION": "ssl"}, "MAIL_ENCRYPTION", "starttls, tls, opportunistic or none"},
		{"JOB_CONCURRENCY zero", map[string]string{"JOB_CONCURRENCY": "0"}, "JOB_CONCURRENCY", "from 1 to 1000"},
		{"MAIL_MAX_ATTEMPTS huge", map[string]string{"MAIL_MAX_ATTEMPTS": "1000"}, "MAIL_MAX_ATTEMPTS", "from 1 to 100"},
		{"JOB_RESCUE_AFTER not after the timeout", map[string]string{"JOB_TIMEOUT": "2m", "JOB_RESCUE_AFTER": "1m"}, "JOB_RESCUE_AFTER", "longer than JOB_TIMEOUT"},
		{"JOB_PURGE_EVERY too short", map[string]string{"JOB_PURGE_EVERY": "10ms"}, "JOB_PURGE_EVERY", "at least 1s"},
		{"HISTORY_KEEP_DAYS one", map[string]string{"HISTORY_KEEP_DAYS": "1"}, "HISTORY_KEEP_DAYS", "from 2 to 3650"},
		{"JOB_PRUNE_EVERY too short", map[string]string{"JOB_PRUNE_EVERY": "1ms"}, "JOB_PRUNE_EVERY", "at least 1s"},
		{"OCCUPANCY_REPORT_TO not an address", map[string]string{"OCCUPANCY_REPORT_TO": "ops at example"}, "OCCUPANCY_REPORT_TO", "one email address"},
		{"OCCUPANCY_REPORT_TO two addresses", map[string]string{"OCCUPANCY_REPORT_TO": "a@example.com, b@example.com"}, "OCCUPANCY_REPORT_TO", "one email address"},
		{"smtp without host", map[string]string{"MAIL_MAILER": "smtp", "MAIL_PORT": "25", "MAIL_FROM_ADDRESS": "a@b.c"}, "MAIL_HOST", "required when MAIL_MAILER=smtp"},
		{"smtp without port", map[string]string{"MAIL_MAILER": "smtp", "MAIL_HOST": "h", "MAIL_FROM_ADDRESS": "a@b.c"}, "MAIL_PORT", "required when MAIL_MAILER=smtp"},
		{"smtp without from", map[string]string{"MAIL_MAILER": "smtp", "MAIL_HOST": "h", "MAIL_PORT": "25"}, "MAIL_FROM_ADDRESS", "required when MAIL_MAILER=smtp"},
		{"MAIL_PORT out of range", map[string]string{"MAIL_PORT": "70000"}, "MAIL_PORT", "1 to 65535"},
		{"MAIL_PORT not a number", map[string]string{"MAIL_PORT": "smtp"}, "MAIL_PORT", `whole number, not "smtp"`},
		{"MAIL_FROM_ADDRESS invalid", map[string]string{"MAIL_FROM_ADDRESS": "nobody"}, "MAIL_FROM_ADDRESS", "not an email address"},
		{"CORS star", map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example.com,*"}, "CORS_ALLOWED_ORIGINS", `"*" is refused`},
		{"CORS with path", map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example.com/app"}, "CORS_ALLOWED_ORIGINS", "not an origin"},
		{"CORS bare host", map[string]string{"CORS_ALLOWED_ORIGINS": "a.example.com"}, "CORS_ALLOWED_ORIGINS", "not an origin"},
		{"unknown CLUSTER_PROVIDER", map[string]string{"CLUSTER_PROVIDER": "consul"}, "CLUSTER_PROVIDER", "local, seeds, etcd or k8s"},
		{"cluster without DB_URL", with(production(), "CLUSTER_PROVIDER", "k8s", "DB_URL", ""), "DB_URL", "required (a postgres:// URL) when CLUSTER_PROVIDER=k8s"},
		{"cluster without REDIS_URL", with(production(), "CLUSTER_PROVIDER", "k8s", "REDIS_URL", ""), "REDIS_URL", "required when CLUSTER_PROVIDER=k8s"},
		{"seeds without CLUSTER_SEEDS", with(production(), "CLUSTER_PROVIDER", "seeds"), "CLUSTER_SEEDS", "required when CLUSTER_PROVIDER=seeds"},
		{"seed without port", with(production(), "CLUSTER_PROVIDER", "seeds", "CLUSTER_SEEDS", "10.0.0.1"), "CLUSTER_SEEDS", "host:port"},
		{"etcd without ETCD_ENDPOINTS", with(production(), "CLUSTER_PROVIDER", "etcd"), "ETCD_ENDPOINTS", "required when CLUSTER_PROVIDER=etcd"},
		{"etcd endpoint bad", with(production(), "CLUSTER_PROVIDER", "etcd", "ETCD_ENDPOINTS", "ftp://x:1"), "ETCD_ENDPOINTS", "host:port or an http(s) URL"},
		{"CLUSTER_BIND bad", map[string]string{"CLUSTER_BIND": "0.0.0.0"}, "CLUSTER_BIND", "host:port"},
		{"IDEMPOTENCY_TTL under 24h", map[string]string{"IDEMPOTENCY_TTL": "23h59m"}, "IDEMPOTENCY_TTL", "at least 24h"},
		{"IDEMPOTENCY_TTL not a duration", map[string]string{"IDEMPOTENCY_TTL": "3 days"}, "IDEMPOTENCY_TTL", "a duration"},
		{"BODY_LIMIT zero", map[string]string{"BODY_LIMIT": "0"}, "BODY_LIMIT", "positive"},
		{"BODY_LIMIT garbage", map[string]string{"BODY_LIMIT": "lots"}, "BODY_LIMIT", `size in bytes such as 1048576 or 1MiB, not "lots"`},
		{"RATE_LIMIT negative", map[string]string{"RATE_LIMIT": "-1"}, "RATE_LIMIT", "0 (off) or a positive"},
		{"SNAPSHOT_EVERY zero", map[string]string{"SNAPSHOT_EVERY": "0"}, "SNAPSHOT_EVERY", "at least 1"},
		{"ACTOR_IDLE_TIMEOUT too short", map[string]string{"ACTOR_IDLE_TIMEOUT": "100ms"}, "ACTOR_IDLE_TIMEOUT", "at least 1s"},
		{"COMMIT_JOIN zero", map[string]string{"COMMIT_JOIN": "0"}, "COMMIT_JOIN", "at least 1"},
		{"COMMIT_SLOTS zero", map[string]string{"COMMIT_SLOTS": "0"}, "COMMIT_SLOTS", "at least 1"},
		{"SHUTDOWN_TIMEOUT zero", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT", "positive duration"},
		{"LOG_LEVEL unknown", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL", "debug, info, warn or error"},
		{"GROUP_COMMIT not a bool", map[string]string{"GROUP_COMMIT": "sometimes"}, "GROUP_COMMIT", "true or false"},
		{"MAX_BATCH zero", map[string]string{"MAX_BATCH": "0"}, "MAX_BATCH", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.vars, "")
			if err == nil {
				t.Fatalf("Load succeeded, want a problem with %s", tt.wantVar)
			}
			ps := config.Problems(err)
			if len(ps) == 0 {
				t.Fatalf("error is not a *ValidationError: %v", err)
			}
			for _, p := range ps {
				if p.Var == tt.wantVar && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("no problem %s containing %q in:\n%v", tt.wantVar, tt.wantMsg, err)
		})
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		"APP_ENV":              "production",
		"APP_DEBUG":            "true",
		"APP_URL":              "http://book.example.com",
		"HTTP_ADDR":            "nope",
		"CORS_ALLOWED_ORIGINS": "*",
		"CLUSTER_PROVIDER":     "seeds",
		"IDEMPOTENCY_TTL":      "1h",
		"MAX_BATCH":            "many",
	}, "")
	if err == nil {
		t.Fatal("Load succeeded")
	}
	wantVars := []string{"APP_DEBUG", "APP_URL", "APP_KEY", "HTTP_ADDR", "CORS_ALLOWED_ORIGINS", "DB_URL", "REDIS_URL", "CLUSTER_SEEDS", "IDEMPOTENCY_TTL", "MAX_BATCH"}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(wantVars) {
		t.Errorf("got %d lines, want %d:\n%v", len(lines), len(wantVars), err)
	}
	for _, v := range wantVars {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, v+": ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no line for %s in:\n%v", v, err)
		}
	}
	var ve *config.ValidationError
	if !asValidation(err, &ve) || len(ve.Lines()) != len(lines) {
		t.Errorf("Lines() disagrees with Error()")
	}
}

func asValidation(err error, target **config.ValidationError) bool {
	ve, ok := err.(*config.ValidationError)
	*target = ve
	return ok
}

func TestLoadDotEnv(t *testing.T) {
	t.Run("read in local", func(t *testing.T) {
		c := MustLoad(t, nil, "# comment\nHTTP_ADDR=:9090\nLOG_LEVEL=\"debug\"\nOTHER_TOOL=x\n")
		if c.HTTPAddr != ":9090" || c.LogLevel != "debug" {
			t.Errorf("HTTP_ADDR=%q LOG_LEVEL=%q, want from .env", c.HTTPAddr, c.LogLevel)
		}
	})
	t.Run("explicit APP_ENV=local reads it", func(t *testing.T) {
		c := MustLoad(t, map[string]string{"APP_ENV": "local"}, "HTTP_ADDR=:9090\n")
		if c.HTTPAddr != ":9090" {
			t.Errorf("HTTP_ADDR=%q", c.HTTPAddr)
		}
	})
	t.Run("never overrides the environment", func(t *testing.T) {
		c := MustLoad(t, map[string]string{"HTTP_ADDR": ":7070"}, "HTTP_ADDR=:9090\n")
		if c.HTTPAddr != ":7070" {
			t.Errorf("HTTP_ADDR=%q, want the environment's :7070", c.HTTPAddr)
		}
	})
	t.Run("an empty environment variable still wins", func(t *testing.T) {
		c := MustLoad(t, map[string]string{"APP_KEY": ""}, "APP_KEY="+rawKey+"\n")
		if c.Key != "" {
			t.Errorf("APP_KEY=%q, want the environment's empty value", c.Key)
		}
	})
	t.Run("ignored outside local", func(t *testing.T) {
		c := MustLoad(t, production(), "HTTP_ADDR=:9090\nAPP_DEBUG=true\n")
		if c.HTTPAddr != ":8080" || c.Debug {
			t.Errorf(".env was read in production: HTTP_ADDR=%q APP_DEBUG=%v", c.HTTPAddr, c.Debug)
		}
	})
	t.Run("APP_ENV in .env cannot leave local", func(t *testing.T) {
		_, err := load(t, nil, "APP_ENV=production\n")
		if err == nil || !strings.Contains(err.Error(), "APP_ENV: \"production\" in .env is ignored") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("malformed file is a problem", func(t *testing.T) {
		_, err := load(t, nil, "HTTP_ADDR='unterminated\n")
		if err == nil || !strings.HasPrefix(err.Error(), ".env: ") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("NoDotEnv skips it", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("HTTP_ADDR=:9090\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.LoadOptions{Environ: []string{}, DotEnvDir: dir, NoDotEnv: true})
		if err != nil || c.HTTPAddr != ":8080" {
			t.Errorf("HTTP_ADDR=%q err=%v", c.HTTPAddr, err)
		}
	})
	t.Run("missing file is fine", func(t *testing.T) {
		MustLoad(t, nil, "")
	})
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("HTTP_ADDR=:9090\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := config.LoadOptions{
		Environ:   []string{"HTTP_ADDR=:7070", "LOG_LEVEL=warn"},
		DotEnvDir: dir,
		Overrides: map[string]string{"HTTP_ADDR": "127.0.0.1:6060"},
	}
	c, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:6060" || c.LogLevel != "warn" {
		t.Errorf("HTTP_ADDR=%q LOG_LEVEL=%q", c.HTTPAddr, c.LogLevel)
	}

	t.Run("APP_ENV override decides about .env", func(t *testing.T) {
		opts := config.LoadOptions{Environ: []string{}, DotEnvDir: dir, Overrides: map[string]string{"APP_ENV": "staging", "APP_KEY": rawKey}}
		c, err := config.Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTPAddr != ":8080" {
			t.Errorf(".env read although the override says staging: HTTP_ADDR=%q", c.HTTPAddr)
		}
	})
	t.Run("unknown override is a problem", func(t *testing.T) {
		_, err := config.Load(config.LoadOptions{Environ: []string{}, DotEnvDir: dir, Overrides: map[string]string{"HTTP_ADRR": ":1"}})
		if err == nil || err.Error() != "HTTP_ADRR: unknown setting" {
			t.Errorf("err = %v", err)
		}
	})
}

func TestLoadReadsProcessEnvironmentByDefault(t *testing.T) {
	t.Setenv("HTTP_ADDR", "127.0.0.1:5050")
	t.Setenv("APP_ENV", "local")
	c, err := config.Load(config.LoadOptions{DotEnvDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:5050" {
		t.Errorf("HTTP_ADDR=%q", c.HTTPAddr)
	}
}

func TestVars(t *testing.T) {
	vars := config.Vars()
	red := MustLoad(t, nil, "").Redacted()
	if len(vars) != len(red) {
		t.Errorf("Vars has %d names, Redacted %d", len(vars), len(red))
	}
	for _, v := range vars {
		if _, ok := red[v]; !ok {
			t.Errorf("Redacted lacks %s", v)
		}
	}
	for _, v := range []string{"APP_ENV", "MAIL_PASSWORD", "ETCD_ENDPOINTS", "MAX_BATCH", "GROUP_COMMIT"} {
		if !slices.Contains(vars, v) {
			t.Errorf("Vars lacks %s", v)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := MustLoad(t, with(production(),
		"APP_KEY_NEXT", rawKey,
		"MAIL_PASSWORD", "mailpw",
		"MAIL_USERNAME", "mailer",
		"DB_URL", "postgres://staylock:dbpw@db/staylock?password=qpw&sslmode=require",
	), "")
	r := c.Redacted()
	all := strings.Join(slices.Collect(func(yield func(string) bool) {
		for _, v := range r {
			if !yield(v) {
				return
			}
		}
	}), " ")
	for _, secret := range []string{"dbpw", "qpw", "mailpw", ":pw@", rawKey, strings.TrimPrefix(b64Key, "base64:")} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q visible in Redacted: %v", secret, r)
		}
	}
	if r["APP_KEY"] != "[redacted]" || r["MAIL_PASSWORD"] != "[redacted]" {
		t.Errorf("APP_KEY=%q MAIL_PASSWORD=%q", r["APP_KEY"], r["MAIL_PASSWORD"])
	}
	if !strings.Contains(r["DB_URL"], "staylock:redacted@db/staylock") || !strings.Contains(r["DB_URL"], "sslmode=require") {
		t.Errorf("DB_URL = %q", r["DB_URL"])
	}
	if r["MAIL_USERNAME"] != "mailer" || r["APP_ENV"] != "production" || r["MAX_BATCH"] != "256" {
		t.Errorf("plain settings changed: %v", r)
	}
	if r := MustLoad(t, nil, "").Redacted(); r["APP_KEY"] != "" || r["DB_URL"] != "" {
		t.Errorf("empty secrets should stay empty: %q %q", r["APP_KEY"], r["DB_URL"])
	}
}

func TestSigningKeys(t *testing.T) {
	c := MustLoad(t, map[string]string{"APP_KEY": rawKey}, "")
	if string(c.SigningKey()) != rawKey || len(c.VerifyKeys()) != 1 {
		t.Errorf("without rotation: signing %q, verify %d keys", c.SigningKey(), len(c.VerifyKeys()))
	}
	c = MustLoad(t, map[string]string{"APP_KEY": rawKey, "APP_KEY_NEXT": b64Key}, "")
	if string(c.SigningKey()) != rawKey {
		t.Errorf("during rotation new signatures use APP_KEY until the switch, got %q", c.SigningKey())
	}
	if v := c.VerifyKeys(); len(v) != 2 || string(v[0]) != rawKey || string(v[1]) != strings.Repeat("x", 32) {
		t.Errorf("during rotation both keys must verify, got %q", v)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want config.ByteSize
		bad  bool
	}{
		{in: "1048576", want: 1 << 20},
		{in: "1MiB", want: 1 << 20},
		{in: "512 KiB", want: 512 << 10},
		{in: "2GB", want: 2e9},
		{in: "10B", want: 10},
		{in: "1.5MiB", bad: true},
		{in: "MiB", bad: true},
		{in: "99999999999GiB", bad: true},
	}
	for _, tt := range tests {
		var b config.ByteSize
		err := b.UnmarshalText([]byte(tt.in))
		if tt.bad != (err != nil) || (!tt.bad && b != tt.want) {
			t.Errorf("%q: got %d, %v", tt.in, b, err)
		}
	}
}

func TestEnsureLocalAppKey(t *testing.T) {
	t.Run("generates once, 0600, then reuses", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "storage")
		c := MustLoad(t, map[string]string{"STORAGE_PATH": dir}, "")
		if err := config.EnsureLocalAppKey(&c); err != nil {
			t.Fatal(err)
		}
		if _, err := config.DecodeKey(c.Key); err != nil || len(c.SigningKey()) != 32 {
			t.Fatalf("generated key %q: %v", c.Key, err)
		}
		fi, err := os.Stat(filepath.Join(dir, config.AppKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		c2 := MustLoad(t, map[string]string{"STORAGE_PATH": dir}, "")
		if err := config.EnsureLocalAppKey(&c2); err != nil {
			t.Fatal(err)
		}
		if c2.Key != c.Key {
			t.Errorf("second call made a new key")
		}
	})
	t.Run("racing processes agree", func(t *testing.T) {
		dir := t.TempDir()
		keys := make([]string, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				c := config.Config{Env: config.EnvLocal, StoragePath: dir}
				if err := config.EnsureLocalAppKey(&c); err != nil {
					t.Error(err)
				}
				keys[i] = c.Key
			})
		}
		wg.Wait()
		for _, k := range keys {
			if k != keys[0] || k == "" {
				t.Fatalf("keys differ: %q", keys)
			}
		}
	})
	t.Run("keeps a configured key", func(t *testing.T) {
		dir := t.TempDir()
		c := config.Config{Env: config.EnvLocal, StoragePath: dir, Key: rawKey}
		if err := config.EnsureLocalAppKey(&c); err != nil || c.Key != rawKey {
			t.Fatalf("key %q err %v", c.Key, err)
		}
		if _, err := os.Stat(filepath.Join(dir, config.AppKeyFile)); !os.IsNotExist(err) {
			t.Errorf("a key file was written although APP_KEY is set")
		}
	})
	t.Run("does nothing outside local", func(t *testing.T) {
		dir := t.TempDir()
		c := config.Config{Env: config.EnvStaging, StoragePath: dir}
		if err := config.EnsureLocalAppKey(&c); err != nil || c.Key != "" {
			t.Fatalf("key %q err %v", c.Key, err)
		}
	})
	t.Run("corrupt key file is an error", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, config.AppKeyFile), []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := config.Config{Env: config.EnvLocal, StoragePath: dir}
		if err := config.EnsureLocalAppKey(&c); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestLoadHasNoSideEffects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "storage")
	MustLoad(t, map[string]string{"STORAGE_PATH": dir}, "")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Load created STORAGE_PATH")
	}
}

func TestMemoryStoreRefusedInProduction(t *testing.T) {
	_, err := load(t, with(production(), "DB_URL", "memory://"), "")
	var ve *config.ValidationError
	if !asValidation(err, &ve) {
		t.Fatalf("Load: %v, want a *ValidationError", err)
	}
	want := "DB_URL: memory:// keeps nothing; it is for benchmarks only and refused in production"
	if !slices.Contains(ve.Lines(), want) {
		t.Fatalf("problems:\n%v\nwant the line %q", err, want)
	}
	if MustLoad(t, production(), "").MemoryStore() {
		t.Fatal("a postgres DB_URL reports the memory store")
	}
}

// SESSION_SECURE_COOKIE was accepted and did nothing (Staylock sets no
// cookies): wherever an operator still sets it, Load says it was removed.
func TestRemovedSettingIsRefused(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("Load accepted SESSION_SECURE_COOKIE, want a problem saying it was removed")
		}
		for _, p := range config.Problems(err) {
			if p.Var == "SESSION_SECURE_COOKIE" && strings.Contains(p.Message, "removed") && strings.Contains(p.Message, "no cookies") {
				return
			}
		}
		t.Errorf("no SESSION_SECURE_COOKIE problem saying it was removed in:\n%v", err)
	}
	t.Run("environment", func(t *testing.T) {
		_, err := load(t, with(production(), "SESSION_SECURE_COOKIE", "true"), "")
		check(t, err)
	})
	t.Run(".env", func(t *testing.T) {
		_, err := load(t, nil, "SESSION_SECURE_COOKIE=false\n")
		check(t, err)
	})
	t.Run("--set", func(t *testing.T) {
		_, err := config.Load(config.LoadOptions{Environ: []string{}, NoDotEnv: true,
			Overrides: map[string]string{"SESSION_SECURE_COOKIE": "true"}})
		check(t, err)
	})
	t.Run("not listed", func(t *testing.T) {
		if slices.Contains(config.Vars(), "SESSION_SECURE_COOKIE") {
			t.Error("Vars still lists SESSION_SECURE_COOKIE")
		}
		if _, ok := MustLoad(t, nil, "").Redacted()["SESSION_SECURE_COOKIE"]; ok {
			t.Error("Redacted still prints SESSION_SECURE_COOKIE")
		}
	})
}

func TestRateLimitBurst(t *testing.T) {
	tests := []struct {
		name      string
		vars      map[string]string
		wantBurst int
	}{
		{"off by default", nil, 0},
		{"one second's worth by default", map[string]string{"RATE_LIMIT": "12.5"}, 13},
		{"at least one", map[string]string{"RATE_LIMIT": "0.2"}, 1},
		{"explicit", map[string]string{"RATE_LIMIT": "5", "RATE_LIMIT_BURST": "50"}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustLoad(t, tt.vars, "")
			if c.RateLimitBurst != tt.wantBurst {
				t.Errorf("RateLimitBurst = %d, want %d", c.RateLimitBurst, tt.wantBurst)
			}
			if got := c.Redacted()["RATE_LIMIT_BURST"]; got != strconv.Itoa(tt.wantBurst) {
				t.Errorf("Redacted RATE_LIMIT_BURST = %q, want %d", got, tt.wantBurst)
			}
		})
	}
	for _, tt := range []struct {
		name    string
		vars    map[string]string
		wantMsg string
	}{
		{"negative", map[string]string{"RATE_LIMIT": "5", "RATE_LIMIT_BURST": "-1"}, "at least 1"},
		{"without a rate", map[string]string{"RATE_LIMIT_BURST": "10"}, "no effect while RATE_LIMIT is 0"},
		{"not a number", map[string]string{"RATE_LIMIT": "5", "RATE_LIMIT_BURST": "many"}, "whole number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.vars, "")
			for _, p := range config.Problems(err) {
				if p.Var == "RATE_LIMIT_BURST" && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("want a RATE_LIMIT_BURST problem containing %q, got: %v", tt.wantMsg, err)
		})
	}
}

func TestAppKeySource(t *testing.T) {
	dir := t.TempDir()
	local := MustLoad(t, map[string]string{"STORAGE_PATH": dir}, "")
	keyFile := filepath.Join(dir, config.AppKeyFile)
	if got, want := config.AppKeySource(local), "(not set: generated into "+keyFile+" at first use)"; got != want {
		t.Errorf("before the key exists: %q, want %q", got, want)
	}
	generated := local
	if err := config.EnsureLocalAppKey(&generated); err != nil {
		t.Fatal(err)
	}
	// A later command loads the same configuration: APP_KEY is empty, the
	// file is what signs.
	if got, want := config.AppKeySource(local), "(generated, "+keyFile+")"; got != want {
		t.Errorf("after generation: %q, want %q", got, want)
	}
	set := MustLoad(t, map[string]string{"STORAGE_PATH": dir, "APP_KEY": rawKey}, "")
	if got := config.AppKeySource(set); got != "(set, masked)" || strings.Contains(got, rawKey) {
		t.Errorf("set: %q, want (set, masked)", got)
	}
}
