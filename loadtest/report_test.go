package loadtest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/staylock/staylock/loadtest"
)

// TestMillisRoundTrips: every whole-microsecond duration (what the
// histograms give) comes back from the JSON report unchanged; a float
// product alone truncates some of them by a nanosecond (133.503 ms did,
// and the report test flaked on it).
func TestMillisRoundTrips(t *testing.T) {
	for us := int64(0); us < 300_000; us++ {
		in := loadtest.Millis(time.Duration(us) * time.Microsecond)
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out loadtest.Millis
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if out != in {
			t.Fatalf("%d µs: %s came back as %d ns", us, b, time.Duration(out))
		}
	}
}
