// Package baseline holds the servers that Staylock is compared with: the
// ways teams usually build a booking engine when they do not build
// Staylock. Each is a small separate HTTP server that speaks the same
// create-booking and availability part of the public API (docs in
// docs/benchmarks.md), so that the same load tester (`staylock loadtest`,
// audit included) drives all of them:
//
//   - naive: one Postgres transaction per booking: SELECT … FOR UPDATE on
//     the night rows, check, update, insert the reservation;
//   - redis: one atomic Lua check-and-increment per booking on Redis, the
//     reservation record stored in Redis by the same script.
//
// It is a baseline, not a product: one tenant, one bearer key, no holds,
// restrictions, modifications or cancellations.
package baseline

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"
)

// Date is one night, in days since 1970-01-01; JSON "YYYY-MM-DD".
type Date int32

const dateLayout = "2006-01-02"

// DateOf is the night of t (UTC).
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d Date) String() string { return time.Unix(int64(d)*86400, 0).UTC().Format(dateLayout) }

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	t, err := time.Parse(dateLayout, string(b))
	if err != nil {
		return fmt.Errorf("date %q: want YYYY-MM-DD", b)
	}
	*d = DateOf(t)
	return nil
}

// Property is a hotel.
type Property struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	Currency string `json:"currency"`
}

// RoomType has Rooms rooms every night at Price (minor units).
type RoomType struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Rooms int    `json:"rooms"`
	Price int64  `json:"price"`
}

// Stay is Quantity rooms of a room type for the nights Arrival … Departure-1.
type Stay struct {
	RoomType  string `json:"room_type"`
	Arrival   Date   `json:"arrival"`
	Departure Date   `json:"departure"`
	Quantity  int    `json:"quantity"`
}

// Guest is who stays.
type Guest struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Reservation is a confirmed booking (the baselines never cancel).
type Reservation struct {
	ID          string    `json:"id"`
	Property    string    `json:"property"`
	Status      string    `json:"status"`
	Stays       []Stay    `json:"stays"`
	Guest       Guest     `json:"guest"`
	Channel     string    `json:"channel"`
	ExternalRef string    `json:"external_ref"`
	TotalPrice  int64     `json:"total_price"`
	Currency    string    `json:"currency"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Night is one night of a room type in an availability answer.
type Night struct {
	Date      Date  `json:"date"`
	Total     int   `json:"total"`
	Booked    int   `json:"booked"`
	Held      int   `json:"held"`
	Available int   `json:"available"`
	Price     int64 `json:"price"`
	StopSell  bool  `json:"stop_sell"`
	MinStay   int   `json:"min_stay"`
}

// RoomTypeNights is one room type's nights; Seq is always 0 (no stream).
type RoomTypeNights struct {
	RoomType string  `json:"room_type"`
	Seq      int64   `json:"seq"`
	Nights   []Night `json:"nights"`
}

// night fills the derived fields of a night.
func night(d Date, total, booked int, price int64) Night {
	return Night{Date: d, Total: total, Booked: booked, Available: max(0, total-booked), Price: price, MinStay: 1}
}

// Need is the rooms one booking takes on one night of one room type.
type Need struct {
	RoomType string
	Night    Date
	Quantity int
}

// NewBooking is a validated create-booking request. R is the reservation
// to store, complete but for TotalPrice and Currency, which the engine
// fills from the room types and the property. Needs are sorted by room
// type and night, one per night. Key is the Idempotency-Key ("" for none)
// and Hash identifies the request body under it.
type NewBooking struct {
	R     Reservation
	Needs []Need
	Key   string
	Hash  string
}

// Engine stores the inventory and the reservations. Every method returns
// *Error for outcomes the API names (not_found, sold_out, conflict,
// restricted, idempotency_key_reused) and a plain error otherwise.
type Engine interface {
	// PutProperty creates or updates a property.
	PutProperty(ctx context.Context, p Property) (created bool, err error)
	// PutRoomType creates or updates a room type of an existing property;
	// fewer rooms than are booked on some night is a conflict.
	PutRoomType(ctx context.Context, property string, rt RoomType) (created bool, err error)
	// RoomTypes lists a property's room types by id.
	RoomTypes(ctx context.Context, property string) ([]RoomType, error)
	// Book takes the rooms and stores the reservation, all or nothing.
	// With a key already used for the same request it returns the first
	// reservation and replay true, without taking anything.
	Book(ctx context.Context, b NewBooking) (r Reservation, replay bool, err error)
	// Reservation reads one reservation.
	Reservation(ctx context.Context, id string) (Reservation, error)
	// Reservations lists a property's reservations in creation order,
	// from an opaque cursor ("" = the start); next is "" at the end.
	Reservations(ctx context.Context, property, cursor string, limit int) (rs []Reservation, next string, err error)
	// Availability reads the nights from … to-1 of every room type of the
	// property (or of roomType only, when it is not "").
	Availability(ctx context.Context, property string, from, to Date, roomType string) ([]RoomTypeNights, error)
	// Close releases the connections.
	Close()
}

// Error is an outcome the API names, in the API's error shape.
type Error struct {
	Code    string
	Message string
	Details any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// status is the one code→status table.
func (e *Error) status() int {
	switch e.Code {
	case "invalid_request":
		return http.StatusBadRequest
	case "unauthorized":
		return http.StatusUnauthorized
	case "not_found":
		return http.StatusNotFound
	case "sold_out", "restricted", "conflict":
		return http.StatusConflict
	case "idempotency_key_reused":
		return http.StatusUnprocessableEntity
	case "payload_too_large":
		return http.StatusRequestEntityTooLarge
	case "unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func notFound(format string, args ...any) *Error {
	return &Error{Code: "not_found", Message: fmt.Sprintf(format, args...)}
}

func invalid(field, message string) *Error {
	return &Error{Code: "invalid_request", Message: field + ": " + message,
		Details: map[string]any{"fields": map[string]string{field: message}}}
}

func soldOut(roomType string, nights []Date) *Error {
	return &Error{Code: "sold_out", Message: "not enough rooms of " + roomType + " on some night",
		Details: map[string]any{"room_type": roomType, "nights": nights}}
}

func keyReused() *Error {
	return &Error{Code: "idempotency_key_reused", Message: "this Idempotency-Key was used for a different request"}
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func validID(s string) bool { return idPattern.MatchString(s) }
