// Package actors holds the inventory actor (one per room type, owning its
// calendar and serialising every change to it), its typed protobuf
// messages, and the coordinator that runs the engine's operations over the
// actors: one call for a change of one room type, a hold-then-confirm saga
// for a reservation that spans several.
package actors

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
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

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSuffix returns a random id suffix shared by a reservation and its hold.
func newSuffix() string {
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

// reservationIDFor returns the reservation id a hold can turn into.
func reservationIDFor(holdID string) string {
	return reservationPrefix + strings.TrimPrefix(holdID, holdPrefix)
}

// newHoldID returns a fresh hold id.
func newHoldID() string { return holdPrefix + newSuffix() }

// modifyHoldID names the hold a multi-room-type modification takes for the
// reservation's next version.
func modifyHoldID(reservationID string, version int32) string {
	return fmt.Sprintf("m_%s_v%d", strings.TrimPrefix(reservationID, reservationPrefix), version)
}

// holdTag records, on a hold, which reservation (and version) may absorb it.
func holdTag(reservationID string, version int32) string {
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
