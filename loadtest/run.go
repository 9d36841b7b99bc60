// Package loadtest is Staylock's load tester: it drives a running server
// (or several, round robin) through the public HTTP API only, measures
// latency with HDR histograms (open loop from the intended start, so a slow
// server cannot hide latency), and audits the result at the end: no night
// oversold, every acknowledged booking still there, booked counts equal to
// the reservations that hold them.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Run runs one load test and writes progress and the final table to out.
// The returned report is filled as far as the run got, also with an error.
// The error wraps ErrRemoteTarget or ErrConfig (nothing was sent),
// ErrAudit (the audit or the scenario found problems) or ErrThresholds;
// anything else is a failure to set up or to reach the server.
func Run(ctx context.Context, cfg Config, out io.Writer) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	if len(cfg.AuditLedgers) > 0 {
		return auditLedgers(ctx, cfg, out)
	}
	sc := newScenario(cfg)
	sc.Defaults(&cfg.Layout)
	if cfg.Layout.Nights < 10 {
		return Report{}, fmt.Errorf("%w: the booking window must be at least 10 nights", ErrConfig)
	}
	rep := Report{Scenario: cfg.Scenario, Mode: "closed", Clients: cfg.Clients, Targets: cfg.Targets, Seed: cfg.Seed,
		Prefix: cfg.Prefix, Duration: Millis(cfg.Duration), Layout: cfg.Layout}
	if cfg.Rate > 0 {
		rep.Mode, rep.Clients, rep.Rate = "open", 0, cfg.Rate
	}
	if !cfg.Setup {
		rep.Layout = Layout{}
	}
	e := newEnv(ctx, cfg)
	defer e.client.close()
	e.world.start, e.world.nights = windowStart(time.Now()), cfg.Layout.Nights

	if cfg.Setup {
		fmt.Fprintf(out, "setup: %d properties, %d room types of %d rooms (prefix %s)\n",
			cfg.Layout.Properties, cfg.Layout.RoomTypes, cfg.Layout.Rooms, cfg.Prefix)
		if err := setupWorld(ctx, e, cfg.Layout); err != nil {
			return rep, fmt.Errorf("setup: %w", err)
		}
		if err := sc.Setup(ctx, e); err != nil {
			return rep, fmt.Errorf("setup: %w", err)
		}
	} else if err := discoverWorld(ctx, e, cfg.PropertyIDs); err != nil {
		return rep, err
	}
	e.rec = newRecorder(time.Now())
	if err := sc.Prepare(ctx, e); err != nil {
		return rep, fmt.Errorf("prepare %s: %w", sc.Name(), err)
	}

	// The load phase.
	fmt.Fprintf(out, "load: %s, %s for %s against %s\n", cfg.Scenario, rep.describeLoad(), cfg.Duration, strings.Join(cfg.Targets, ", "))
	start := time.Now()
	rep.StartedAt = start.UTC()
	e.rec.start = start
	load, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	progressCtx, stopProgress := context.WithCancel(ctx)
	waitProgress := startProgress(progressCtx, cfg, e.rec, out)
	var bgErr error
	var wg sync.WaitGroup
	wg.Go(func() { bgErr = sc.Background(load, e) })
	if cfg.Rate > 0 {
		runOpen(load, e, sc)
	} else {
		runClosed(load, e, sc)
	}
	stop()
	wg.Wait()
	end := time.Now()
	stopProgress()
	waitProgress()
	e.rec.fill(&rep, end)
	sc.Finish(e, &rep)
	var errs []error
	if cfg.LedgerOut != "" {
		if err := writeLedgerFile(cfg.LedgerOut, e); err != nil {
			errs = append(errs, err)
		}
	}
	if bgErr != nil {
		errs = append(errs, fmt.Errorf("%s: %w", sc.Name(), bgErr))
	}
	switch {
	case ctx.Err() != nil:
		// Interrupted: report what was measured, without an audit.
		errs = append(errs, fmt.Errorf("interrupted: %w", ctx.Err()))
		rep.Audit.Skipped = true
	case cfg.SkipAudit:
		rep.Audit.Skipped = true
	default:
		fmt.Fprintln(out, "audit: reading availability and every reservation back …")
		rep.Audit = audit(ctx, e)
	}
	e.mu.Lock()
	rep.Problems = append([]string(nil), e.problems...)
	if e.nProblem > len(e.problems) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("… and %d more", e.nProblem-len(e.problems)))
	}
	nProblem := e.nProblem
	e.mu.Unlock()

	if n := rep.Audit.Problems() + nProblem; n > 0 {
		errs = append(errs, fmt.Errorf("%w: %d problem(s)", ErrAudit, n))
	}
	rep.Thresholds = thresholds(cfg, rep)
	for _, t := range rep.Thresholds {
		if !t.OK {
			errs = append(errs, fmt.Errorf("%w: %s %s > %s", ErrThresholds, t.Name, t.Value, t.Limit))
		}
	}
	rep.Passed = len(errs) == 0
	err = errors.Join(errs...)
	if werr := rep.WriteText(out); werr != nil {
		err = errors.Join(err, werr)
	}
	if cfg.JSONFile != "" {
		err = errors.Join(err, writeFile(cfg.JSONFile, rep.WriteJSON))
	}
	if cfg.HTMLFile != "" {
		err = errors.Join(err, writeFile(cfg.HTMLFile, rep.WriteHTML))
	}
	return rep, err
}

func thresholds(cfg Config, rep Report) []ThresholdResult {
	var out []ThresholdResult
	if cfg.MaxP99 > 0 {
		out = append(out, ThresholdResult{Name: "p99", Limit: Millis(cfg.MaxP99).String(), Value: rep.Total.P99.String(),
			OK: time.Duration(rep.Total.P99) <= cfg.MaxP99})
	}
	if m := cfg.MaxErrorRate; m != nil {
		out = append(out, ThresholdResult{Name: "error rate",
			Limit: fmt.Sprintf("%.3f%%", 100**m), Value: fmt.Sprintf("%.3f%%", 100*rep.ErrorRate),
			OK: rep.ErrorRate <= *m})
	}
	return out
}

// workerRand is worker i's random source; open-loop arrivals use their
// sequence number with the high bit set.
func workerRand(seed uint64, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, i))
}

// runClosed runs Clients loops that each wait for their answer.
func runClosed(load context.Context, e *Env, sc Scenario) {
	var wg sync.WaitGroup
	for i := range e.cfg.Clients {
		wg.Go(func() {
			w := &Worker{ID: i, Rand: workerRand(e.cfg.Seed, uint64(i))}
			for load.Err() == nil && e.ctx.Err() == nil {
				sc.Do(load, e, w)
			}
		})
	}
	wg.Wait()
}

// runOpen starts operations at a constant rate, whatever the answers; an
// arrival past MaxInFlight is counted as an error, not delayed.
func runOpen(load context.Context, e *Env, sc Scenario) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, e.cfg.MaxInFlight)
	start := e.rec.start
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := uint64(0); ; i++ {
		t := start.Add(time.Duration(float64(i) * float64(time.Second) / e.cfg.Rate))
		if d := time.Until(t); d > 0 {
			timer.Reset(d)
			select {
			case <-load.Done():
				return
			case <-timer.C:
			}
		}
		if load.Err() != nil {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			e.rec.fail(opBook, t, codeOverloaded)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			w := &Worker{ID: int(i), Rand: workerRand(e.cfg.Seed, i|1<<63), intended: t}
			sc.Do(load, e, w)
		})
	}
}
