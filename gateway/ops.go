package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// checkTimeout bounds each readiness or health check.
const checkTimeout = 2 * time.Second

// Names of the built-in checks.
const (
	checkDatabase = "database"
	checkActors   = "actors"
)

// Check and overall statuses.
const (
	statusOK       = "ok"
	statusDegraded = "degraded"
	statusFailing  = "failing"
	statusDraining = "draining"
)

// opsHandler serves /livez, /readyz, /health and /metrics (no key needed).
type opsHandler struct {
	server  *Server
	once    sync.Once
	promhdl http.Handler
}

// checkResult is one check in /readyz and /health.
type checkResult struct {
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	// Info is what a check found (the queue: depth, oldest job, dead jobs).
	Info map[string]any `json:"info,omitempty"`
}

type opsResponse struct {
	Status   string `json:"status"`
	Version  string `json:"version,omitempty"`
	Draining bool   `json:"draining,omitempty"`
	// Maintenance is reported by /health (the dashboard's banner).
	Maintenance *maintenanceInfo       `json:"maintenance,omitempty"`
	Checks      map[string]checkResult `json:"checks,omitempty"`
}

// namedCheck is one check of /readyz and /health.
type namedCheck struct {
	name  string
	check func(ctx context.Context) error
	soft  bool // failing degrades, never fails, readiness
	// info, when set instead of check, also reports what it found.
	info func(ctx context.Context) (map[string]any, error)
}

// SetDraining makes /readyz answer 503 {"status":"draining"} while set, so a
// load balancer stops sending new requests before shutdown.
func (s *Server) SetDraining(draining bool) { s.draining.Store(draining) }

// AddSoftCheck adds a named check of a dependency the node serves without
// (the Redis bus: bookings go on, only other nodes' live deltas wait). While
// it fails the check reads "degraded" and so do /readyz's and /health's
// status, but /readyz stays 200: a Redis outage must not take every node
// out of the load balancer at once.
func (s *Server) AddSoftCheck(name string, check func(ctx context.Context) error) {
	s.addCheck(namedCheck{name: name, check: check, soft: true})
}

// AddQueueCheck adds the soft "queue" check: the jobs waiting per queue,
// the age of the oldest, the dead (discarded) ones; degraded while a job
// has waited longer than maxWait (no worker runs, or they cannot keep up).
func (s *Server) AddQueueCheck(maxWait time.Duration) {
	s.addCheck(namedCheck{name: "queue", soft: true, info: func(ctx context.Context) (map[string]any, error) {
		st, err := s.store.JobQueueStats(ctx)
		if err != nil {
			return nil, err
		}
		available, discarded, oldest := 0, 0, time.Duration(0)
		for _, n := range st.Available {
			available += n
		}
		for _, n := range st.Discarded {
			discarded += n
		}
		for _, d := range st.OldestAvailable {
			oldest = max(oldest, d)
		}
		info := map[string]any{"available": available, "oldest_available_seconds": math.Round(oldest.Seconds()*10) / 10,
			"discarded": discarded}
		if oldest > maxWait {
			return info, fmt.Errorf("a job has waited %s (more than %s): are the workers running?", oldest.Round(time.Second), maxWait)
		}
		return info, nil
	}})
}

func (s *Server) addCheck(c namedCheck) {
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	for i := range s.checks {
		if s.checks[i].name == c.name {
			s.checks[i] = c
			return
		}
	}
	s.checks = append(s.checks, c)
}

// livez: 200 while the process runs.
func (h *opsHandler) livez(c *gin.Context) {
	writeJSON(c, h.server.log, h.server.opts.Debug, http.StatusOK, opsResponse{Status: statusOK})
}

// allChecks are the built-in checks and the added ones, database first.
func (s *Server) allChecks() []namedCheck {
	s.checksMu.RLock()
	defer s.checksMu.RUnlock()
	out := []namedCheck{
		{name: checkDatabase, check: s.store.Ping},
		{name: checkActors, check: s.engine.Ready},
	}
	return append(out, s.checks...)
}

// runChecks runs every check at once, each under checkTimeout.
func (s *Server) runChecks(ctx context.Context) map[string]checkResult {
	checks := s.allChecks()
	results := make([]checkResult, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() {
			results[i] = s.runCheck(ctx, ch)
		})
	}
	wg.Wait()
	out := make(map[string]checkResult, len(checks))
	for i, ch := range checks {
		out[ch.name] = results[i]
	}
	return out
}

func (s *Server) runCheck(ctx context.Context, ch namedCheck) (res checkResult) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in check", zap.String("check", ch.name), zap.Any("panic", r), zap.Stack("stack"))
			res = checkResult{Status: statusFailing, Error: "check panicked"}
		}
		res.LatencyMS = math.Round(float64(time.Since(start).Microseconds())) / 1000
	}()
	var info map[string]any
	var err error
	if ch.info != nil {
		info, err = ch.info(ctx)
	} else {
		err = ch.check(ctx)
	}
	if err == nil {
		return checkResult{Status: statusOK, Info: info}
	}
	defer func() { res.Info = info }()
	s.log.Warn("check failing", zap.String("check", ch.name), zap.Bool("soft", ch.soft), zap.Error(err))
	res = checkResult{Status: statusFailing, Error: "error"}
	if ch.soft {
		res.Status = statusDegraded
	}
	if errors.Is(err, context.DeadlineExceeded) {
		res.Error = "timeout"
	}
	if s.opts.Debug {
		res.Error = err.Error()
	}
	return res
}

// overall is the status of a set of check results: failing when a hard
// check fails, degraded when only soft ones do.
func overall(checks map[string]checkResult) string {
	status := statusOK
	for _, r := range checks {
		switch r.Status {
		case statusFailing:
			return statusFailing
		case statusDegraded:
			status = statusDegraded
		}
	}
	return status
}

// readyz: 200 while the node can take bookings (hard checks pass; a soft
// one failing reads "degraded"), 503 with the checks otherwise, and 503
// {"status":"draining"} while draining.
func (h *opsHandler) readyz(c *gin.Context) {
	s := h.server
	if s.draining.Load() {
		writeJSON(c, s.log, s.opts.Debug, http.StatusServiceUnavailable, opsResponse{Status: statusDraining})
		return
	}
	h.writeChecks(c, opsResponse{})
}

// health: diagnostics, the checks with the version and whether the node
// drains; 503 only when failing.
func (h *opsHandler) health(c *gin.Context) {
	s := h.server
	h.writeChecks(c, opsResponse{Version: s.opts.Version, Draining: s.draining.Load(), Maintenance: s.maintenanceInfo()})
}

func (h *opsHandler) writeChecks(c *gin.Context, out opsResponse) {
	s := h.server
	out.Checks = s.runChecks(c.Request.Context())
	out.Status = overall(out.Checks)
	status := http.StatusOK
	if out.Status == statusFailing {
		status = http.StatusServiceUnavailable
	}
	writeJSON(c, s.log, s.opts.Debug, status, out)
}

// metrics: Prometheus text of Options.Registry.
func (h *opsHandler) metrics(c *gin.Context) {
	h.once.Do(func() {
		reg := h.server.opts.Registry
		h.promhdl = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	})
	h.promhdl.ServeHTTP(c.Writer, c.Request)
}
