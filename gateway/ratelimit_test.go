package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/notify/redistest"
)

// A rate so low that no token comes back during a test: a bucket admits
// exactly its burst, whatever the machine's speed.
const trickle = 0.001 // one request per 1000 s

// MustRedisClient returns a client of the test Redis, closed when the test ends.
func MustRedisClient(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func withRateLimit(o gateway.RateLimitOptions) func(*gateway.Options) {
	return func(opts *gateway.Options) { opts.RateLimit = o }
}

// get sends GET path to h with the secret as bearer key.
func get(t *testing.T, h http.Handler, path, secret string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	checkAgainstOpenAPI(t, r, w)
	return w
}

// decisions reads the counter name{label=value} of reg (0 when absent).
func decisions(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestRateLimitIsOffByDefault(t *testing.T) {
	e := newEnv(t, "sqlite")
	for i := range 100 {
		w := e.do("GET", "/v1/properties", "a-viewer", "")
		if w.Code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 (no limit configured); body %s", i+1, w.Code, w.Body.String())
		}
		if h := w.Header().Get("RateLimit-Limit"); h != "" {
			t.Fatalf("RateLimit-Limit %q sent while the limit is off", h)
		}
	}
}

// newEnv seeds its data with 4 requests of key a-admin, so a burst of at
// least 4 lets it start; the tests then use the other keys.
const seedRequests = 4

// The limit of one key: burst requests pass, the next is 429 rate_limited
// in the error shape with Retry-After and the RateLimit-* headers; other
// keys have their own buckets.
func TestRateLimitRefusesOverTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"in process", false}, {"redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := gateway.RateLimitOptions{Rate: trickle, Burst: 4}
			if tc.redis {
				o.Redis, o.Prefix = MustRedisClient(t), redistest.Prefix()
			}
			e := newEnv(t, "sqlite", withRateLimit(o))
			for i := range 4 {
				w := e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-viewer", ""))
				if got, want := w.Header().Get("RateLimit-Limit"), "4"; got != want {
					t.Errorf("request %d: RateLimit-Limit %q, want %q", i+1, got, want)
				}
				if got, want := w.Header().Get("RateLimit-Remaining"), strconv.Itoa(3-i); got != want {
					t.Errorf("request %d: RateLimit-Remaining %q, want %q", i+1, got, want)
				}
			}
			start := time.Now()
			w := e.do("GET", "/v1/properties", "a-viewer", "")
			mustError(t, w, http.StatusTooManyRequests, "rate_limited")
			retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
			// One token comes back every 1000 s.
			if err != nil || retry < 990 || retry > 1000 {
				t.Errorf("Retry-After %q, want about 1000 seconds", w.Header().Get("Retry-After"))
			}
			if got := w.Header().Get("RateLimit-Remaining"); got != "0" {
				t.Errorf("RateLimit-Remaining %q on a 429, want 0", got)
			}
			reset, err := strconv.Atoi(w.Header().Get("RateLimit-Reset"))
			if err != nil || reset < 3990 || reset > 4000 {
				t.Errorf("RateLimit-Reset %q, want about 4000 seconds (4 tokens at one per 1000 s)", w.Header().Get("RateLimit-Reset"))
			}
			if got := w.Header().Get("RateLimit-Limit"); got != "4" {
				t.Errorf("RateLimit-Limit %q on a 429, want 4", got)
			}
			// A refused request takes nothing: still refused, same wait.
			w = e.do("POST", "/v1/properties/"+property+"/holds", "a-viewer", holdJSON)
			mustError(t, w, http.StatusTooManyRequests, "rate_limited")
			if time.Since(start) < 5*time.Second {
				if r2, _ := strconv.Atoi(w.Header().Get("Retry-After")); r2 < retry-5 {
					t.Errorf("Retry-After fell from %d to %d: the refused request consumed a token", retry, r2)
				}
			}

			// Other keys, of the same tenant and of another, are not limited by it.
			e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "a-channel", ""))
			e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties", "b-viewer", ""))
			// Requests without a valid key are refused before the limiter.
			mustError(t, e.do("GET", "/v1/properties", "", ""), http.StatusUnauthorized, "unauthorized")
			// Probes are never limited.
			if w := e.do("GET", "/livez", "", ""); w.Code != http.StatusOK || w.Header().Get("RateLimit-Limit") != "" {
				t.Errorf("/livez: status %d, RateLimit-Limit %q", w.Code, w.Header().Get("RateLimit-Limit"))
			}
			if got := decisions(t, e.reg, "hotel_rate_limit_decisions_total", "outcome", "limited"); got != 2 {
				t.Errorf("hotel_rate_limit_decisions_total{outcome=limited} = %v, want 2", got)
			}
		})
	}
}

