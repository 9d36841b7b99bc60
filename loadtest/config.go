package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors that Run returns (wrapped); the command maps each to a non-zero
// exit status.
var (
	// ErrRemoteTarget: a target is not on the loopback interface and
	// AllowRemote is false. Nothing was sent.
	ErrRemoteTarget = errors.New("target is not a loopback address")
	// ErrAudit: the audit found oversold nights, acknowledged bookings that
	// are missing, or other inconsistencies.
	ErrAudit = errors.New("audit failed")
	// ErrThresholds: a --max-p99 or --max-error-rate threshold was breached.
	ErrThresholds = errors.New("threshold breached")
	// ErrConfig: the configuration is unusable.
	ErrConfig = errors.New("invalid configuration")
)

// Progress modes of Config.Progress.
const (
	ProgressAuto  = "auto"  // a bar on a terminal, plain lines otherwise
	ProgressBar   = "bar"   // always the bar
	ProgressPlain = "plain" // one line per interval
	ProgressNone  = "none"  // nothing until the final table
)

// Config is one load test. Zero values take the defaults documented on each
// field; scenario-specific defaults (layout) come from the scenario.
type Config struct {
	// Targets are base URLs (http://127.0.0.1:8080) used round robin, e.g.
	// the nodes of a cluster. Default http://127.0.0.1:8080.
	Targets []string
	// AllowRemote permits targets outside the loopback range.
	AllowRemote bool
	// Key is the bearer API key. --setup needs an admin key; otherwise a
	// channel key is enough.
	Key string

	// Scenario is one of Scenarios(). Default "hot".
	Scenario string
	// Clients is the number of closed-loop clients (each waits for its
	// answer before sending again). Default 16; ignored when Rate > 0.
	Clients int
	// Rate > 0 runs open loop: operations start at this constant rate per
	// second whatever the answers, and latency counts from the intended
	// start, so a slow server cannot hide latency (coordinated omission).
	Rate float64
	// Duration of the load phase. Default 10 s.
	Duration time.Duration
	// Seed makes the choices (room types, dates, duplicates) repeatable.
	Seed uint64

	// Setup creates the scenario's own properties and room types through
	// the API (admin key). Without it, Properties names existing ones.
	Setup bool
	// Layout of --setup; zero fields take the scenario's defaults.
	Layout Layout
	// Prefix of the ids that --setup creates and of idempotency keys and
	// external references. Default: "lt" and a random suffix.
	Prefix string
	// PropertyIDs are existing properties to load when Setup is false;
	// all their room types are used.
	PropertyIDs []string

	// Timeout bounds one HTTP attempt. Default 5 s.
	Timeout time.Duration
	// Retries is how many times an operation is retried (same idempotency
	// key) after a timeout, a transport error or a 5xx. Default 3; -1 none.
	Retries int
	// MaxConns bounds the connections per target. Default: 2×Clients
	// (closed loop) or 512 (open loop), at least 64.
	MaxConns int
	// MaxInFlight bounds the open-loop operations in flight; arrivals past
	// it are counted as errors (client_overloaded). Default 20,000.
	MaxInFlight int

	// DuplicateRate is the share of channel bookings delivered twice under
	// the same idempotency key. Default 0.2.
	DuplicateRate float64
	// Burst is the flash sale of the burst scenario.
	Burst BurstConfig
	// Subscribers is the dashboard's WebSocket subscribers. Default 100.
	Subscribers int
	// DashboardLoad is the scenario that books while the dashboard's
	// subscribers watch: "hot" (default) or "spread".
	DashboardLoad string

	// MaxP99 > 0 fails the run when the p99 of all operations exceeds it.
	MaxP99 time.Duration
	// MaxErrorRate, when set, fails the run when errors/operations exceeds
	// it (0: no error at all). See ErrorRate.
	MaxErrorRate *float64

	// SkipAudit skips reading everything back at the end.
	SkipAudit bool
	// LedgerOut, when set, receives what the load acknowledged (JSON),
	// so that AuditLedgers can audit it again later, e.g. against a
	// server restored from a backup.
	LedgerOut string
	// AuditLedgers, when set, replace the load: each of these files (from
	// LedgerOut) is audited against Targets, and nothing else is sent.
	AuditLedgers []string
	// JSONFile and HTMLFile, when set, receive the report.
	JSONFile, HTMLFile string
	// Progress is one of the Progress* modes. Default ProgressAuto.
	Progress string
	// ProgressInterval is the period of plain progress lines. Default:
	// Duration/20 between 1 s and 10 s.
	ProgressInterval time.Duration

	// HTTPClient replaces the client built from Timeout/MaxConns (tests).
	HTTPClient *http.Client
}

// Layout is what --setup creates: Properties properties holding RoomTypes
// room types in all (spread round robin), each with Rooms rooms a night.
// Nights is the length of the booking window, which starts tomorrow (UTC).
type Layout struct {
	Properties int
	RoomTypes  int
	Rooms      int
	Nights     int
}

