// Package poll is how tests wait for what happens in the background: a
// condition is tried at short, growing intervals until it holds or a
// deadline passes, and a test that gives up says what it waited for.
package poll

import (
	"testing"
	"time"
)

// The wait between two tries starts at firstInterval and doubles up to
// maxInterval: a condition that holds at once costs little, and one that
// takes seconds (a process starting, a job queue) is not tried in a spin.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Until tries cond until it returns true or within has passed, and reports
// whether it held. cond is tried at least once, and once more at the
// deadline. For waits whose end is not a failure (a load that runs a
// while); Eventually is the one that fails.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	wait := firstInterval
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, maxInterval)
	}
}

// Eventually tries cond until it returns true; when within passes first
// it fails t (FailNow) naming what it waited for. Call it from the test's
// goroutine.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(within, cond) {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}

// EventuallyNil tries try until it returns nil; when within passes first
// it fails t (FailNow) naming what it waited for and try's last error,
// which should say how far things got. Call it from the test's goroutine.
func EventuallyNil(t testing.TB, within time.Duration, what string, try func() error) {
	t.Helper()
	var last error
	if !Until(within, func() bool { last = try(); return last == nil }) {
		t.Fatalf("timed out after %s waiting for %s: %v", within, what, last)
	}
}
