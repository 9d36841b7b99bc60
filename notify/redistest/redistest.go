// Package redistest gives tests a reachable Redis: the server at
// 127.0.0.1:6379 (REDIS_TEST_URL overrides), a unique key/channel prefix
// per test and, for tests that run the binary, a database number of their
// own. A test that needs Redis fails, with how to start it, when it is not
// there: it never skips.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/staylock/staylock/internal/poll"
)

// DefaultURL is the Redis tests use unless REDIS_TEST_URL says otherwise.
const DefaultURL = "redis://127.0.0.1:6379"

// StartHint says how to start the Redis the tests need.
const StartHint = "start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no " +
	"(apt-get install -y redis-server if missing; `bash .ci/run` does both), or set REDIS_TEST_URL"

func baseURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return strings.TrimSuffix(u, "/")
	}
	return DefaultURL
}

// URL returns the test Redis's URL (database 0) after checking that it
// answers; it fails the test with StartHint when it does not.
func URL(t testing.TB) string {
	t.Helper()
	u := baseURL()
	c := mustClient(t, u)
	_ = c.Close()
	return u
}

func mustClient(t testing.TB, u string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("redis test URL %q: %v", u, err)
	}
	opts.DialTimeout = 2 * time.Second
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("Redis is not reachable at %s (%v): %s", u, err, StartHint)
	}
	return c
}

// Prefix returns a channel and key prefix no other test uses.
func Prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "staylock-test:" + hex.EncodeToString(b) + ":"
}

// DB claims a database number (1-15) for the test, so that processes
// configured by URL alone (the bus names its channel after the database)
// share nothing with other tests; it returns the URL of that database.
// The claim is released when the test ends.
func DB(t testing.TB) string {
	t.Helper()
	u := baseURL()
	c := mustClient(t, u)
	defer c.Close()
	ctx := context.Background()
	owner := Prefix()
	var claimed string
	poll.Eventually(t, 30*time.Second, "a free Redis test database (1-15)", func() bool {
		for db := 1; db <= 15; db++ {
			key := fmt.Sprintf("staylock-test:db-claim:%d", db)
			ok, err := c.SetNX(ctx, key, owner, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("claim a Redis database: %v", err)
			}
			if !ok {
				continue
			}
			t.Cleanup(func() {
				rc := mustClient(t, u)
				defer rc.Close()
				if v, _ := rc.Get(context.Background(), key).Result(); v == owner {
					rc.Del(context.Background(), key)
				}
			})
			claimed = fmt.Sprintf("%s/%d", u, db)
			return true
		}
		return false
	})
	return claimed
}
