package cluster

import "github.com/staylock/staylock/actors"

// The request and result types of the typed client, shared with the actors.
type (
	Idem                 = actors.Idem
	RoomTypeAvailability = actors.RoomTypeAvailability
	NewReservation       = actors.NewReservation
)
