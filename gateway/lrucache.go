package gateway

import (
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// expiringLRU holds at most size entries, evicting the least recently used
// one past that (expirable.LRU), and answers an entry for ttl after it was
// added, by its clock now.
//
// The deadline is kept in the entry rather than given to expirable as its
// TTL: with a TTL, expirable.NewLRU (v2.0.7) starts a cleanup goroutine that
// nothing can stop (its Close is commented out upstream), two per Server for
// the life of the process, and it reads time.Now itself, so tests could not
// move the clock. With TTL 0 it starts none; an expired entry stays until it
// is replaced or evicted, within size.
type expiringLRU[V any] struct {
	lru *expirable.LRU[string, expiring[V]]
	ttl time.Duration
	now func() time.Time
}

type expiring[V any] struct {
	v     V
	until time.Time
}

func newExpiringLRU[V any](size int, ttl time.Duration) *expiringLRU[V] {
	return &expiringLRU[V]{lru: expirable.NewLRU[string, expiring[V]](size, nil, 0), ttl: ttl, now: time.Now}
}

// get returns k's value unless it is missing or expired.
func (c *expiringLRU[V]) get(k string) (V, bool) {
	e, ok := c.lru.Get(k)
	if !ok || !c.now().Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// add keeps v under k until ttl after from.
func (c *expiringLRU[V]) add(k string, v V, from time.Time) {
	c.lru.Add(k, expiring[V]{v: v, until: from.Add(c.ttl)})
}

func (c *expiringLRU[V]) remove(k string) { c.lru.Remove(k) }

func (c *expiringLRU[V]) purge() { c.lru.Purge() }
