package loadtest

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// KeyEnv is the environment variable read when --key is not given.
const KeyEnv = "STAYLOCK_KEY"

// NewCommand is the `staylock loadtest` subcommand. Its RunE returns an
// error (so the process exits non-zero) when the audit finds a problem, a
// threshold is breached, a target is refused or the server cannot be
// loaded; errors wrapping ErrConfig or ErrRemoteTarget are usage errors.
func NewCommand(stdout io.Writer) *cobra.Command {
	var (
		cfg          Config
		rate         string
		maxErrorRate string
		seed         uint64
	)
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Load a running server through its API, then audit what it acknowledged",
		Long: `Load a running Staylock server (or several, round robin) through the public HTTP API,
measure latency with HDR histograms, and audit the result: availability and every
reservation are read back, and oversold nights, acknowledged-but-missing bookings
and duplicate effects of one idempotency key must all be 0.

Scenarios:
  hot      every client races for one room type and the same few nights
  spread   many properties and room types (1,000 by default), realistic stays
  burst    a flash sale (open loop, --burst-attempts within --burst-window on a room
           type with --burst-rooms rooms) over a background load; exactly the free
           rooms must sell
  channel  a channel manager: pushes of up to 8 bookings, retries with the same
           Idempotency-Key, --duplicate-rate of deliveries sent twice, modifications
           and cancellations
  mixed    bookings (some over two room types), availability reads, modifications
           and cancellations
  dashboard --subscribers K WebSocket clients (GET /v1/stream) watch the
           properties that --dashboard-load (hot or spread) books: the snapshot
           and every delta's chain are checked (gaps, drops by close code), and
           commit→delta latency is bounded from above (from the booking's send)
           and from below (from its 201)

--ledger-out FILE keeps what the load acknowledged; --audit-ledger FILE later runs
the same audit against another server without loading it (the backup drill audits
a restored copy this way).

Closed loop (--clients N) waits for each answer; open loop (--rate R) starts
operations at a constant rate and times them from their intended start, so a slow
server cannot hide latency. Only loopback targets are allowed without --allow-remote.

Example:
  staylock loadtest --setup --key $KEY --scenario spread --clients 64 --duration 20s \
    --max-p99 20ms --max-error-rate 0 --json out.json --html out.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Key == "" {
				cfg.Key = os.Getenv(KeyEnv)
			}
			var err error
			if cfg.Rate, err = parseRate(rate); err != nil {
				return fmt.Errorf("%w: --rate: %v", ErrConfig, err)
			}
			if cfg.MaxErrorRate, err = parseErrorRate(maxErrorRate); err != nil {
				return fmt.Errorf("%w: --max-error-rate: %v", ErrConfig, err)
			}
			cfg.Seed = seed
			cfg.Targets = splitList(cfg.Targets)
			cfg.PropertyIDs = splitList(cfg.PropertyIDs)
			cfg.AuditLedgers = splitList(cfg.AuditLedgers)
			_, err = Run(cmd.Context(), cfg, stdout)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&cfg.Targets, "url", nil, "target base URL; repeat or separate by commas for round robin (default "+DefaultTarget+")")
	f.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow targets outside the loopback range")
	f.StringVar(&cfg.Key, "key", "", "API key (admin for --setup, else channel); default $"+KeyEnv)
	f.StringVar(&cfg.Scenario, "scenario", "hot", "scenario: "+strings.Join(Scenarios(), ", "))
	f.IntVar(&cfg.Clients, "clients", 16, "closed-loop clients")
	f.StringVar(&rate, "rate", "", "open loop: operations per second, e.g. 500 or 500/s (overrides --clients)")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the load phase")
	f.Uint64Var(&seed, "seed", 1, "random seed of the load's choices")
	f.BoolVar(&cfg.Setup, "setup", false, "create the scenario's own properties and room types (admin key)")
	f.IntVar(&cfg.Layout.Properties, "properties", 0, "--setup: properties (default: the scenario's)")
	f.IntVar(&cfg.Layout.RoomTypes, "room-types", 0, "--setup: room types in all, spread over the properties (default: the scenario's)")
	f.IntVar(&cfg.Layout.Rooms, "rooms", 0, "--setup: rooms of each room type (default: the scenario's)")
	f.IntVar(&cfg.Layout.Nights, "nights", 0, "length of the booking window in nights, from tomorrow (default: the scenario's)")
	f.StringVar(&cfg.Prefix, "prefix", "", "--setup: prefix of the created ids, idempotency keys and external refs (default random)")
	f.StringArrayVar(&cfg.PropertyIDs, "property", nil, "without --setup: existing property to load (repeatable); all its room types are used")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "timeout of one HTTP attempt")
	f.IntVar(&cfg.Retries, "retries", 3, "retries after a timeout, transport error or 5xx, with the same Idempotency-Key (-1: none)")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "connections per target (default 2×clients, or 512 open loop)")
	f.Float64Var(&cfg.DuplicateRate, "duplicate-rate", 0.2, "channel: share of bookings delivered twice under the same key")
	f.IntVar(&cfg.Burst.Attempts, "burst-attempts", 10000, "burst: bookings in the flash sale")
	f.IntVar(&cfg.Burst.Rooms, "burst-rooms", 500, "burst: rooms of the flash room type (--setup)")
	f.DurationVar(&cfg.Burst.Window, "burst-window", time.Second, "burst: the flash sale's arrivals spread over this long")
	f.DurationVar(&cfg.Burst.At, "burst-at", 0, "burst: when the flash sale starts (default a quarter of --duration)")
	f.IntVar(&cfg.Subscribers, "subscribers", 100, "dashboard: WebSocket subscribers")
	f.StringVar(&cfg.DashboardLoad, "dashboard-load", "hot", "dashboard: the load that books meanwhile: hot or spread")
	f.DurationVar(&cfg.MaxP99, "max-p99", 0, "fail when the p99 of all operations is above this (0: no limit)")
	f.StringVar(&maxErrorRate, "max-error-rate", "", "fail when the share of failed operations is above this, e.g. 0, 0.001 or 0.1% (default no limit)")
	f.BoolVar(&cfg.SkipAudit, "no-audit", false, "skip the audit")
	f.StringVar(&cfg.LedgerOut, "ledger-out", "", "write what the load acknowledged (JSON) to this file, for a later --audit-ledger")
	f.StringArrayVar(&cfg.AuditLedgers, "audit-ledger", nil, "no load: audit the targets against this --ledger-out file (repeatable), e.g. a server restored from a backup")
	f.StringVar(&cfg.JSONFile, "json", "", "write the report as JSON to this file")
	f.StringVar(&cfg.HTMLFile, "html", "", "write a self-contained HTML report to this file")
	f.StringVar(&cfg.Progress, "progress", ProgressAuto, "progress: auto (a bar on a terminal, else lines), bar, plain or none")
	return cmd
}

// parseRate reads "500", "500/s" or "30000/m"; "" is 0 (closed loop).
func parseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	per := 1.0
	if n, unit, ok := strings.Cut(s, "/"); ok {
		s = n
		switch unit {
		case "s":
		case "m":
			per = 60
		default:
			return 0, fmt.Errorf("%q: want R, R/s or R/m", unit)
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a rate", s)
	}
	return v / per, nil
}

// parseErrorRate reads "0", "0.001" or "0.1%"; "" is nil (no limit).
func parseErrorRate(s string) (*float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	div := 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, div = t, 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v/div > 1 {
		return nil, fmt.Errorf("%q: want a share between 0 and 1, or a percentage", s)
	}
	return ErrorRate(v / div), nil
}

// splitList splits comma-separated values of repeatable flags.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