// Two gateways (two nodes) sharing one Redis share each key's bucket: what
// they admit together stays within burst + rate × elapsed.
func TestRateLimitHoldsAcrossGatewaysSharingRedis(t *testing.T) {
	client, prefix := MustRedisClient(t), redistest.Prefix()
	t.Run("exact burst", func(t *testing.T) {
		o := gateway.RateLimitOptions{Rate: trickle, Burst: seedRequests + 1, Redis: client, Prefix: prefix + "exact:"}
		admitted := runTwoGateways(t, o, 40, 0)
		if admitted != seedRequests+1 {
			t.Errorf("two gateways admitted %d requests of one key, want exactly its burst %d", admitted, seedRequests+1)
		}
	})
	t.Run("over time", func(t *testing.T) {
		const rate, burst = 20.0, 5
		o := gateway.RateLimitOptions{Rate: rate, Burst: burst, Redis: client, Prefix: prefix + "timed:"}
		start := time.Now()
		admitted := runTwoGateways(t, o, 400, 2*time.Millisecond)
		elapsed := time.Since(start)
		limit := burst + int(rate*elapsed.Seconds()) + 1
		if admitted > limit {
			t.Errorf("two gateways admitted %d requests in %v, over burst + rate × elapsed = %d", admitted, elapsed, limit)
		}
		if admitted < burst {
			t.Errorf("admitted %d, fewer than the burst %d", admitted, burst)
		}
	})
}

// runTwoGateways builds two gateways over one store and engine with the
// same rate limit, sends n requests of one key spread over both from
// several goroutines (pausing pause between a goroutine's requests), and
// returns how many were admitted. Every refusal must be a proper 429.
func runTwoGateways(t *testing.T, o gateway.RateLimitOptions, n int, pause time.Duration) int {
	t.Helper()
	e := newEnv(t, "sqlite", withRateLimit(o))
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	reg2 := prometheus.NewRegistry()
	other := gateway.New(e.store, e.engine, log, gateway.Options{Registry: reg2, RateLimit: o})
	handlers := []http.Handler{e.handler, other.Handler()}
	secret := e.keys["a-viewer"]

	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	const workers = 8
	for g := range workers {
		wg.Go(func() {
			for i := g; i < n; i += workers {
				w := get(t, handlers[i%2], "/v1/properties", secret)
				switch w.Code {
				case http.StatusOK:
					admitted.Add(1)
				case http.StatusTooManyRequests:
					refused.Add(1)
					if w.Header().Get("Retry-After") == "" {
						t.Errorf("429 without Retry-After")
					}
				default:
					t.Errorf("status %d: %s", w.Code, w.Body.String())
				}
				if pause > 0 {
					time.Sleep(pause) // pacing the load, not waiting for a result
				}
			}
		})
	}
	wg.Wait()
	for _, reg := range []*prometheus.Registry{e.reg, reg2} {
		if got := decisions(t, reg, "hotel_rate_limit_decisions_total", "outcome", "redis_unavailable"); got != 0 {
			t.Fatalf("%v decisions were made without Redis: the test proves nothing", got)
		}
	}
	if int(admitted.Load()+refused.Load()) != n {
		t.Fatalf("%d admitted + %d refused, want %d answers", admitted.Load(), refused.Load(), n)
	}
	return int(admitted.Load())
}

// A Redis that does not answer never stops requests that are within the
// limit: this node's own buckets decide, and the metric says so.
func TestRateLimitWithoutRedisFallsBackToTheNode(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	e := newEnv(t, "sqlite", withRateLimit(gateway.RateLimitOptions{Rate: trickle, Burst: seedRequests, Redis: down}))
	before := decisions(t, e.reg, "hotel_rate_limit_decisions_total", "outcome", "redis_unavailable")
	for i := range seedRequests {
		if w := e.do("GET", "/v1/properties", "a-viewer", ""); w.Code != http.StatusOK {
			t.Fatalf("request %d with Redis down: status %d, want 200; body %s", i+1, w.Code, w.Body.String())
		}
	}
	mustError(t, e.do("GET", "/v1/properties", "a-viewer", ""), http.StatusTooManyRequests, "rate_limited")
	if got := decisions(t, e.reg, "hotel_rate_limit_decisions_total", "outcome", "redis_unavailable") - before; got != seedRequests+1 {
		t.Errorf("hotel_rate_limit_decisions_total{outcome=redis_unavailable} rose by %v, want %d", got, seedRequests+1)
	}
}
