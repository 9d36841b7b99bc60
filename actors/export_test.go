package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

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

// PropsWithQueue is Props, with a function that tells how many batches
// wait in their committer for a transaction slot.
func PropsWithQueue(store Store, opts Options) (*actor.Props, func() int) {
	p, c := props(store, opts)
	return p, func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue)
	}
}
