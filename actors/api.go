// Package actors holds the inventory actor (one per room type, owning its
// calendar and serialising every change to it), the coordinator of
// reservations that span several room types, and their protobuf messages.
package actors

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/staylock/staylock/booking"
)

// Kind is the cluster kind of the inventory actor.
const Kind = "inventory"

// Identity names the actor of one room type: tenant/property/room_type.
func Identity(tenant, property, roomType string) string {
	return tenant + "/" + property + "/" + roomType
}

// ParseIdentity splits an identity made by Identity.
func ParseIdentity(id string) (tenant, property, roomType string, err error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("bad inventory identity %q", id)
	}
	return parts[0], parts[1], parts[2], nil
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

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSuffix returns a random id suffix shared by a reservation and its hold.
func NewSuffix() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return idEncoding.EncodeToString(b)
}

// A hold "h_X" can only ever become reservation "r_X": that twin naming lets
// an expiring hold find out, from the store alone, whether the reservation it
// was taken for was confirmed (a coordinator may die between the two).
const (
	reservationPrefix = "r_"
	holdPrefix        = "h_"
)

// ReservationIDFor returns the reservation id a hold can turn into.
func ReservationIDFor(holdID string) string {
	return reservationPrefix + strings.TrimPrefix(holdID, holdPrefix)
}

// NewHoldID returns a fresh hold id.
func NewHoldID() string { return holdPrefix + NewSuffix() }

// ModifyHoldID names the hold a multi-room-type modification takes for the
// reservation's next version.
func ModifyHoldID(reservationID string, version int32) string {
	return fmt.Sprintf("m_%s_v%d", strings.TrimPrefix(reservationID, reservationPrefix), version)
}

// HoldTag records, on a hold, which reservation (and version) may absorb it.
func HoldTag(reservationID string, version int32) string {
	return fmt.Sprintf("%s@%d", reservationID, version)
}

func parseHoldTag(tag string) (reservationID string, version int32, ok bool) {
	i := strings.LastIndexByte(tag, '@')
	if i <= 0 {
		return "", 0, false
	}
	var v int32
	if _, err := fmt.Sscanf(tag[i+1:], "%d", &v); err != nil {
		return "", 0, false
	}
	return tag[:i], v, true
}
