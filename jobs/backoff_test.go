package jobs_test

import (
	"testing"
	"time"

	"github.com/staylock/staylock/jobs"
)

// TestBackoffDoublesWithJitter: each retry waits about twice the previous
// one, within ±20 %, and never more than an hour.
func TestBackoffDoublesWithJitter(t *testing.T) {
	base := time.Second
	for attempt := 1; attempt <= 8; attempt++ {
		want := base << (attempt - 1)
		lo, hi := time.Duration(float64(want)*0.8), time.Duration(float64(want)*1.2)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := jobs.Backoff(base, attempt)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct waits in 50: no jitter", attempt, len(seen))
		}
	}
	if d := jobs.Backoff(time.Minute, 40); d > 72*time.Minute {
		t.Errorf("attempt 40 waits %v, more than the hour cap", d)
	}
}
