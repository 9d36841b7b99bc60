package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// countingStore is a real store that counts the reads the caches save.
type countingStore struct {
	persistence.Store
	mu    sync.Mutex
	reads int
	// afterKeyRead, when set, runs once an APIKeyByHash read has returned.
	afterKeyRead func()
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *countingStore) read() {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
}

func (s *countingStore) GetProperty(ctx context.Context, tenant, id string) (booking.Property, error) {
	s.read()
	return s.Store.GetProperty(ctx, tenant, id)
}

func (s *countingStore) APIKeyByHash(ctx context.Context, hash []byte) (persistence.APIKey, error) {
	s.read()
	k, err := s.Store.APIKeyByHash(ctx, hash)
	if s.afterKeyRead != nil {
		s.afterKeyRead()
	}
	return k, err
}

// fakeClock sets *clock to a fixed instant and returns a way to move it.
func fakeClock(clock *func() time.Time) (advance func(time.Duration)) {
	t := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	*clock = func() time.Time { return t }
	return func(d time.Duration) { t = t.Add(d) }
}

// TestExpiringLRU: the cache never holds more than its size, evicting the
// least recently used entry, and an entry answers for exactly its TTL.
func TestExpiringLRU(t *testing.T) {
	c := newExpiringLRU[int](3, time.Minute)
	advance := fakeClock(&c.now)
	for i, k := range []string{"a", "b", "c"} {
		c.add(k, i, c.now())
	}
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a is missing before its TTL")
	}
	c.add("d", 3, c.now())
	if _, ok := c.get("b"); ok {
		t.Fatal("b, the least recently used, was kept past the size")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.get(k); !ok {
			t.Fatalf("%s was evicted instead of the least recently used", k)
		}
	}
	for i := range 100 {
		c.add(fmt.Sprint("k", i), i, c.now())
		if n := c.lru.Len(); n > 3 {
			t.Fatalf("%d entries, over the size of 3", n)
		}
	}

	c.add("x", 7, c.now())
	advance(time.Minute - time.Nanosecond)
	if v, ok := c.get("x"); !ok || v != 7 {
		t.Fatalf("x before its TTL ran out: %v %v", v, ok)
	}
	advance(time.Nanosecond)
	if _, ok := c.get("x"); ok {
		t.Fatal("x answered once its TTL ran out")
	}
	c.add("y", 8, c.now())
	c.remove("y")
	if _, ok := c.get("y"); ok {
		t.Fatal("y answered after remove")
	}
}

// TestPropertyCache: a found property is answered from memory until its
// TTL, an unknown one is read each time, and PutProperty through the cache
// drops its entry.
func TestPropertyCache(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: mustStore(t)}
	c := newPropertyCache(store, 2, propertyTTL)
	advance := fakeClock(&c.entries.now)
	put := func(s persistence.Store, name string) {
		t.Helper()
		if _, _, err := s.PutProperty(ctx, booking.Property{Tenant: "t1", ID: "p1", Name: name, Timezone: "Europe/Berlin", Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id, wantName string, wantReads int) {
		t.Helper()
		p, err := c.GetProperty(ctx, "t1", id)
		if wantName == "" {
			if !errors.Is(err, persistence.ErrNotFound) {
				t.Fatalf("GetProperty(%s): %v, want not found", id, err)
			}
		} else if err != nil || p.Name != wantName {
			t.Fatalf("GetProperty(%s): %q %v, want %q", id, p.Name, err, wantName)
		}
		if n := store.count(); n != wantReads {
			t.Fatalf("GetProperty(%s): %d store reads, want %d", id, n, wantReads)
		}
	}

	get("p1", "", 1)
	get("p1", "", 2) // not found is not cached
	put(store.Store, "One")
	get("p1", "One", 3)
	get("p1", "One", 3)
	put(store.Store, "Changed elsewhere") // another node's write
	advance(propertyTTL - time.Nanosecond)
	get("p1", "One", 3)
	advance(time.Nanosecond)
	get("p1", "Changed elsewhere", 4)
	put(c, "Changed here")
	get("p1", "Changed here", 5)

	for _, id := range []string{"p2", "p3"} {
		if _, _, err := store.Store.PutProperty(ctx, booking.Property{Tenant: "t1", ID: id, Name: id, Timezone: "UTC", Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	get("p2", "p2", 6)
	get("p3", "p3", 7)
	if n := c.entries.lru.Len(); n != 2 {
		t.Fatalf("%d properties cached, want the size of 2", n)
	}
	get("p1", "Changed here", 8) // the least recently used went
}

// TestKeyCache: a live key is answered from memory until its TTL, an
// unknown or revoked one is read each time, a generation applied drops
// every cached key at once, and a key read before a revocation committed is
// not cached when the generation moved meanwhile.
func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: mustStore(t)}
	c := newKeyCache(store, 2, keyCacheTTL)
	advance := fakeClock(&c.entries.now)
	newKey := func() (id, secret string) {
		t.Helper()
		id, secret, hash := auth.NewAPIKey()
		if err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: "t1", Role: booking.RoleAdmin, Hash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return id, secret
	}
	lookup := func(secret string, wantLive bool, wantReads int) {
		t.Helper()
		_, err := c.lookup(ctx, secret)
		if wantLive && err != nil || !wantLive && !errors.Is(err, persistence.ErrNotFound) {
			t.Fatalf("lookup: %v, want live %v", err, wantLive)
		}
		if n := store.count(); n != wantReads {
			t.Fatalf("lookup: %d store reads, want %d", n, wantReads)
		}
	}
	revoke := func(id string) {
		t.Helper()
		gen, err := store.RevokeAPIKey(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !c.apply(gen) {
			t.Fatalf("apply(%d) did not move the generation", gen)
		}
	}

	_, unknown, _ := auth.NewAPIKey()
	lookup(unknown, false, 1)
	lookup(unknown, false, 2)
	id, secret := newKey()
	lookup(secret, true, 3)
	lookup(secret, true, 3)
	advance(keyCacheTTL)
	lookup(secret, true, 4)

	revoke(id)
	lookup(secret, false, 5) // immediate: no TTL to wait for
	lookup(secret, false, 6)
	if c.apply(c.generationNow()) {
		t.Fatal("applying the same generation again moved it")
	}

	// A lookup that read its key before a revocation committed answers
	// it, as it would have a moment earlier, but does not cache it.
	id2, secret2 := newKey()
	store.afterKeyRead = func() { store.afterKeyRead = nil; revoke(id2) }
	lookup(secret2, true, 7)
	lookup(secret2, false, 8)

	secrets := []string{}
	for range 3 {
		_, s := newKey()
		secrets = append(secrets, s)
	}
	lookup(secrets[0], true, 9)
	lookup(secrets[1], true, 10)
	lookup(secrets[2], true, 11)
	if n := c.entries.lru.Len(); n != 2 {
		t.Fatalf("%d keys cached, want the size of 2", n)
	}
	lookup(secrets[2], true, 11)
	lookup(secrets[0], true, 12) // the least recently used went
}
