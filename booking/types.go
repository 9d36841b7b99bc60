package booking

import (
	"fmt"
	"regexp"
	"time"
)

// Role is what an API key may do inside its tenant.
type Role string

// The three roles of the API contract.
const (
	RoleAdmin   Role = "admin"   // everything in its tenant
	RoleChannel Role = "channel" // availability, holds, reservations
	RoleViewer  Role = "viewer"  // read only
)

// ParseRole accepts one of the three role names.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleChannel, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("role %q is not one of admin, channel, viewer", s)
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidID reports whether s is a valid client-chosen id (property, room type, tenant).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// IDRule is the human explanation of ValidID, for error messages.
const IDRule = "must match ^[a-z0-9][a-z0-9_-]{0,63}$"

// Property is one hotel of a tenant.
type Property struct {
	Tenant   string `json:"-"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	Currency string `json:"currency"`
	// BookingHorizonDays bounds the future: a stay must depart at most this
	// many days after the property's today. 0 means the default.
	BookingHorizonDays int `json:"booking_horizon_days"`
	// LateCheckinUntil is the local time ("HH:MM") until which last night
	// can still be booked, for guests who arrive after midnight. "" means
	// the default; "00:00" turns it off.
	LateCheckinUntil string    `json:"late_checkin_until"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Defaults and bounds of a property's booking window.
const (
	DefaultBookingHorizonDays = 730 // two years
	MaxBookingHorizonDays     = 3650
	DefaultLateCheckinUntil   = "12:00"
)

// WithDefaults returns p with its unset window settings at their defaults,
// as the stores keep and show them.
func (p Property) WithDefaults() Property {
	if p.BookingHorizonDays == 0 {
		p.BookingHorizonDays = DefaultBookingHorizonDays
	}
	if p.LateCheckinUntil == "" {
		p.LateCheckinUntil = DefaultLateCheckinUntil
	}
	return p
}

var clockPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// ValidClock reports whether s is a local time of day as HH:MM (00:00-23:59).
func ValidClock(s string) bool { return clockPattern.MatchString(s) }

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Validate checks the writable fields of a property, the window settings
// as given (apply WithDefaults first to accept unset ones).
func (p Property) Validate() error {
	fe := FieldErrors{}
	if !ValidID(p.ID) {
		fe.Add("property", IDRule)
	}
	ValidateText(fe, "name", p.Name, NameRule)
	if p.Timezone == "" {
		fe.Add("timezone", "is required, an IANA zone such as Europe/Berlin")
	} else if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" {
		// "Local" loads the server's own zone: not an IANA name, and it
		// would differ between nodes.
		fe.Add("timezone", "is not a known IANA time zone")
	}
	if !currencyPattern.MatchString(p.Currency) {
		fe.Add("currency", "must be an ISO 4217 code such as EUR")
	}
	if p.BookingHorizonDays < 1 || p.BookingHorizonDays > MaxBookingHorizonDays {
		fe.Add("booking_horizon_days", fmt.Sprintf("must be between 1 and %d", MaxBookingHorizonDays))
	}
	if !ValidClock(p.LateCheckinUntil) {
		fe.Add("late_checkin_until", "must be a local time as HH:MM, 00:00-23:59")
	}
	return fe.Err()
}

// MaxRooms bounds a room type's nightly total.
const MaxRooms = 100000

