package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/staylock/staylock/internal/poll"
)

const (
	rotationOld = "APP_KEY=base64:c3RheWxvY2stZTJlLWNsdXN0ZXItdGVzdC1rZXktMzJieXRlcw=="
	rotationNew = "base64:bmV3LXN0YXlsb2NrLWtleS1mb3Itcm90YXRpb24tdGVzdHM="
)

// TestRotation_FourStepsUnderTrafficRefuseNothing walks the runbook's key
// rotation over two nodes with rolling restarts: deploy with both, switch,
// redeploy, remove the old. Clients mint stream tokens on one node and open
// the stream with them on the other the whole time; not one is refused.
func TestRotation_FourStepsUnderTrafficRefuseNothing(t *testing.T) {
	tc := MustStartCluster(t, "seeds", 2)
	if !slices.Contains(tc.env, rotationOld) {
		t.Fatalf("the cluster's APP_KEY changed: %v", tc.env)
	}
	mustSetUpHotel(t, tc.client(0), []string{"dlx"}, 5)

	var used, refused atomic.Int64
	var down atomic.Int32 // the node being restarted, -1 for none (read by the clients)
	down.Store(-1)
	urls := []string{tc.nodes[0].url, tc.nodes[1].url}
	var mu sync.Mutex
	var refusals []string
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				mint, use := urls[(w+i)%2], urls[(w+i+1)%2]
				if d := down.Load(); d >= 0 {
					// One node is restarting: mint and use on the other
					// (that still tests its own keys against each other).
					mint, use = urls[1-d], urls[1-d]
				}
				status, body, err := newClient(mint, tc.key).do(ctx, "POST", "/v1/stream-tokens", nil)
				if err != nil || status != http.StatusCreated {
					continue // the node went away meanwhile: not a verification
				}
				var tok struct{ Token string }
				if json.Unmarshal(body, &tok) != nil || tok.Token == "" {
					t.Errorf("token answer %s", body)
					return
				}
				ws, resp, err := dialStream(use, "?token="+tok.Token, nil)
				switch {
				case err == nil:
					used.Add(1)
					_ = ws.Close()
				case resp != nil && resp.StatusCode == http.StatusUnauthorized:
					refused.Add(1)
					mu.Lock()
					refusals = append(refusals, mint+" → "+use)
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitUsed := func(n int64) {
		t.Helper()
		target := used.Load() + n
		poll.EventuallyNil(t, 30*time.Second, fmt.Sprintf("%d more tokens used", n), func() error {
			if got := used.Load(); got < target {
				return fmt.Errorf("%d used, want %d", got, target)
			}
			return nil
		})
	}
	rolling := func(step string, keys ...string) {
		t.Helper()
		var env []string
		for _, e := range tc.env {
			if !strings.HasPrefix(e, "APP_KEY=") && !strings.HasPrefix(e, "APP_KEY_NEXT=") {
				env = append(env, e)
			}
		}
		tc.env = append(env, keys...)
		for _, nd := range tc.nodes {
			down.Store(int32(nd.i))
			if code := nd.srv.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("%s: node %d exit %d", step, nd.i, code)
			}
			nd.srv = nil
			waitUsed(20)
			tc.start(nd)
			tc.MustConverge()
			down.Store(-1)
			waitUsed(20)
		}
		t.Logf("%s: %d tokens used, %d refused so far", step, used.Load(), refused.Load())
	}
	waitUsed(50)
	old := strings.TrimPrefix(rotationOld, "APP_KEY=")
	rolling("1 deploy with both", "APP_KEY="+old, "APP_KEY_NEXT="+rotationNew)
	rolling("2 switch", "APP_KEY="+rotationNew, "APP_KEY_NEXT="+old)
	rolling("3 redeploy", "APP_KEY="+rotationNew, "APP_KEY_NEXT="+old)
	rolling("4 remove the old", "APP_KEY="+rotationNew)
	stop()
	wg.Wait()
	if refused.Load() != 0 {
		t.Fatalf("%d of %d stream tokens refused during the rotation: %v", refused.Load(), used.Load()+refused.Load(), refusals[:min(len(refusals), 10)])
	}
}
