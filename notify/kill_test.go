package notify_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// killClients makes Redis drop its client connections of a type
// ("pubsub", "normal"), as a Redis restart would.
func killClients(t *testing.T, url, typ string) {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", typ).Err(); err != nil {
		t.Fatalf("client kill: %v", err)
	}
}
