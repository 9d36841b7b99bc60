package pgtest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/staylock/staylock/persistence/pgtest"
)

func TestNewDatabaseIsUsableAndFresh(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("fresh database has %d tables", n)
	}
	if url == pgtest.NewDatabase(t) {
		t.Fatal("two databases got the same URL")
	}
}

// fatalTB records Fatalf and stops the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNewDatabaseFailsWithAHintWhenPostgresIsDown(t *testing.T) {
	t.Setenv("PG_TEST_URL", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgtest.NewDatabase(f)
	}()
	<-done
	if !strings.Contains(f.msg, "pg_ctlcluster --skip-systemctl-redirect") {
		t.Fatalf("message %q does not say how to start Postgres", f.msg)
	}
}
