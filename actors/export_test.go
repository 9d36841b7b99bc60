package actors

import (
	"context"
	"time"

	"github.com/staylock/staylock/booking"
)

// LoadInventory rebuilds an actor's state from its snapshot and journal,
// as an activation would.
func LoadInventory(ctx context.Context, store Store, actorID string) (*booking.Inventory, error) {
	inv, _, err := loadInventory(ctx, store, actorID)
	return inv, err
}

// WithClock returns o with the actor's clock set to now.
func WithClock(o Options, now func() time.Time) Options {
	o.now = now
	return o
}