// RoomType is one sellable kind of room of a property, with its defaults.
type RoomType struct {
	Tenant    string    `json:"-"`
	Property  string    `json:"property"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Rooms     int32     `json:"rooms"`
	Price     int64     `json:"price"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the writable fields of a room type.
func (r RoomType) Validate() error {
	fe := FieldErrors{}
	if !ValidID(r.ID) {
		fe.Add("room_type", IDRule)
	}
	ValidateText(fe, "name", r.Name, NameRule)
	if r.Rooms < 0 || r.Rooms > MaxRooms {
		fe.Add("rooms", fmt.Sprintf("must be between 0 and %d", MaxRooms))
	}
	if r.Price < 0 {
		fe.Add("price", "must not be negative")
	}
	return fe.Err()
}

// Stay is a quantity of one room type from arrival to departure; it occupies
// the nights arrival … departure-1.
type Stay struct {
	RoomType  string `json:"room_type"`
	Arrival   Date   `json:"arrival"`
	Departure Date   `json:"departure"`
	Quantity  int32  `json:"quantity"`
}

// Nights is the number of nights the stay occupies.
func (s Stay) Nights() int { return int(s.Departure - s.Arrival) }

// MaxQuantity bounds the rooms one stay may ask for.
const MaxQuantity = 1000

// MaxStays bounds the stays of one request.
const MaxStays = 50

// ValidateStays checks stays as given by a client; field names are
// stays[i].field so that a client can find each problem.
func ValidateStays(fe FieldErrors, stays []Stay) {
	if len(stays) == 0 {
		fe.Add("stays", "at least one stay is required")
		return
	}
	if len(stays) > MaxStays {
		fe.Add("stays", fmt.Sprintf("at most %d stays per request", MaxStays))
		return
	}
	for i, s := range stays {
		p := fmt.Sprintf("stays[%d].", i)
		if !ValidID(s.RoomType) {
			fe.Add(p+"room_type", IDRule)
		}
		if s.Quantity <= 0 || s.Quantity > MaxQuantity {
			fe.Add(p+"quantity", fmt.Sprintf("must be between 1 and %d", MaxQuantity))
		}
		ValidateRange(fe, p+"arrival", p+"departure", s.Arrival, s.Departure)
	}
}

// RoomTypes returns the distinct room types of stays, in first-seen order.
func RoomTypes(stays []Stay) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range stays {
		if !seen[s.RoomType] {
			seen[s.RoomType] = true
			out = append(out, s.RoomType)
		}
	}
	return out
}

// StaysOf returns the stays of one room type.
func StaysOf(stays []Stay, roomType string) []Stay {
	var out []Stay
	for _, s := range stays {
		if s.RoomType == roomType {
			out = append(out, s)
		}
	}
	return out
}

// SameStays reports whether a and b ask for the same rooms on the same nights,
// whatever their order or split.
func SameStays(a, b []Stay) bool {
	da, db := demandByRoomType(a), demandByRoomType(b)
	if len(da) != len(db) {
		return false
	}
	for rt, na := range da {
		nb, ok := db[rt]
		if !ok || len(na) != len(nb) {
			return false
		}
		for d, q := range na {
			if nb[d] != q {
				return false
			}
		}
	}
	return true
}

func demandByRoomType(stays []Stay) map[string]map[Date]int32 {
	out := map[string]map[Date]int32{}
	for _, s := range stays {
		m := out[s.RoomType]
		if m == nil {
			m = map[Date]int32{}
			out[s.RoomType] = m
		}
		for d := s.Arrival; d < s.Departure; d++ {
			m[d] += s.Quantity
		}
	}
	return out
}

// Guest is the person a reservation is for.
type Guest struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Validate checks the guest fields, prefixing field names with prefix.
func (g Guest) Validate(fe FieldErrors, prefix string) {
	ValidateText(fe, prefix+"name", g.Name, NameRule)
	ValidateText(fe, prefix+"email", g.Email, EmailRule)
	if g.Email != "" && !emailPattern.MatchString(g.Email) {
		fe.Add(prefix+"email", "must be an email address")
	}
	ValidateText(fe, prefix+"phone", g.Phone, PhoneRule)
}

var emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// Reservation statuses.
const (
	StatusConfirmed = "confirmed"
	StatusCancelled = "cancelled"
)

// Reservation is a confirmed (or cancelled) booking of one or more stays.
type Reservation struct {
	Tenant      string    `json:"-"`
	ID          string    `json:"id"`
	Property    string    `json:"property"`
	Status      string    `json:"status"`
	Stays       []Stay    `json:"stays"`
	Guest       Guest     `json:"guest"`
	Channel     string    `json:"channel"`
	ExternalRef string    `json:"external_ref"`
	TotalPrice  int64     `json:"total_price"`
	Currency    string    `json:"currency"`
	Version     int32     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Primary is the room type whose actor writes this reservation's row; it
	// never changes, even when a modification drops its stays.
	Primary string `json:"-"`
}

// Arrival is the earliest arrival of the reservation's stays.
func (r Reservation) Arrival() Date {
	var a Date
	for i, s := range r.Stays {
		if i == 0 || s.Arrival < a {
			a = s.Arrival
		}
	}
	return a
}

// Hold keeps rooms aside until it is converted, released or expires.
type Hold struct {
	Tenant    string    `json:"-"`
	ID        string    `json:"id"`
	Property  string    `json:"property"`
	Stays     []Stay    `json:"stays"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Hold TTL bounds, in seconds.
const (
	MinHoldTTL = 1
	MaxHoldTTL = 3600
)
