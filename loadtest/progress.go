package loadtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// barTick is how often the terminal bar is redrawn.
const barTick = 250 * time.Millisecond

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress shows the load's progress on out until ctx ends; the
// returned function waits for the last update.
func startProgress(ctx context.Context, cfg Config, rec *recorder, out io.Writer) (wait func()) {
	mode := cfg.Progress
	if mode == ProgressAuto {
		mode = ProgressPlain
		if isTerminal(out) {
			mode = ProgressBar
		}
	}
	var wg sync.WaitGroup
	switch mode {
	case ProgressBar:
		wg.Go(func() { runBar(ctx, cfg, rec, out) })
	case ProgressPlain:
		wg.Go(func() { runPlain(ctx, cfg, rec, out) })
	}
	return wg.Wait
}

// status is one progress line: elapsed, operations, rate, errors, p99.
func status(elapsed time.Duration, l live, interval time.Duration) string {
	rate := float64(l.windowOps) / interval.Seconds()
	return fmt.Sprintf("%5.1fs  ops %d  %.0f/s  bookings %d  errors %d  p99 %s",
		elapsed.Seconds(), l.ops, rate, l.bookings, l.errors, Millis(l.windowP99))
}

func runPlain(ctx context.Context, cfg Config, rec *recorder, out io.Writer) {
	t := time.NewTicker(cfg.ProgressInterval)
	defer t.Stop()
	last := rec.start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fmt.Fprintln(out, status(now.Sub(rec.start), rec.tick(), now.Sub(last)))
			last = now
		}
	}
}

func runBar(ctx context.Context, cfg Config, rec *recorder, out io.Writer) {
	steps := int64(cfg.Duration / barTick)
	bar := progressbar.NewOptions64(steps,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(24),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
	)
	t := time.NewTicker(barTick)
	defer t.Stop()
	// The p99 shown is over the last second, so that it does not flicker.
	var shown string
	last, lastWindow := rec.start, rec.start
	var acc live
	for {
		select {
		case <-ctx.Done():
			_ = bar.Finish()
			fmt.Fprintln(out)
			return
		case now := <-t.C:
			_ = bar.Set64(min(int64(now.Sub(rec.start)/barTick), steps))
			if now.Sub(lastWindow) >= time.Second || shown == "" {
				acc = rec.tick()
				shown = status(now.Sub(rec.start), acc, now.Sub(last))
				last, lastWindow = now, now
			}
			bar.Describe(shown)
		}
	}
}
