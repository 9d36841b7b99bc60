package baseline_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/staylock/staylock/bench/baseline"
	"github.com/staylock/staylock/loadtest"
	"github.com/staylock/staylock/persistence/pgtest"
)

const testKey = "baseline-test-key"

// redisURL is the Redis the tests use (REDIS_TEST_URL or the local one).
func redisURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// engines start each engine for a test; the names are the --engine values.
var engines = []struct {
	name  string
	start func(t *testing.T) baseline.Engine
}{
	{"naive", MustStartNaive},
	{"redis", MustStartRedis},
}

// MustStartNaive opens the naive engine on a fresh Postgres database.
func MustStartNaive(t *testing.T) baseline.Engine {
	t.Helper()
	eng, err := baseline.OpenNaive(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("open naive: %v", err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// MustStartRedis opens the redis engine under a unique key prefix, and
// deletes its keys when the test ends. It fails (never skips) without Redis.
func MustStartRedis(t *testing.T) baseline.Engine {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "baseline-test-" + hex.EncodeToString(b)
	ctx := context.Background()
	eng, err := baseline.OpenRedis(ctx, redisURL(), prefix)
	if err != nil {
		t.Fatalf("%v\nstart Redis with: redis-server --port 6379 --daemonize yes (or set REDIS_TEST_URL)", err)
	}
	t.Cleanup(func() {
		eng.Close()
		opt, _ := redis.ParseURL(redisURL())
		rdb := redis.NewClient(opt)
		defer func() { _ = rdb.Close() }()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return eng
}

// MustServe serves eng on a loopback port for the test.
func MustServe(t *testing.T, eng baseline.Engine) string {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	hs := httptest.NewServer(baseline.NewServer(eng, testKey, log).Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestLoadtestAgainstBaselinePassesAudit(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url := MustServe(t, e.start(t))
			var out bytes.Buffer
			rep, err := loadtest.Run(context.Background(), loadtest.Config{Targets: []string{url}, Key: testKey,
				Scenario: "hot", Setup: true, Clients: 8, Duration: 2 * time.Second, Seed: 7,
				MaxErrorRate: loadtest.ErrorRate(0), Progress: loadtest.ProgressNone}, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if !rep.Passed || rep.Audit.Problems() != 0 || rep.Audit.Skipped || rep.Audit.Acknowledged == 0 ||
				rep.Audit.Reservations < rep.Audit.Acknowledged {
				t.Fatalf("the run did not pass: %+v\n%s", rep.Audit, out.String())
			}
			t.Logf("%s", out.String())
		})
	}
}

func TestLastFiveRoomsGoToExactlyFiveOfFortyConcurrentBookings(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url := MustServe(t, e.start(t))
			MustDo(t, url, "PUT", "/v1/properties/p1", `{"name":"Hotel","timezone":"UTC","currency":"EUR"}`, "", 201)
			MustDo(t, url, "PUT", "/v1/properties/p1/room-types/dlx", `{"name":"Deluxe","rooms":5,"price":10000}`, "", 201)
			arr := baseline.DateOf(time.Now()) + 3
			body := fmt.Sprintf(`{"stays":[{"room_type":"dlx","arrival":"%s","departure":"%s","quantity":1}],"guest":{"name":"G"}}`, arr, arr+2)

			codes := make([]int, 40)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() {
					codes[i], _ = do(t, url, "POST", "/v1/properties/p1/reservations", body, fmt.Sprintf("k%d", i))
				})
			}
			wg.Wait()
			count := map[int]int{}
			for _, c := range codes {
				count[c]++
			}
			if count[201] != 5 || count[409] != 35 {
				t.Fatalf("answers %v, want 5×201 and 35×409", count)
			}

			var av struct {
				RoomTypes []struct {
					Nights []struct{ Total, Booked, Available int }
				} `json:"room_types"`
			}
			MustGet(t, url, fmt.Sprintf("/v1/properties/p1/availability?from=%s&to=%s", arr, arr+3), &av)
			n := av.RoomTypes[0].Nights
			if len(n) != 3 || n[0].Booked != 5 || n[0].Available != 0 || n[1].Booked != 5 || n[2].Booked != 0 || n[2].Available != 5 {
				t.Fatalf("availability %+v, want 5 booked on the two nights, none on the third", n)
			}

			// The five read back over pages of two.
			ids := map[string]bool{}
			cursor := ""
			for page := 0; ; page++ {
				var p struct {
					Reservations []struct{ ID, Status string }
					NextCursor   *string `json:"next_cursor"`
				}
				MustGet(t, url, "/v1/properties/p1/reservations?limit=2&cursor="+cursor, &p)
				for _, r := range p.Reservations {
					ids[r.ID] = r.Status == "confirmed"
				}
				if p.NextCursor == nil {
					break
				}
				if page > 5 {
					t.Fatal("the cursor does not end")
				}
				cursor = *p.NextCursor
			}
			if len(ids) != 5 {
				t.Fatalf("listed %d reservations, want 5", len(ids))
			}
		})
	}
}

func TestIdempotencyKeyReplaysTheFirstBookingAndRefusesAnotherBody(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			url := MustServe(t, e.start(t))
			MustDo(t, url, "PUT", "/v1/properties/p1", `{"name":"Hotel","timezone":"UTC","currency":"EUR"}`, "", 201)
			MustDo(t, url, "PUT", "/v1/properties/p1/room-types/dlx", `{"name":"Deluxe","rooms":5,"price":10000}`, "", 201)
			arr := baseline.DateOf(time.Now()) + 3
			body := func(q int) string {
				return fmt.Sprintf(`{"stays":[{"room_type":"dlx","arrival":"%s","departure":"%s","quantity":%d}],"guest":{"name":"G"}}`, arr, arr+2, q)
			}
			first := MustDo(t, url, "POST", "/v1/properties/p1/reservations", body(1), "same", 201)
			again := MustDo(t, url, "POST", "/v1/properties/p1/reservations", body(1), "same", 201)
			if first != again {
				t.Fatalf("the replay differs:\n%s\n%s", first, again)
			}
			MustDo(t, url, "POST", "/v1/properties/p1/reservations", body(2), "same", 422)
			var r struct {
				ID         string `json:"id"`
				TotalPrice int64  `json:"total_price"`
			}
			_ = json.Unmarshal([]byte(first), &r)
			if r.TotalPrice != 20000 {
				t.Errorf("total price %d, want 20000", r.TotalPrice)
			}
			MustDo(t, url, "GET", "/v1/reservations/"+r.ID, "", "", 200)
			MustDo(t, url, "GET", "/v1/reservations/nope", "", "", 404)
			MustDo(t, url, "POST", "/v1/properties/p1/reservations", `{"stays":[],"bogus":1}`, "", 400)
		})
	}
}

func do(t *testing.T, url, method, path, body, idemKey string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, ""
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// MustDo sends a request and wants the status; it returns the body.
func MustDo(t *testing.T, url, method, path, body, idemKey string, want int) string {
	t.Helper()
	code, out := do(t, url, method, path, body, idemKey)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	return out
}

// MustGet decodes a 200 body into v.
func MustGet(t *testing.T, url, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(MustDo(t, url, "GET", path, "", "", 200)), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
