package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/storetest"
)

func mustStore(t *testing.T) persistence.Store {
	t.Helper()
	s := storetest.MustOpen(t, "")
	if _, err := s.EnsureTenant(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAwaitInFlight: a request whose key is in flight waits for the outcome
// and replays it, or answers 409 conflict when the wait runs out.
func TestAwaitInFlight(t *testing.T) {
	ctx := context.Background()
	store := mustStore(t)
	x := &idempotency{store: store, ttl: time.Hour, wait: 150 * time.Millisecond, poll: 10 * time.Millisecond}
	hash := requestHash("POST", "/v1/x", []byte(`{"a":1}`))
	if hash != requestHash("POST", "/v1/x", []byte(" {\n \"a\" : 1 } ")) {
		t.Fatal("the hash depends on the body's spacing")
	}
	if hash == requestHash("POST", "/v1/y", []byte(`{"a":1}`)) || hash == requestHash("PATCH", "/v1/x", []byte(`{"a":1}`)) {
		t.Fatal("the hash ignores the method or path")
	}
	call := idemCall{tenant: "t1", key: "k1", hash: hash, claim: true, status: 201}
	now := time.Now()
	rec := persistence.IdempotencyRecord{Tenant: "t1", Key: "k1", RequestHash: hash, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if ok, err := store.ClaimIdempotency(ctx, rec); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}

	start := time.Now()
	_, _, err := x.await(ctx, call)
	var be *booking.Error
	if !errors.As(err, &be) || be.Code != booking.CodeConflict || be.Details["kind"] != booking.KindIdempotencyKey || be.Details["id"] != call.key {
		t.Fatalf("await on a key in flight: %v, want the in-flight conflict", err)
	}
	if d := time.Since(start); d < x.wait {
		t.Fatalf("gave up after %v, before the wait of %v", d, x.wait)
	}

	x.wait = 5 * time.Second
	go func() {
		time.Sleep(50 * time.Millisecond)
		done := rec
		done.Status, done.Body = 201, []byte(`{"id":"r1"}`)
		if err := store.CompleteIdempotency(context.Background(), done); err != nil {
			t.Errorf("complete: %v", err)
		}
	}()
	got, found, err := x.await(ctx, call)
	if err != nil || !found || got.Status != 201 || string(got.Body) != `{"id":"r1"}` {
		t.Fatalf("await while the first completes: %+v %v %v", got, found, err)
	}
}
