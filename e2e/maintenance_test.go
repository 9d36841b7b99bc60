package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMaintenance_DownAndUpAcrossTwoNodes: `down` returns once both nodes of
// a cluster apply it, so the very next API call on either is 503
// maintenance with Retry-After; the bypass secret passes; /livez, /readyz
// and /health answer 200 throughout (probed by a poller the whole time);
// `up` restores both.
func TestMaintenance_DownAndUpAcrossTwoNodes(t *testing.T) {
	tc := MustStartCluster(t, "seeds", 2)
	mustSetUpHotel(t, tc.client(0), []string{"dlx"}, 5)
	admin := tc.backend(tc.nodes[0])

	var probes, failures atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, nd := range tc.nodes {
		for _, p := range []string{"/livez", "/readyz", "/health"} {
			wg.Go(func() {
				for ctx.Err() == nil {
					status, body, err := newClient(nd.url, "").do(ctx, "GET", p, nil)
					if ctx.Err() != nil {
						return
					}
					probes.Add(1)
					if err != nil || status != http.StatusOK {
						failures.Add(1)
						t.Errorf("node %d %s during maintenance: %d %s %v", nd.i, p, status, body, err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}

	out := admin.MustRunCommand(t, "down", "--retry", "45", "--secret", "operators-smoke-secret", "--message", "Upgrading: back soon")
	if !strings.Contains(out, "on every live node") {
		t.Errorf("down said %q", out)
	}
	for i := range tc.nodes {
		status, body, err := tc.client(i).do(context.Background(), "GET", "/v1/properties", nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err != nil || status != http.StatusServiceUnavailable || json.Unmarshal(body, &e) != nil || e.Error.Code != "maintenance" || e.Error.Message != "Upgrading: back soon" {
			t.Errorf("node %d right after down: %d %s %v", i, status, body, err)
		}
		if status, _, _ := tc.client(i).do(context.Background(), "GET", "/v1/properties", nil, "X-Maintenance-Bypass", "operators-smoke-secret"); status != http.StatusOK {
			t.Errorf("node %d with the bypass secret: %d", i, status)
		}
		var h struct {
			Maintenance struct {
				On         bool `json:"on"`
				RetryAfter int  `json:"retry_after"`
			} `json:"maintenance"`
		}
		newClient(tc.nodes[i].url, "").MustDo(t, "GET", "/health", nil, http.StatusOK, &h)
		if !h.Maintenance.On || h.Maintenance.RetryAfter != 45 {
			t.Errorf("node %d /health: %+v", i, h)
		}
	}

	admin.MustRunCommand(t, "up")
	for i := range tc.nodes {
		tc.client(i).MustDo(t, "GET", "/v1/properties", nil, http.StatusOK, nil)
	}
	stop()
	wg.Wait()
	if probes.Load() < 6 || failures.Load() != 0 {
		t.Errorf("%d health probes, %d failed", probes.Load(), failures.Load())
	}
}
