// Package config builds Staylock's one typed Config from the environment, a
// `.env` file in development and command-line overrides, and validates it
// with messages that name the variable at fault.
//
// Precedence, highest first: overrides (flags) > the process environment >
// `.env` (read only when APP_ENV is local) > defaults. Load has no side
// effects; EnsureLocalAppKey is the one function that writes (the generated
// development key under STORAGE_PATH).
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// Environments (APP_ENV).
const (
	EnvLocal      = "local"
	EnvStaging    = "staging"
	EnvProduction = "production"
)

// Cluster providers (CLUSTER_PROVIDER).
const (
	ClusterLocal = "local"
	ClusterSeeds = "seeds"
	ClusterEtcd  = "etcd"
	ClusterK8s   = "k8s"
)

// Mailers (MAIL_MAILER).
const (
	MailerSMTP = "smtp"
	MailerLog  = "log"
)

// MinKeyBytes is the shortest accepted APP_KEY / APP_KEY_NEXT, in bytes
// (after decoding the "base64:" form).
const MinKeyBytes = 32

// MinIdempotencyTTL is the shortest accepted IDEMPOTENCY_TTL
// (persistence.MinIdempotencyTTL).
const MinIdempotencyTTL = 24 * time.Hour

// Config is every setting of one Staylock process. Build it with Load; it is
// a plain value, and nothing reads the environment after start-up.
//
// A default that a package has too (its Options' zero value) is that
// package's constant: config imports nothing of ours, so its envDefault
// tags repeat the values, and cmd/staylock's
// TestConfigDefaultsAreThePackagesDefaults holds each pair equal.
type Config struct {
	Env   string `env:"APP_ENV" envDefault:"local"`
	Debug bool   `env:"APP_DEBUG" envDefault:"false"`
	// URL is the public base URL.
	URL string `env:"APP_URL" envDefault:"http://localhost:8080"`
	// Key signs stream tokens; Key and KeyNext (during a rotation) verify
	// them: see SigningKey and VerifyKeys. Webhooks are signed with each
	// endpoint's own secret, not with these. Either is raw text of at
	// least 32 bytes or "base64:…".
	Key     string `env:"APP_KEY"`
	KeyNext string `env:"APP_KEY_NEXT"`

	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8080"`
	StoragePath string `env:"STORAGE_PATH" envDefault:"./storage"`
	// DBURL is a postgres:// URL; empty means embedded SQLite in StoragePath;
	// memory:// keeps nothing (benchmarks only, refused in production).
	DBURL string `env:"DB_URL"`
	// RedisURL is a redis:// or rediss:// URL; empty means an in-process bus.
	RedisURL string `env:"REDIS_URL"`

	Mail Mail
	Jobs Jobs

	// CORSAllowedOrigins defaults to the origin of URL.
	CORSAllowedOrigins []string `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`

	ClusterProvider string   `env:"CLUSTER_PROVIDER" envDefault:"local"`
	ClusterBind     string   `env:"CLUSTER_BIND" envDefault:"127.0.0.1:0"`
	ClusterSeeds    []string `env:"CLUSTER_SEEDS" envSeparator:","`
	EtcdEndpoints   []string `env:"ETCD_ENDPOINTS" envSeparator:","`

	// IdempotencyTTL is how long idempotency records are kept (>= 24h).
	IdempotencyTTL time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"72h"`
	// BodyLimit is the largest accepted request body in bytes.
	BodyLimit ByteSize `env:"BODY_LIMIT" envDefault:"1048576"`
	// RateLimit is requests per second per API key; 0 turns it off.
	RateLimit float64 `env:"RATE_LIMIT" envDefault:"0"`
	// RateLimitBurst is how many requests a key may send at once after a
	// quiet spell; 0 means one second's worth (RATE_LIMIT rounded up, at
	// least 1). Load fills it in when RATE_LIMIT is on.
	RateLimitBurst int `env:"RATE_LIMIT_BURST" envDefault:"0"`
	// SnapshotEvery is how many journal events an actor writes between snapshots.
	SnapshotEvery int `env:"SNAPSHOT_EVERY" envDefault:"500"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// GroupCommit lets actors commit batches while deciding the next one
	// (a benchmark switch: off means one transaction per request).
	GroupCommit bool `env:"GROUP_COMMIT" envDefault:"true"`
	// MaxBatch is the most requests one actor commits in one transaction.
	MaxBatch int `env:"MAX_BATCH" envDefault:"256"`
	// CommitJoin is the most room types' batches a node joins into one
	// transaction (1: each room type commits alone, a benchmark switch).
	CommitJoin int `env:"COMMIT_JOIN" envDefault:"64"`
	// CommitSlots is the most of those transactions a node has in flight.
	CommitSlots int `env:"COMMIT_SLOTS" envDefault:"2"`
	// ActorIdleTimeout passivates a room type's actor nobody asked anything
	// for this long (it keeps no holds); the next request reactivates it
	// from its snapshot and journal.
	ActorIdleTimeout time.Duration `env:"ACTOR_IDLE_TIMEOUT" envDefault:"10m"`
	// PprofAddr, when set, serves net/http/pprof on this address (keep it on
	// loopback: profiles reveal internals). Empty = off.
	PprofAddr string `env:"PPROF_ADDR"`
	// MetricsAddr, when set, is where `worker` and `scheduler` serve
	// /metrics and /livez (serve has them on HTTP_ADDR). Empty = off.
	MetricsAddr string `env:"METRICS_ADDR"`
	// AdminTenant is the operators' tenant: its admin keys open the job UI
	// at /admin/jobs (every tenant's jobs). Empty = no job UI.
	AdminTenant string `env:"ADMIN_TENANT"`
}

