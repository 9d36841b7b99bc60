// Package actors holds the inventory actor (one per room type, owning its
// calendar and serialising every change to it), the coordinator of
// reservations that span several room types, and their protobuf messages.
package actors

import (
	"github.com/staylock/staylock/booking"
)

// Idem carries an Idempotency-Key into the engine: the actor that makes the
// change durable completes the idempotency record (Status and the JSON of
// the result as body) in the same transaction.
type Idem struct {
	Key         string
	RequestHash string
	Status      int // HTTP status stored with the result on success
}

// RoomTypeAvailability is one room type's nights, as of its seq.
type RoomTypeAvailability struct {
	RoomType string              `json:"room_type"`
	Seq      int64               `json:"seq"`
	Nights   []booking.NightView `json:"nights"`
}

// NewReservation is a validated reservation request.
type NewReservation struct {
	Tenant      string
	Property    string
	Currency    string
	Stays       []booking.Stay
	Guest       booking.Guest
	Channel     string
	ExternalRef string
	HoldID      string
}
