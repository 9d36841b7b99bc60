package gateway

import (
	"context"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// propertyTTL bounds how long a node answers from a property it read: a
// property changes rarely (name, time zone, currency), and every booking
// needs it, so the hot path must not read it from the database each time.
// A change made through another node is seen here within this time.
const propertyTTL = 2 * time.Second

// propertyCacheMax bounds the cache's memory: past it the least recently
// used property goes (it is cheap to read again).
const propertyCacheMax = 10000

// propertyCache is the store with GetProperty answered from memory for up
// to its TTL. Only found properties are kept, so a new property is
// visible at once; PutProperty through this node drops its entry.
type propertyCache struct {
	persistence.Store
	entries *expiringLRU[booking.Property] // by tenant/id
}

func newPropertyCache(s persistence.Store, size int, ttl time.Duration) *propertyCache {
	return &propertyCache{Store: s, entries: newExpiringLRU[booking.Property](size, ttl)}
}

func (c *propertyCache) GetProperty(ctx context.Context, tenant, id string) (booking.Property, error) {
	k := tenant + "/" + id
	now := c.entries.now()
	if p, ok := c.entries.get(k); ok {
		return p, nil
	}
	p, err := c.Store.GetProperty(ctx, tenant, id)
	if err != nil {
		return p, err
	}
	c.entries.add(k, p, now) // its TTL runs from before the read
	return p, nil
}

func (c *propertyCache) PutProperty(ctx context.Context, p booking.Property) (booking.Property, bool, error) {
	stored, created, err := c.Store.PutProperty(ctx, p)
	// dropped after the write, so a read racing with it cannot keep the old one
	c.entries.remove(p.Tenant + "/" + p.ID)
	return stored, created, err
}