// BurstConfig is the burst scenario's flash sale: Attempts bookings of one
// room each for the same night of a room type with Rooms rooms, spread
// evenly over Window and starting At after the load starts, over the
// background load.
type BurstConfig struct {
	Attempts int           // default 10,000
	Rooms    int           // default 500 (with --setup)
	Window   time.Duration // default 1 s
	At       time.Duration // default Duration/4
}

// ErrorRate is a *float64 for Config.MaxErrorRate.
func ErrorRate(v float64) *float64 { return &v }

// DefaultTarget is the target when none is given.
const DefaultTarget = "http://127.0.0.1:8080"

// withDefaults validates c and fills the defaults.
func (c Config) withDefaults() (Config, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(c.Targets) == 0 {
		c.Targets = []string{DefaultTarget}
	}
	targets := make([]string, 0, len(c.Targets))
	for _, t := range c.Targets {
		u, err := url.Parse(strings.TrimSpace(t))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("target %q: want http://host:port", t)
			continue
		}
		targets = append(targets, strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"))
	}
	c.Targets = targets
	if c.Scenario == "" {
		c.Scenario = "hot"
	}
	if !slices.Contains(Scenarios(), c.Scenario) {
		bad("scenario %q: want one of %s", c.Scenario, strings.Join(Scenarios(), ", "))
	}
	if c.Key == "" {
		bad("an API key is required (--key or STAYLOCK_KEY)")
	}
	if c.Rate < 0 {
		bad("rate must not be negative")
	}
	if c.Clients < 0 {
		bad("clients must not be negative")
	}
	if c.Clients == 0 {
		c.Clients = 16
	}
	if c.Duration < 0 {
		bad("duration must not be negative")
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if !c.Setup && len(c.PropertyIDs) == 0 && len(c.AuditLedgers) == 0 {
		bad("without --setup, name the properties to load with --property")
	}
	if len(c.AuditLedgers) > 0 && (c.Setup || len(c.PropertyIDs) > 0 || c.LedgerOut != "") {
		bad("--audit-ledger loads nothing: it takes no --setup, --property or --ledger-out")
	}
	if c.Layout.Properties < 0 || c.Layout.RoomTypes < 0 || c.Layout.Rooms < 0 || c.Layout.Nights < 0 {
		bad("layout counts must not be negative")
	}
	if c.Layout.Nights > 360 {
		bad("the booking window is at most 360 nights")
	}
	if c.Prefix == "" {
		c.Prefix = "lt" + randomSuffix()
	}
	if !validID(c.Prefix + "-p000") {
		bad("prefix %q: ids must match ^[a-z0-9][a-z0-9_-]{0,63}$", c.Prefix)
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 2 * c.Clients
		if c.Rate > 0 {
			c.MaxConns = 512
		}
		c.MaxConns = max(c.MaxConns, 64)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 20000
	}
	if c.MaxErrorRate != nil && (*c.MaxErrorRate < 0 || *c.MaxErrorRate > 1) {
		bad("max error rate must be between 0 and 1")
	}
	if c.DuplicateRate == 0 {
		c.DuplicateRate = 0.2
	}
	if c.DuplicateRate < 0 || c.DuplicateRate > 1 {
		bad("duplicate rate must be between 0 and 1")
	}
	if c.Burst.Attempts <= 0 {
		c.Burst.Attempts = 10000
	}
	if c.Burst.Rooms <= 0 {
		c.Burst.Rooms = 500
	}
	if c.Burst.Window <= 0 {
		c.Burst.Window = time.Second
	}
	if c.Burst.At <= 0 {
		c.Burst.At = c.Duration / 4
	}
	if c.Subscribers < 0 {
		bad("subscribers must not be negative")
	}
	if c.Subscribers == 0 {
		c.Subscribers = 100
	}
	if c.DashboardLoad == "" {
		c.DashboardLoad = "hot"
	}
	if !slices.Contains(dashboardLoads, c.DashboardLoad) {
		bad("dashboard load %q: want one of %s", c.DashboardLoad, strings.Join(dashboardLoads, ", "))
	}
	if c.Scenario == "dashboard" && c.Duration > time.Hour {
		bad("the dashboard scenario runs at most an hour")
	}
	if c.Progress == "" {
		c.Progress = ProgressAuto
	}
	if !slices.Contains([]string{ProgressAuto, ProgressBar, ProgressPlain, ProgressNone}, c.Progress) {
		bad("progress %q: want auto, bar, plain or none", c.Progress)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = min(max(c.Duration/20, time.Second), 10*time.Second)
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	if !c.AllowRemote {
		for _, t := range c.Targets {
			if !isLoopback(t) {
				return c, fmt.Errorf("%w: %s (pass --allow-remote to load a server that is not on this machine)", ErrRemoteTarget, t)
			}
		}
	}
	return c, nil
}

// isLoopback reports whether the target's host is "localhost" or a literal
// loopback address. Names are not resolved: a name that happens to resolve
// to loopback still needs --allow-remote.
func isLoopback(target string) bool {
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
