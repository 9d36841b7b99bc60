package loadtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// The wire types of the public API that the load tester uses. They are
// declared here on purpose: the load tester speaks HTTP only and must not
// share types with the server it checks.

// date is one night, in days since 1970-01-01; JSON "YYYY-MM-DD".
type date int32

const dateLayout = "2006-01-02"

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d date) String() string { return time.Unix(int64(d)*86400, 0).UTC().Format(dateLayout) }

func (d date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *date) UnmarshalText(b []byte) error {
	t, err := time.Parse(dateLayout, string(b))
	if err != nil {
		return fmt.Errorf("date %q: %w", b, err)
	}
	*d = dateOf(t)
	return nil
}

// stay is a quantity of one room type from arrival to departure (the nights
// arrival … departure-1).
type stay struct {
	RoomType  string `json:"room_type"`
	Arrival   date   `json:"arrival"`
	Departure date   `json:"departure"`
	Quantity  int    `json:"quantity"`
}

type guest struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

type reservationRequest struct {
	Stays       []stay `json:"stays"`
	Guest       guest  `json:"guest"`
	Channel     string `json:"channel"`
	ExternalRef string `json:"external_ref"`
}

type modifyRequest struct {
	Stays []stay `json:"stays"`
}

type reservation struct {
	ID          string `json:"id"`
	Property    string `json:"property"`
	Status      string `json:"status"`
	Stays       []stay `json:"stays"`
	ExternalRef string `json:"external_ref"`
	Version     int    `json:"version"`
}

// Reservation statuses.
const (
	statusConfirmed = "confirmed"
	statusCancelled = "cancelled"
)

type reservationPage struct {
	Reservations []reservation `json:"reservations"`
	NextCursor   *string       `json:"next_cursor"`
}

type availability struct {
	Property  string                 `json:"property"`
	RoomTypes []roomTypeAvailability `json:"room_types"`
}

type roomTypeAvailability struct {
	RoomType string  `json:"room_type"`
	Nights   []night `json:"nights"`
}

type night struct {
	Date      date `json:"date"`
	Total     int  `json:"total"`
	Booked    int  `json:"booked"`
	Held      int  `json:"held"`
	Available int  `json:"available"`
}

type propertyBody struct {
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	Currency string `json:"currency"`
}

type roomTypeBody struct {
	Name  string `json:"name"`
	Rooms int    `json:"rooms"`
	Price int64  `json:"price"`
}

type roomTypeInfo struct {
	ID    string `json:"id"`
	Rooms int    `json:"rooms"`
}

// errorBody is the API's error envelope.
type errorBody struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// maxRangeNights is the longest availability range one request may ask for.
const maxRangeNights = 400

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func validID(s string) bool { return idPattern.MatchString(s) }

// randomSuffix is 8 random lowercase base-36 characters.
func randomSuffix() string {
	const chars = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
