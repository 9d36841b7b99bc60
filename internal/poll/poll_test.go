package poll_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/internal/poll"
)

func TestUntil(t *testing.T) {
	t.Run("true at once is one try", func(t *testing.T) {
		tries := 0
		if !poll.Until(time.Second, func() bool { tries++; return true }) || tries != 1 {
			t.Fatalf("held %d tries", tries)
		}
	})
	t.Run("holds once the background catches up", func(t *testing.T) {
		ready := time.Now().Add(30 * time.Millisecond)
		start := time.Now()
		if !poll.Until(5*time.Second, func() bool { return time.Now().After(ready) }) {
			t.Fatal("did not hold")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %s for a condition true after 30ms", d)
		}
	})
	t.Run("gives up at the deadline, trying once more there", func(t *testing.T) {
		start := time.Now()
		var last time.Time
		if poll.Until(60*time.Millisecond, func() bool { last = time.Now(); return false }) {
			t.Fatal("held")
		}
		if d := last.Sub(start); d < 60*time.Millisecond || d > 500*time.Millisecond {
			t.Fatalf("last try after %s, want at the 60ms deadline", d)
		}
	})
}

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyNamesWhatItAwaited(t *testing.T) {
	r := &recorder{TB: t}
	poll.Eventually(r, 20*time.Millisecond, "the moon to turn blue", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for the moon to turn blue") || !strings.Contains(r.failed, "20ms") {
		t.Fatalf("failed with %q", r.failed)
	}
	r.failed = ""
	poll.Eventually(r, time.Second, "nothing", func() bool { return true })
	if r.failed != "" {
		t.Fatalf("a condition that held failed: %q", r.failed)
	}
}

func TestEventuallyNilSaysHowFarItGot(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	poll.EventuallyNil(r, 20*time.Millisecond, "ten rows", func() error { n++; return fmt.Errorf("%d rows", min(n, 3)) })
	if !strings.Contains(r.failed, "waiting for ten rows: 3 rows") {
		t.Fatalf("failed with %q", r.failed)
	}
	r.failed = ""
	tries := 0
	poll.EventuallyNil(r, time.Second, "a second try", func() error {
		if tries++; tries < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.failed != "" || tries != 2 {
		t.Fatalf("failed with %q after %d tries", r.failed, tries)
	}
}