// Mail configures outgoing email.
type Mail struct {
	// Mailer is smtp, or log (writes .eml files under STORAGE_PATH/mail).
	Mailer      string `env:"MAIL_MAILER" envDefault:"log"`
	Host        string `env:"MAIL_HOST"`
	Port        int    `env:"MAIL_PORT"`
	Username    string `env:"MAIL_USERNAME"`
	Password    string `env:"MAIL_PASSWORD"`
	FromAddress string `env:"MAIL_FROM_ADDRESS"`
	// Encryption is starttls (required), tls (implicit, port 465),
	// opportunistic or none (a relay on this host, tests).
	Encryption string `env:"MAIL_ENCRYPTION" envDefault:"starttls"`
}

// From is the mails' From address (staylock@localhost when unset, for the
// log mailer).
func (m Mail) From() string {
	if m.FromAddress != "" {
		return m.FromAddress
	}
	return "staylock@localhost"
}

// Jobs configures the job queue (workers, scheduler, the embedded node).
type Jobs struct {
	// Concurrency is how many emails one process sends at once.
	Concurrency int `env:"JOB_CONCURRENCY" envDefault:"10"`
	// MailMaxAttempts is how often an email is tried before it is discarded.
	MailMaxAttempts int `env:"MAIL_MAX_ATTEMPTS" envDefault:"10"`
	// Timeout bounds one attempt; RescueAfter (longer) is when the leading
	// scheduler retries a job whose worker died.
	Timeout     time.Duration `env:"JOB_TIMEOUT" envDefault:"1m"`
	RescueAfter time.Duration `env:"JOB_RESCUE_AFTER" envDefault:"10m"`
	// PurgeEvery is the period of the idempotency purge.
	PurgeEvery time.Duration `env:"JOB_PURGE_EVERY" envDefault:"1h"`
	// SweepEvery is the period of the backstop sweep of overdue holds.
	SweepEvery time.Duration `env:"JOB_SWEEP_EVERY" envDefault:"1m"`
	// PruneEvery is the period of the history pruning; HistoryKeepDays is
	// how many past nights the actors keep in their state (the
	// reservations table keeps everything).
	PruneEvery      time.Duration `env:"JOB_PRUNE_EVERY" envDefault:"24h"`
	HistoryKeepDays int           `env:"HISTORY_KEEP_DAYS" envDefault:"30"`
	// ReportTo receives the occupancy report every ReportEvery (off when
	// empty).
	ReportTo    string        `env:"OCCUPANCY_REPORT_TO"`
	ReportEvery time.Duration `env:"JOB_REPORT_EVERY" envDefault:"24h"`
	// WebhookMaxAttempts is how often a webhook delivery is tried before it
	// is discarded; RetryBase is the wait before a delivery's first retry
	// (doubling with each attempt, ±20 % jitter, at most an hour; emails
	// keep River's own retry schedule); WebhookTimeout bounds one attempt.
	WebhookMaxAttempts int           `env:"WEBHOOK_MAX_ATTEMPTS" envDefault:"8"`
	RetryBase          time.Duration `env:"JOB_RETRY_BASE" envDefault:"10s"`
	WebhookTimeout     time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"10s"`
	// PollInterval is how often workers look for jobs without a
	// notification; 0 is River's default (1 s; 200 ms on SQLite).
	PollInterval time.Duration `env:"JOB_POLL_INTERVAL" envDefault:"0s"`
}

func (j Jobs) validate() []Problem {
	var ps []Problem
	add := func(v, format string, args ...any) {
		ps = append(ps, Problem{Var: v, Message: fmt.Sprintf(format, args...)})
	}
	if j.Concurrency < 1 || j.Concurrency > 1000 {
		add("JOB_CONCURRENCY", "must be from 1 to 1000, not %d", j.Concurrency)
	}
	if j.MailMaxAttempts < 1 || j.MailMaxAttempts > 100 {
		add("MAIL_MAX_ATTEMPTS", "must be from 1 to 100, not %d", j.MailMaxAttempts)
	}
	if j.Timeout < time.Second {
		add("JOB_TIMEOUT", "must be at least 1s, not %s", j.Timeout)
	}
	if j.RescueAfter <= j.Timeout {
		add("JOB_RESCUE_AFTER", "must be longer than JOB_TIMEOUT (%s), not %s", j.Timeout, j.RescueAfter)
	}
	if j.SweepEvery < time.Second {
		add("JOB_SWEEP_EVERY", "must be at least 1s, not %s", j.SweepEvery)
	}
	if j.PruneEvery < time.Second {
		add("JOB_PRUNE_EVERY", "must be at least 1s, not %s", j.PruneEvery)
	}
	if j.HistoryKeepDays < 2 || j.HistoryKeepDays > 3650 {
		add("HISTORY_KEEP_DAYS", "must be from 2 to 3650 days (past nights kept in the actors' state), not %d", j.HistoryKeepDays)
	}
	if j.ReportEvery < time.Second {
		add("JOB_REPORT_EVERY", "must be at least 1s, not %s", j.ReportEvery)
	}
	if j.ReportTo != "" {
		if a, err := mail.ParseAddress(j.ReportTo); err != nil || a.Name != "" {
			add("OCCUPANCY_REPORT_TO", "must be one email address (a list's address for several people), not %q", j.ReportTo)
		}
	}
	if j.PurgeEvery < time.Second {
		add("JOB_PURGE_EVERY", "must be at least 1s, not %s", j.PurgeEvery)
	}
	if j.WebhookMaxAttempts < 1 || j.WebhookMaxAttempts > 100 {
		add("WEBHOOK_MAX_ATTEMPTS", "must be from 1 to 100, not %d", j.WebhookMaxAttempts)
	}
	if j.RetryBase < 10*time.Millisecond || j.RetryBase > time.Hour {
		add("JOB_RETRY_BASE", "must be from 10ms to 1h, not %s", j.RetryBase)
	}
	if j.WebhookTimeout < time.Second || j.WebhookTimeout > 5*time.Minute {
		add("WEBHOOK_TIMEOUT", "must be from 1s to 5m, not %s", j.WebhookTimeout)
	}
	if j.PollInterval < 0 {
		add("JOB_POLL_INTERVAL", "must not be negative, not %s", j.PollInterval)
	}
	return ps
}

// removedVars are settings Staylock no longer reads, with what to tell an
// operator whose configuration still sets them. A setting either works or
// is refused: silently ignoring one would let a file promise what the
// process does not do.
var removedVars = map[string]string{
	"SESSION_SECURE_COOKIE": "removed: Staylock sets no cookies, so this setting never did anything; delete it from the configuration",
}

// LoadOptions says where Load reads from. The zero value reads the process
// environment and ./.env.
type LoadOptions struct {
	// Environ is a list of KEY=VALUE; nil means os.Environ().
	Environ []string
	// DotEnvDir holds the .env file; empty means the working directory.
	DotEnvDir string
	// NoDotEnv skips the .env file altogether.
	NoDotEnv bool
	// Overrides (from flags) win over everything else. Keys are variable
	// names such as HTTP_ADDR; an unknown name is a problem.
	Overrides map[string]string
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	Var     string // the variable at fault, e.g. APP_URL
	Message string
}

func (p Problem) String() string { return p.Var + ": " + p.Message }

// ValidationError lists every problem found; its Error is one line per
// problem, each starting with the variable's name.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Lines returns one line per problem.
func (e *ValidationError) Lines() []string {
	return strings.Split(e.Error(), "\n")
}

// Problems returns the problems of err when it is (or wraps) a
// *ValidationError, else nil.
func Problems(err error) []Problem {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

// Vars lists every variable Config reads, in declaration order.
func Vars() []string {
	var out []string
	walkFields(reflect.TypeFor[Config](), func(key string, _ reflect.StructField) {
		out = append(out, key)
	})
	return out
}

// Load builds and validates a Config. On any problem it returns a
// *ValidationError naming every problem at once (and the Config as far as
// it could be parsed).
func Load(opts LoadOptions) (Config, error) {
	var problems []Problem
	add := func(v, format string, args ...any) {
		problems = append(problems, Problem{Var: v, Message: fmt.Sprintf(format, args...)})
	}
	known := map[string]bool{}
	for _, v := range Vars() {
		known[v] = true
	}

	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	removed := map[string]bool{} // each removed setting is reported once
	refuse := func(k string) {
		if !removed[k] {
			removed[k] = true
			add(k, "%s", removedVars[k])
		}
	}
	process := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
		case known[k]:
			process[k] = v
		case removedVars[k] != "":
			refuse(k)
		}
	}
	overrides := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(opts.Overrides)) {
		switch {
		case known[k]:
			overrides[k] = opts.Overrides[k]
		case removedVars[k] != "":
			refuse(k)
		default:
			add(k, "unknown setting")
		}
	}

	// Decide on APP_ENV before reading .env: the file is for development only.
	appEnv := EnvLocal
	if v, ok := lookup("APP_ENV", overrides, process); ok && v != "" {
		appEnv = v
	}
	merged := map[string]string{}
	if appEnv == EnvLocal && !opts.NoDotEnv {
		dir := opts.DotEnvDir
		if dir == "" {
			dir = "."
		}
		path := filepath.Join(dir, ".env")
		dot, err := readDotEnv(path)
		if err != nil {
			add(".env", "%v", err)
		}
		for _, k := range slices.Sorted(maps.Keys(dot)) {
			v := dot[k]
			if removedVars[k] != "" {
				refuse(k)
				continue
			}
			if !known[k] {
				continue // other tools' settings may share the file
			}
			if k == "APP_ENV" && v != "" && v != EnvLocal {
				add("APP_ENV", "%q in .env is ignored: .env is read only when APP_ENV=local; set APP_ENV in the environment", v)
				continue
			}
			merged[k] = v
		}
	}
	maps.Copy(merged, process) // the real environment wins over .env
	maps.Copy(merged, overrides)

	var cfg Config
	unparsed := map[string]bool{}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: merged}); err != nil {
		for _, p := range parseProblems(err, merged) {
			unparsed[p.Var] = true
			problems = append(problems, p)
		}
	}
	cfg.normalize()
	for _, p := range cfg.validate() {
		if !unparsed[p.Var] { // one line per variable that could not be read
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return cfg, &ValidationError{Problems: problems}
	}
	return cfg, nil
}

// sortProblems orders problems by the variables' declaration order (names
// that are no variable, such as ".env", first), keeping each variable's
// problems in the order found.
func sortProblems(ps []Problem) {
	rank := map[string]int{}
	for i, v := range Vars() {
		rank[v] = i + 1
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return rank[a.Var] - rank[b.Var] })
}

func lookup(key string, ms ...map[string]string) (string, bool) {
	for _, m := range ms {
		if v, ok := m[key]; ok {
			return v, true
		}
	}
	return "", false
}

// readDotEnv reads path; a missing file is no error.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	m, err := godotenv.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// walkFields calls fn for every field of t (recursing into nested structs)
// that has an env tag.
func walkFields(t reflect.Type, fn func(key string, f reflect.StructField)) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, ok := f.Tag.Lookup("env"); ok {
			key, _, _ := strings.Cut(tag, ",")
			fn(key, f)
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			walkFields(f.Type, fn)
		}
	}
}

// parseProblems turns the env library's errors into problems naming the
// variable rather than the Go field.
func parseProblems(err error, values map[string]string) []Problem {
	byField := map[string]string{}
	kinds := map[string]string{}
	walkFields(reflect.TypeFor[Config](), func(key string, f reflect.StructField) {
		byField[f.Name] = key
		kinds[key] = describeType(f.Type)
	})
	var errs []error
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	} else {
		errs = []error{err}
	}
	var out []Problem
	for _, e := range errs {
		var pe env.ParseError
		if errors.As(e, &pe) {
			key := byField[pe.Name]
			if key == "" {
				key = pe.Name
			}
			out = append(out, Problem{Var: key, Message: fmt.Sprintf("must be %s, not %q", kinds[key], values[key])})
			continue
		}
		out = append(out, Problem{Var: "config", Message: e.Error()})
	}
	return out
}

func describeType(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 30s, 15m or 72h"
	case reflect.TypeFor[ByteSize]():
		return "a size in bytes such as 1048576 or 1MiB"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	}
	return "valid"
}

// normalize fills the defaults that depend on other settings and tidies lists.
func (c *Config) normalize() {
	c.CORSAllowedOrigins = cleanList(c.CORSAllowedOrigins)
	c.ClusterSeeds = cleanList(c.ClusterSeeds)
	c.EtcdEndpoints = cleanList(c.EtcdEndpoints)
	for i, o := range c.CORSAllowedOrigins {
		if norm, err := originOf(o, true); err == nil {
			c.CORSAllowedOrigins[i] = norm
		}
	}
	if len(c.CORSAllowedOrigins) == 0 {
		if o, err := originOf(c.URL, false); err == nil {
			c.CORSAllowedOrigins = []string{o}
		}
	}
	if c.RateLimit > 0 && c.RateLimitBurst == 0 {
		c.RateLimitBurst = max(1, int(math.Ceil(c.RateLimit)))
	}
}

func cleanList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// validate returns every problem of an already parsed Config.
func (c Config) validate() []Problem {
	var ps []Problem
	add := func(v, format string, args ...any) {
		ps = append(ps, Problem{Var: v, Message: fmt.Sprintf(format, args...)})
	}

	switch c.Env {
	case EnvLocal, EnvStaging, EnvProduction:
	default:
		add("APP_ENV", "must be local, staging or production, not %q", c.Env)
	}
	prod := c.Env == EnvProduction
	if prod && c.Debug {
		add("APP_DEBUG", "must be false when APP_ENV=production (it would show internal errors to clients)")
	}

	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("APP_URL", "must be an absolute http(s) URL such as https://hotel.example.com, not %q", c.URL)
	} else if prod && u.Scheme != "https" {
		add("APP_URL", "must be https when APP_ENV=production")
	}

	if c.Key == "" {
		if c.Env != EnvLocal {
			add("APP_KEY", "required when APP_ENV=%s (at least %d random bytes, e.g. base64:$(openssl rand -base64 32))", c.Env, MinKeyBytes)
		}
	} else if _, err := DecodeKey(c.Key); err != nil {
		add("APP_KEY", "%v", err)
	}
	if c.KeyNext != "" {
		if _, err := DecodeKey(c.KeyNext); err != nil {
			add("APP_KEY_NEXT", "%v", err)
		}
	}

	if err := checkHostPort(c.HTTPAddr, true); err != nil {
		add("HTTP_ADDR", "must be host:port such as :8080 or 127.0.0.1:8080: %v", err)
	}
	if c.PprofAddr != "" {
		if err := checkHostPort(c.PprofAddr, false); err != nil {
			add("PPROF_ADDR", "must be host:port such as 127.0.0.1:6060: %v", err)
		}
	}
	if c.MetricsAddr != "" {
		if err := checkHostPort(c.MetricsAddr, true); err != nil {
			add("METRICS_ADDR", "must be host:port such as 127.0.0.1:9101: %v", err)
		}
	}
	if strings.TrimSpace(c.StoragePath) == "" {
		add("STORAGE_PATH", "must not be empty")
	}

	switch {
	case c.DBURL == "":
	case c.MemoryStore():
		if prod {
			add("DB_URL", "memory:// keeps nothing; it is for benchmarks only and refused in production")
		}
	default:
		if u, err := url.Parse(c.DBURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("DB_URL", "must be empty (embedded SQLite) or a postgres:// or postgresql:// URL")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			add("REDIS_URL", "must be empty (in-process bus) or a redis:// or rediss:// URL")
		}
	}

	ps = append(ps, c.Mail.validate()...)
	ps = append(ps, c.Jobs.validate()...)

	for _, o := range c.CORSAllowedOrigins {
		if o == "*" {
			add("CORS_ALLOWED_ORIGINS", "\"*\" is refused: list each allowed origin, e.g. https://app.example.com")
			continue
		}
		if _, err := originOf(o, true); err != nil {
			add("CORS_ALLOWED_ORIGINS", "%q is not an origin (http(s)://host[:port], no path): %v", o, err)
		}
	}
	if len(c.CORSAllowedOrigins) == 0 {
		add("CORS_ALLOWED_ORIGINS", "no allowed origin: set it, or set a valid APP_URL")
	}

	switch c.ClusterProvider {
	case ClusterLocal, ClusterSeeds, ClusterEtcd, ClusterK8s:
	default:
		add("CLUSTER_PROVIDER", "must be local, seeds, etcd or k8s, not %q", c.ClusterProvider)
	}
	if c.ClusterProvider != ClusterLocal && c.ClusterProvider != "" {
		if c.DBURL == "" || c.MemoryStore() {
			add("DB_URL", "required (a postgres:// URL) when CLUSTER_PROVIDER=%s: cluster nodes share one database", c.ClusterProvider)
		}
		if c.RedisURL == "" {
			add("REDIS_URL", "required when CLUSTER_PROVIDER=%s: cluster nodes share one bus", c.ClusterProvider)
		}
	}
	if err := checkHostPort(c.ClusterBind, true); err != nil {
		add("CLUSTER_BIND", "must be host:port such as 127.0.0.1:0 or 10.0.0.5:6330: %v", err)
	}
	if c.ClusterProvider == ClusterSeeds && len(c.ClusterSeeds) == 0 {
		add("CLUSTER_SEEDS", "required when CLUSTER_PROVIDER=seeds (comma-separated host:port list)")
	}
	for _, s := range c.ClusterSeeds {
		if err := checkHostPort(s, false); err != nil {
			add("CLUSTER_SEEDS", "%q must be host:port: %v", s, err)
		}
	}
	if c.ClusterProvider == ClusterEtcd && len(c.EtcdEndpoints) == 0 {
		add("ETCD_ENDPOINTS", "required when CLUSTER_PROVIDER=etcd (comma-separated, e.g. http://10.0.0.2:2379)")
	}
	for _, e := range c.EtcdEndpoints {
		if !validEndpoint(e) {
			add("ETCD_ENDPOINTS", "%q must be host:port or an http(s) URL", e)
		}
	}

	if c.IdempotencyTTL < MinIdempotencyTTL {
		add("IDEMPOTENCY_TTL", "must be at least 24h, not %s", c.IdempotencyTTL)
	}
	if c.BodyLimit <= 0 {
		add("BODY_LIMIT", "must be a positive number of bytes")
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		add("RATE_LIMIT", "must be 0 (off) or a positive number of requests per second per API key")
	}
	switch {
	case c.RateLimitBurst < 0:
		add("RATE_LIMIT_BURST", "must be at least 1 (or empty: one second's worth of RATE_LIMIT)")
	case c.RateLimitBurst > 0 && c.RateLimit == 0:
		add("RATE_LIMIT_BURST", "has no effect while RATE_LIMIT is 0 (off): set RATE_LIMIT or remove RATE_LIMIT_BURST")
	}
	if c.SnapshotEvery < 1 {
		add("SNAPSHOT_EVERY", "must be at least 1")
	}
	if c.ShutdownTimeout <= 0 {
		add("SHUTDOWN_TIMEOUT", "must be a positive duration such as 30s")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("LOG_LEVEL", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.MaxBatch < 1 {
		add("MAX_BATCH", "must be at least 1")
	}
	if c.CommitJoin < 1 {
		add("COMMIT_JOIN", "must be at least 1 (1 commits each room type alone)")
	}
	if c.CommitSlots < 1 {
		add("COMMIT_SLOTS", "must be at least 1")
	}
	if c.ActorIdleTimeout < time.Second {
		add("ACTOR_IDLE_TIMEOUT", "must be a duration of at least 1s such as 10m, not %s", c.ActorIdleTimeout)
	}
	return ps
}

func (m Mail) validate() []Problem {
	var ps []Problem
	add := func(v, format string, args ...any) {
		ps = append(ps, Problem{Var: v, Message: fmt.Sprintf(format, args...)})
	}
	switch m.Mailer {
	case MailerLog:
	case MailerSMTP:
		if m.Host == "" {
			add("MAIL_HOST", "required when MAIL_MAILER=smtp")
		}
		if m.Port == 0 {
			add("MAIL_PORT", "required when MAIL_MAILER=smtp (e.g. 587)")
		}
		if m.FromAddress == "" {
			add("MAIL_FROM_ADDRESS", "required when MAIL_MAILER=smtp")
		}
	default:
		add("MAIL_MAILER", "must be smtp or log, not %q", m.Mailer)
	}
	switch m.Encryption {
	case "starttls", "tls", "opportunistic", "none":
	default:
		add("MAIL_ENCRYPTION", "must be starttls, tls, opportunistic or none, not %q", m.Encryption)
	}
	if m.Port < 0 || m.Port > 65535 {
		add("MAIL_PORT", "must be a port number from 1 to 65535, not %d", m.Port)
	}
	if m.FromAddress != "" {
		if _, err := mail.ParseAddress(m.FromAddress); err != nil {
			add("MAIL_FROM_ADDRESS", "%q is not an email address", m.FromAddress)
		}
	}
	return ps
}

// checkHostPort checks "host:port" with a numeric port; an empty host is
// allowed when emptyHost is set (":8080").
func checkHostPort(s string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" && !emptyHost {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func validEndpoint(s string) bool {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	}
	return checkHostPort(s, false) == nil
}

// originOf returns the lower-cased scheme://host[:port] of an http(s) URL.
// When strict, the URL must be an origin already (nothing after the host
// but an optional "/").
func originOf(raw string, strict bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	if strict && ((u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
		return "", errors.New("has more than scheme and host")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// DecodeKey returns the bytes of an APP_KEY-style value: "base64:<std or
// url-safe base64>" or the raw text itself. It must be at least MinKeyBytes.
func DecodeKey(s string) ([]byte, error) {
	var b []byte
	if rest, ok := strings.CutPrefix(s, "base64:"); ok {
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(rest); err == nil {
				break
			}
		}
		if err != nil {
			return nil, errors.New("the part after \"base64:\" is not valid base64")
		}
	} else {
		b = []byte(s)
	}
	if len(b) < MinKeyBytes {
		return nil, fmt.Errorf("must be at least %d bytes, got %d (generate one with: openssl rand -base64 32, and prefix it with base64:)", MinKeyBytes, len(b))
	}
	return b, nil
}

// SigningKey is the key new signatures use: APP_KEY, always. APP_KEY_NEXT
// only verifies. A rotation is four rolling deploys (docs/operations.md):
// both (APP_KEY=old, APP_KEY_NEXT=new), switch (APP_KEY=new,
// APP_KEY_NEXT=old), redeploy, remove the old. Signing with APP_KEY_NEXT as
// soon as it is set would break every rolling deploy: a token minted on an
// upgraded node would be refused by a node that does not know the new key
// yet. Nil when APP_KEY is unset (call EnsureLocalAppKey first).
func (c Config) SigningKey() []byte {
	b, _ := DecodeKey(c.Key)
	return b
}

// VerifyKeys are the keys whose signatures are accepted: APP_KEY first,
// then APP_KEY_NEXT (when set).
func (c Config) VerifyKeys() [][]byte {
	var out [][]byte
	for _, s := range []string{c.Key, c.KeyNext} {
		if s == "" {
			continue
		}
		if b, err := DecodeKey(s); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// IsLocal reports whether this is a development setup (APP_ENV=local).
func (c Config) IsLocal() bool { return c.Env == EnvLocal }

// Embedded reports whether the embedded SQLite store is used (no DB_URL).
func (c Config) Embedded() bool { return c.DBURL == "" }

// MemoryStore reports whether DB_URL=memory:// selects the non-durable
// in-memory store (benchmarks only; refused when APP_ENV=production).
func (c Config) MemoryStore() bool { return strings.EqualFold(c.DBURL, "memory://") }

// Redacted returns every setting by variable name, for logs: keys and
// passwords are masked, and passwords inside URLs too.
func (c Config) Redacted() map[string]string {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	redactURL := func(s string) string {
		if s == "" {
			return ""
		}
		u, err := url.Parse(s)
		if err != nil {
			return "[redacted: unparsable URL]"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "redacted")
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	return map[string]string{
		"APP_ENV":              c.Env,
		"APP_DEBUG":            strconv.FormatBool(c.Debug),
		"APP_URL":              c.URL,
		"APP_KEY":              secret(c.Key),
		"APP_KEY_NEXT":         secret(c.KeyNext),
		"HTTP_ADDR":            c.HTTPAddr,
		"PPROF_ADDR":           c.PprofAddr,
		"STORAGE_PATH":         c.StoragePath,
		"DB_URL":               redactURL(c.DBURL),
		"REDIS_URL":            redactURL(c.RedisURL),
		"MAIL_MAILER":          c.Mail.Mailer,
		"MAIL_HOST":            c.Mail.Host,
		"MAIL_PORT":            strconv.Itoa(c.Mail.Port),
		"MAIL_USERNAME":        c.Mail.Username,
		"MAIL_PASSWORD":        secret(c.Mail.Password),
		"MAIL_FROM_ADDRESS":    c.Mail.FromAddress,
		"MAIL_ENCRYPTION":      c.Mail.Encryption,
		"MAIL_MAX_ATTEMPTS":    strconv.Itoa(c.Jobs.MailMaxAttempts),
		"JOB_CONCURRENCY":      strconv.Itoa(c.Jobs.Concurrency),
		"JOB_TIMEOUT":          c.Jobs.Timeout.String(),
		"JOB_RESCUE_AFTER":     c.Jobs.RescueAfter.String(),
		"JOB_PURGE_EVERY":      c.Jobs.PurgeEvery.String(),
		"JOB_SWEEP_EVERY":      c.Jobs.SweepEvery.String(),
		"JOB_PRUNE_EVERY":      c.Jobs.PruneEvery.String(),
		"HISTORY_KEEP_DAYS":    strconv.Itoa(c.Jobs.HistoryKeepDays),
		"OCCUPANCY_REPORT_TO":  c.Jobs.ReportTo,
		"JOB_REPORT_EVERY":     c.Jobs.ReportEvery.String(),
		"JOB_POLL_INTERVAL":    c.Jobs.PollInterval.String(),
		"WEBHOOK_MAX_ATTEMPTS": strconv.Itoa(c.Jobs.WebhookMaxAttempts),
		"JOB_RETRY_BASE":       c.Jobs.RetryBase.String(),
		"WEBHOOK_TIMEOUT":      c.Jobs.WebhookTimeout.String(),
		"CORS_ALLOWED_ORIGINS": strings.Join(c.CORSAllowedOrigins, ","),
		"CLUSTER_PROVIDER":     c.ClusterProvider,
		"CLUSTER_BIND":         c.ClusterBind,
		"CLUSTER_SEEDS":        strings.Join(c.ClusterSeeds, ","),
		"ETCD_ENDPOINTS":       strings.Join(c.EtcdEndpoints, ","),
		"IDEMPOTENCY_TTL":      c.IdempotencyTTL.String(),
		"BODY_LIMIT":           strconv.FormatInt(int64(c.BodyLimit), 10),
		"RATE_LIMIT":           strconv.FormatFloat(c.RateLimit, 'g', -1, 64),
		"RATE_LIMIT_BURST":     strconv.Itoa(c.RateLimitBurst),
		"SNAPSHOT_EVERY":       strconv.Itoa(c.SnapshotEvery),
		"SHUTDOWN_TIMEOUT":     c.ShutdownTimeout.String(),
		"LOG_LEVEL":            c.LogLevel,
		"GROUP_COMMIT":         strconv.FormatBool(c.GroupCommit),
		"MAX_BATCH":            strconv.Itoa(c.MaxBatch),
		"COMMIT_JOIN":          strconv.Itoa(c.CommitJoin),
		"COMMIT_SLOTS":         strconv.Itoa(c.CommitSlots),
		"ACTOR_IDLE_TIMEOUT":   c.ActorIdleTimeout.String(),
		"METRICS_ADDR":         c.MetricsAddr,
		"ADMIN_TENANT":         c.AdminTenant,
	}
}
