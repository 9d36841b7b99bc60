package gateway

import (
	"context"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
)

// Engine is what the gateway needs from the actors: every state change and
// every read of live inventory goes through it. cluster.Client implements it.
// Errors are *booking.Error for outcomes the API names; anything else is
// reported as 503 unavailable (nothing changed) or 500.
type Engine interface {
	PutRoomType(ctx context.Context, rt booking.RoomType) (stored booking.RoomType, created bool, err error)
	UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *cluster.Idem) (nights int, err error)
	Availability(ctx context.Context, tenant, property string, roomTypes []string, from, to booking.Date) ([]cluster.RoomTypeAvailability, error)
	CreateReservation(ctx context.Context, r cluster.NewReservation, idem *cluster.Idem) (booking.Reservation, error)
	ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *cluster.Idem) (booking.Reservation, error)
	CancelReservation(ctx context.Context, tenant, id string, idem *cluster.Idem) (booking.Reservation, error)
	CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *cluster.Idem) (booking.Hold, error)
	ReleaseHold(ctx context.Context, tenant, id string, idem *cluster.Idem) error
	// Ready reports whether the actor system can serve requests.
	Ready(ctx context.Context) error
}
