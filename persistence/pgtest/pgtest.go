// Package pgtest gives each test a fresh, empty Postgres database.
//
// The server is the one at PG_TEST_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Tests never skip
// when it is down: they fail and say how to start it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when PG_TEST_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const startHint = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
	"(or set PG_TEST_URL to a reachable server)"

// ServerURL is the URL of the test server's admin database (PG_TEST_URL or DefaultURL).
func ServerURL() string {
	if u := os.Getenv("PG_TEST_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates a database with a random name on the test server and
// returns its URL. The database is dropped (WITH (FORCE)) when the test ends.
// It calls t.Fatalf when the server is not reachable.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := ServerURL()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: bad PG_TEST_URL %q: %v", base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: Postgres at %s is not reachable: %v\n%s", u.Redacted(), err, startHint)
	}
	defer conn.Close(context.Background())

	name := "staylock_test_" + randomSuffix(t)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop database %s: connect: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	du := *u
	du.Path = "/" + name
	return du.String()
}

func randomSuffix(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random name: %v", err)
	}
	return hex.EncodeToString(b[:])
}
