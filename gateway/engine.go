package gateway

import (
	"context"
	"time"

	"github.com/staylock/staylock/booking"
)

// Engine is what the gateway needs from the actors: every state change and
// every read of live inventory goes through it. actors.Coordinator
// implements it (over cluster.Client, which carries its calls).
// Errors are *booking.Error for outcomes the API names; anything else is
// reported as 503 unavailable (nothing changed) or 500.
type Engine interface {
	PutRoomType(ctx context.Context, rt booking.RoomType) (stored booking.RoomType, created bool, err error)
	UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *booking.Idempotency) (nights int, err error)
	Availability(ctx context.Context, tenant, property string, roomTypes []string, from, to booking.Date) ([]booking.RoomTypeAvailability, error)
	CreateReservation(ctx context.Context, r booking.NewReservation, idem *booking.Idempotency) (booking.Reservation, error)
	ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *booking.Idempotency) (booking.Reservation, error)
	CancelReservation(ctx context.Context, tenant, id string, idem *booking.Idempotency) (booking.Reservation, error)
	CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *booking.Idempotency) (booking.Hold, error)
	ReleaseHold(ctx context.Context, tenant, id string, idem *booking.Idempotency) error
	// Ready reports whether the actor system can serve requests.
	Ready(ctx context.Context) error
}
