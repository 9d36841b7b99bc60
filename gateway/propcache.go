package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// propertyTTL bounds how long a node answers from a property it read: a
// property changes rarely (name, time zone, currency), and every booking
// needs it, so the hot path must not read it from the database each time.
// A change made through another node is seen here within this time.
const propertyTTL = 2 * time.Second

// propertyCache is the store with GetProperty answered from memory for up
// to propertyTTL. Only found properties are kept, so a new property is
// visible at once; PutProperty through this node drops its entry.
type propertyCache struct {
	persistence.Store
	mu      sync.Mutex
	entries map[string]cachedProperty
	now     func() time.Time
}

type cachedProperty struct {
	p       booking.Property
	expires time.Time
}

func newPropertyCache(s persistence.Store) *propertyCache {
	return &propertyCache{Store: s, entries: map[string]cachedProperty{}, now: time.Now}
}

func (c *propertyCache) GetProperty(ctx context.Context, tenant, id string) (booking.Property, error) {
	k := tenant + "/" + id
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.p, nil
	}
	p, err := c.Store.GetProperty(ctx, tenant, id)
	if err != nil {
		return p, err
	}
	c.mu.Lock()
	if len(c.entries) > 10000 { // bound memory; entries are cheap to read again
		clear(c.entries)
	}
	c.entries[k] = cachedProperty{p: p, expires: now.Add(propertyTTL)}
	c.mu.Unlock()
	return p, nil
}

func (c *propertyCache) PutProperty(ctx context.Context, p booking.Property) (booking.Property, bool, error) {
	stored, created, err := c.Store.PutProperty(ctx, p)
	// dropped after the write, so a read racing with it cannot keep the old one
	c.mu.Lock()
	delete(c.entries, p.Tenant+"/"+p.ID)
	c.mu.Unlock()
	return stored, created, err
}
