package booking_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/staylock/staylock/booking"
)

// fieldsOf returns the sorted field names of an invalid_request error, or nil
// for a nil error. It fails the test for any other error.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *booking.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *booking.Error", err, err)
	}
	if e.Code != booking.CodeInvalid {
		t.Fatalf("code %s, want %s", e.Code, booking.CodeInvalid)
	}
	fields, ok := e.Details["fields"].(map[string]string)
	if !ok {
		t.Fatalf("details %v have no fields map", e.Details)
	}
	return slices.Sorted(maps.Keys(fields))
}

func wantFields(t *testing.T, err error, want ...string) {
	t.Helper()
	got := fieldsOf(t, err)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("bad fields %v, want %v (error: %v)", got, want, err)
	}
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"a", "0", "p1", "hotel-one", "dlx_2", "a" + strings.Repeat("b", 63)} {
		if !booking.ValidID(ok) {
			t.Errorf("ValidID(%q) = false, want true", ok)
		}
	}
	for _, bad := range []string{"", "-a", "_a", "A", "hotelOne", "a b", "a.b", "a/b", "ä", "a" + strings.Repeat("b", 64), "a\n"} {
		if booking.ValidID(bad) {
			t.Errorf("ValidID(%q) = true, want false", bad)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, s := range []string{"admin", "channel", "viewer"} {
		r, err := booking.ParseRole(s)
		if err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "Admin", "root", "viewer "} {
		if r, err := booking.ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", s, r)
		}
	}
}

func TestValidateStays(t *testing.T) {
	a := mustDay("2026-12-01")
	good := booking.Stay{RoomType: "dlx", Arrival: a, Departure: a + 2, Quantity: 1}
	with := func(f func(*booking.Stay)) booking.Stay {
		s := good
		f(&s)
		return s
	}
	many := make([]booking.Stay, booking.MaxStays+1)
	for i := range many {
		many[i] = good
	}
	tests := []struct {
		name  string
		stays []booking.Stay
		want  []string
	}{
		{"one good stay passes", []booking.Stay{good}, nil},
		{"several room types pass", []booking.Stay{good, with(func(s *booking.Stay) { s.RoomType = "std" })}, nil},
		{"50 stays pass", many[:booking.MaxStays], nil},
		{"quantity 1000 passes", []booking.Stay{with(func(s *booking.Stay) { s.Quantity = booking.MaxQuantity })}, nil},
		{"400 nights pass", []booking.Stay{with(func(s *booking.Stay) { s.Departure = a + 400 })}, nil},
		{"no stays", nil, []string{"stays"}},
		{"empty stays", []booking.Stay{}, []string{"stays"}},
		{"51 stays", many, []string{"stays"}},
		{"zero quantity", []booking.Stay{good, with(func(s *booking.Stay) { s.Quantity = 0 })}, []string{"stays[1].quantity"}},
		{"negative quantity", []booking.Stay{with(func(s *booking.Stay) { s.Quantity = -1 })}, []string{"stays[0].quantity"}},
		{"quantity 1001", []booking.Stay{with(func(s *booking.Stay) { s.Quantity = booking.MaxQuantity + 1 })}, []string{"stays[0].quantity"}},
		{"bad room type", []booking.Stay{with(func(s *booking.Stay) { s.RoomType = "Deluxe Room" })}, []string{"stays[0].room_type"}},
		{"missing room type", []booking.Stay{with(func(s *booking.Stay) { s.RoomType = "" })}, []string{"stays[0].room_type"}},
		{"departure on arrival", []booking.Stay{with(func(s *booking.Stay) { s.Departure = a })}, []string{"stays[0].departure"}},
		{"departure before arrival", []booking.Stay{with(func(s *booking.Stay) { s.Departure = a - 1 })}, []string{"stays[0].departure"}},
		{"401 nights", []booking.Stay{with(func(s *booking.Stay) { s.Departure = a + 401 })}, []string{"stays[0].departure"}},
		{"every problem of every stay is named", []booking.Stay{
			with(func(s *booking.Stay) { s.RoomType, s.Quantity = "X", 0 }),
			good,
			with(func(s *booking.Stay) { s.Departure = a }),
		}, []string{"stays[0].room_type", "stays[0].quantity", "stays[2].departure"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := booking.FieldErrors{}
			booking.ValidateStays(fe, tc.stays)
			wantFields(t, fe.Err(), tc.want...)
		})
	}
}

func TestPropertyValidate(t *testing.T) {
	good := booking.Property{ID: "p1", Name: "Hotel One", Timezone: "Europe/Berlin", Currency: "EUR"}.WithDefaults()
	tests := []struct {
		name string
		edit func(*booking.Property)
		want []string
	}{
		{"a good property passes", func(*booking.Property) {}, nil},
		{"UTC passes", func(p *booking.Property) { p.Timezone = "UTC" }, nil},
		{"200 character name passes", func(p *booking.Property) { p.Name = strings.Repeat("n", 200) }, nil},
		{"bad id", func(p *booking.Property) { p.ID = "P1" }, []string{"property"}},
		{"empty id", func(p *booking.Property) { p.ID = "" }, []string{"property"}},
		{"empty name", func(p *booking.Property) { p.Name = "" }, []string{"name"}},
		{"201 character name", func(p *booking.Property) { p.Name = strings.Repeat("n", 201) }, []string{"name"}},
		{"200 characters of a 3-byte script pass", func(p *booking.Property) { p.Name = strings.Repeat("東", 200) }, nil},
		{"NUL in the name", func(p *booking.Property) { p.Name = "A\x00B" }, []string{"name"}},
		{"invalid UTF-8 in the name", func(p *booking.Property) { p.Name = "A\xffB" }, []string{"name"}},
		{"blank name", func(p *booking.Property) { p.Name = "  " }, []string{"name"}},
		{"missing timezone", func(p *booking.Property) { p.Timezone = "" }, []string{"timezone"}},
		{"unknown timezone", func(p *booking.Property) { p.Timezone = "Mars/Olympus_Mons" }, []string{"timezone"}},
		{"path as timezone", func(p *booking.Property) { p.Timezone = "../../etc/passwd" }, []string{"timezone"}},
		{"Local is not an IANA zone", func(p *booking.Property) { p.Timezone = "Local" }, []string{"timezone"}},
		{"lower case currency", func(p *booking.Property) { p.Currency = "eur" }, []string{"currency"}},
		{"short currency", func(p *booking.Property) { p.Currency = "EU" }, []string{"currency"}},
		{"long currency", func(p *booking.Property) { p.Currency = "EURO" }, []string{"currency"}},
		{"a one-day horizon passes", func(p *booking.Property) { p.BookingHorizonDays = 1 }, nil},
		{"a ten-year horizon passes", func(p *booking.Property) { p.BookingHorizonDays = booking.MaxBookingHorizonDays }, nil},
		{"no late check-in passes", func(p *booking.Property) { p.LateCheckinUntil = "00:00" }, nil},
		{"23:59 passes", func(p *booking.Property) { p.LateCheckinUntil = "23:59" }, nil},
		{"zero horizon", func(p *booking.Property) { p.BookingHorizonDays = 0 }, []string{"booking_horizon_days"}},
		{"negative horizon", func(p *booking.Property) { p.BookingHorizonDays = -1 }, []string{"booking_horizon_days"}},
		{"horizon over ten years", func(p *booking.Property) { p.BookingHorizonDays = booking.MaxBookingHorizonDays + 1 }, []string{"booking_horizon_days"}},
		{"24:00", func(p *booking.Property) { p.LateCheckinUntil = "24:00" }, []string{"late_checkin_until"}},
		{"a time without leading zero", func(p *booking.Property) { p.LateCheckinUntil = "9:00" }, []string{"late_checkin_until"}},
		{"a time with seconds", func(p *booking.Property) { p.LateCheckinUntil = "12:00:00" }, []string{"late_checkin_until"}},
		{"everything wrong", func(p *booking.Property) { *p = booking.Property{LateCheckinUntil: "noon"} },
			[]string{"property", "name", "timezone", "currency", "booking_horizon_days", "late_checkin_until"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.edit(&p)
			wantFields(t, p.Validate(), tc.want...)
		})
	}
}

func TestRoomTypeValidate(t *testing.T) {
	good := booking.RoomType{Property: "p1", ID: "dlx", Name: "Deluxe", Rooms: 10, Price: 12900}
	tests := []struct {
		name string
		edit func(*booking.RoomType)
		want []string
	}{
		{"a good room type passes", func(*booking.RoomType) {}, nil},
		{"zero rooms and a free room pass", func(r *booking.RoomType) { r.Rooms, r.Price = 0, 0 }, nil},
		{"100000 rooms pass", func(r *booking.RoomType) { r.Rooms = booking.MaxRooms }, nil},
		{"bad id", func(r *booking.RoomType) { r.ID = "Deluxe" }, []string{"room_type"}},
		{"empty name", func(r *booking.RoomType) { r.Name = "" }, []string{"name"}},
		{"long name", func(r *booking.RoomType) { r.Name = strings.Repeat("x", 201) }, []string{"name"}},
		{"NUL in the name", func(r *booking.RoomType) { r.Name = "Dlx\x00" }, []string{"name"}},
		{"control character in the name", func(r *booking.RoomType) { r.Name = "Dlx\x1b[0m" }, []string{"name"}},
		{"negative rooms", func(r *booking.RoomType) { r.Rooms = -1 }, []string{"rooms"}},
		{"too many rooms", func(r *booking.RoomType) { r.Rooms = booking.MaxRooms + 1 }, []string{"rooms"}},
		{"negative price", func(r *booking.RoomType) { r.Price = -1 }, []string{"price"}},
		{"everything wrong", func(r *booking.RoomType) { r.ID, r.Name, r.Rooms, r.Price = "", "", -5, -5 },
			[]string{"room_type", "name", "rooms", "price"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			wantFields(t, r.Validate(), tc.want...)
		})
	}
}

func TestGuestValidate(t *testing.T) {
	tests := []struct {
		name  string
		guest booking.Guest
		want  []string
	}{
		{"name and email pass", booking.Guest{Name: "Ada Lovelace", Email: "ada@example.com"}, nil},
		{"name alone passes", booking.Guest{Name: "Ada"}, nil},
		{"phone passes", booking.Guest{Name: "Ada", Phone: "+44 20 7946 0000"}, nil},
		{"missing name", booking.Guest{Email: "ada@example.com"}, []string{"guest.name"}},
		{"long name", booking.Guest{Name: strings.Repeat("a", 201)}, []string{"guest.name"}},
		{"email without at", booking.Guest{Name: "Ada", Email: "ada.example.com"}, []string{"guest.email"}},
		{"email without domain dot", booking.Guest{Name: "Ada", Email: "ada@example"}, []string{"guest.email"}},
		{"email with space", booking.Guest{Name: "Ada", Email: "ada lovelace@example.com"}, []string{"guest.email"}},
		{"email with two ats", booking.Guest{Name: "Ada", Email: "a@b@example.com"}, []string{"guest.email"}},
		{"email too long", booking.Guest{Name: "Ada", Email: strings.Repeat("a", 250) + "@b.de"}, []string{"guest.email"}},
		{"phone too long", booking.Guest{Name: "Ada", Phone: strings.Repeat("1", 51)}, []string{"guest.phone"}},
		{"200 characters of a 2-byte script pass", booking.Guest{Name: strings.Repeat("é", 200)}, nil},
		{"NUL in the name", booking.Guest{Name: "A\x00B"}, []string{"guest.name"}},
		{"invalid UTF-8 in the name", booking.Guest{Name: "A\xffB"}, []string{"guest.name"}},
		{"NUL in the phone", booking.Guest{Name: "Ada", Phone: "+44\x00"}, []string{"guest.phone"}},
		{"NUL in the email", booking.Guest{Name: "Ada", Email: "a\x00@b.de"}, []string{"guest.email"}},
		{"line break in the name", booking.Guest{Name: "Ada\nLovelace"}, []string{"guest.name"}},
		{"noncharacter in the phone", booking.Guest{Name: "Ada", Phone: "1\uffff"}, []string{"guest.phone"}},
		{"all wrong", booking.Guest{Email: "x", Phone: strings.Repeat("1", 51)}, []string{"guest.name", "guest.email", "guest.phone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := booking.FieldErrors{}
			tc.guest.Validate(fe, "guest.")
			wantFields(t, fe.Err(), tc.want...)
		})
	}
}

func TestInventoryUpdateValidate(t *testing.T) {
	from := mustDay("2026-12-01")
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	yes := true
	good := booking.InventoryUpdate{RoomType: "dlx", From: from, To: from + 30}
	tests := []struct {
		name string
		edit func(*booking.InventoryUpdate)
		want []string
	}{
		{"only the range passes", func(*booking.InventoryUpdate) {}, nil},
		{"every field passes", func(u *booking.InventoryUpdate) {
			u.Total, u.Price, u.StopSell, u.MinStay = i32(12), i64(13900), &yes, i32(2)
		}, nil},
		{"bounds pass", func(u *booking.InventoryUpdate) {
			u.Total, u.Price, u.MinStay, u.To = i32(booking.MaxRooms), i64(0), i32(booking.MaxRangeNights), u.From+booking.MaxRangeNights
		}, nil},
		{"zero total passes", func(u *booking.InventoryUpdate) { u.Total = i32(0) }, nil},
		{"bad room type", func(u *booking.InventoryUpdate) { u.RoomType = "" }, []string{"updates[3].room_type"}},
		{"empty range", func(u *booking.InventoryUpdate) { u.To = u.From }, []string{"updates[3].to"}},
		{"401 nights", func(u *booking.InventoryUpdate) { u.To = u.From + 401 }, []string{"updates[3].to"}},
		{"negative total", func(u *booking.InventoryUpdate) { u.Total = i32(-1) }, []string{"updates[3].total"}},
		{"total over the maximum", func(u *booking.InventoryUpdate) { u.Total = i32(booking.MaxRooms + 1) }, []string{"updates[3].total"}},
		{"negative price", func(u *booking.InventoryUpdate) { u.Price = i64(-1) }, []string{"updates[3].price"}},
		{"min stay 0", func(u *booking.InventoryUpdate) { u.MinStay = i32(0) }, []string{"updates[3].min_stay"}},
		{"min stay 401", func(u *booking.InventoryUpdate) { u.MinStay = i32(401) }, []string{"updates[3].min_stay"}},
		{"all wrong", func(u *booking.InventoryUpdate) {
			*u = booking.InventoryUpdate{RoomType: "A", From: from, To: from - 1, Total: i32(-1), Price: i64(-1), MinStay: i32(-1)}
		}, []string{"updates[3].room_type", "updates[3].to", "updates[3].total", "updates[3].price", "updates[3].min_stay"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := good
			tc.edit(&u)
			fe := booking.FieldErrors{}
			u.Validate(fe, "updates[3].")
			wantFields(t, fe.Err(), tc.want...)
		})
	}
}

func TestFieldErrors(t *testing.T) {
	fe := booking.FieldErrors{}
	if err := fe.Err(); err != nil {
		t.Fatalf("empty FieldErrors.Err() = %v, want nil", err)
	}
	fe.Add("b", "first")
	fe.Add("b", "second")
	fe.Add("a", "bad a")
	err := fe.Err()
	var e *booking.Error
	if !errors.As(err, &e) {
		t.Fatalf("Err() = %T", err)
	}
	if e.Message != "2 invalid fields, first a: bad a" {
		t.Fatalf("message %q", e.Message)
	}
	fields := e.Details["fields"].(map[string]string)
	if fields["b"] != "first" {
		t.Fatalf("fields %v: the first message per field must stay", fields)
	}
	// The error's fields are a copy: later additions do not leak into it.
	fe.Add("c", "late")
	if _, ok := fields["c"]; ok {
		t.Fatal("error details share the FieldErrors map")
	}
	b, _ := json.Marshal(e)
	if !strings.Contains(string(b), `"code":"invalid_request"`) || !strings.Contains(string(b), `"details":{"fields":{"a":"bad a","b":"first"}}`) {
		t.Fatalf("JSON %s", b)
	}
}

func TestErrorCode(t *testing.T) {
	if got := booking.ErrorCode(booking.Errorf(booking.CodeConflict, "x %d", 1)); got != booking.CodeConflict {
		t.Fatalf("ErrorCode = %s", got)
	}
	wrapped := fmt.Errorf("decide: %w", booking.Errorf(booking.CodeSoldOut, "full"))
	if got := booking.ErrorCode(wrapped); got != booking.CodeSoldOut {
		t.Fatalf("ErrorCode(wrapped) = %s", got)
	}
	if got := booking.ErrorCode(errors.New("boom")); got != booking.CodeInternal {
		t.Fatalf("ErrorCode(plain) = %s", got)
	}
	e := booking.Errorf(booking.CodeNotFound, "room type %s not found", "dlx")
	if e.Error() != "not_found: room type dlx not found" {
		t.Fatalf("Error() = %q", e.Error())
	}
	b, _ := json.Marshal(e)
	if string(b) != `{"code":"not_found","message":"room type dlx not found"}` {
		t.Fatalf("JSON %s (details must be omitted when empty)", b)
	}
}

func TestSoldOutError(t *testing.T) {
	e := booking.SoldOut("dlx", []booking.Date{mustDay("2026-12-01"), mustDay("2026-12-03")})
	if e.Code != booking.CodeSoldOut {
		t.Fatalf("code %s", e.Code)
	}
	b, _ := json.Marshal(e.Details)
	if string(b) != `{"nights":["2026-12-01","2026-12-03"],"room_type":"dlx"}` {
		t.Fatalf("details %s", b)
	}
}

func TestSameStays(t *testing.T) {
	a := mustDay("2026-12-01")
	st := func(rt string, arr, dep booking.Date, q int32) booking.Stay {
		return booking.Stay{RoomType: rt, Arrival: arr, Departure: dep, Quantity: q}
	}
	tests := []struct {
		name string
		x, y []booking.Stay
		want bool
	}{
		{"identical", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a, a+2, 1)}, true},
		{"reordered", []booking.Stay{st("dlx", a, a+2, 1), st("std", a, a+1, 2)},
			[]booking.Stay{st("std", a, a+1, 2), st("dlx", a, a+2, 1)}, true},
		{"split by nights", []booking.Stay{st("dlx", a, a+3, 1)},
			[]booking.Stay{st("dlx", a, a+1, 1), st("dlx", a+1, a+3, 1)}, true},
		{"split by quantity", []booking.Stay{st("dlx", a, a+2, 2)},
			[]booking.Stay{st("dlx", a, a+2, 1), st("dlx", a, a+2, 1)}, true},
		{"both empty", nil, []booking.Stay{}, true},
		{"one empty", nil, []booking.Stay{st("dlx", a, a+1, 1)}, false},
		{"other room type", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("std", a, a+2, 1)}, false},
		{"extra room type", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a, a+2, 1), st("std", a, a+2, 1)}, false},
		{"other nights", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a+1, a+3, 1)}, false},
		{"one night more", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a, a+3, 1)}, false},
		{"other quantity", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a, a+2, 2)}, false},
		{"same room-nights, other shape", []booking.Stay{st("dlx", a, a+2, 1)}, []booking.Stay{st("dlx", a, a+1, 2)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := booking.SameStays(tc.x, tc.y); got != tc.want {
				t.Fatalf("SameStays(x, y) = %v, want %v", got, tc.want)
			}
			if got := booking.SameStays(tc.y, tc.x); got != tc.want {
				t.Fatalf("SameStays(y, x) = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStayHelpers(t *testing.T) {
	a := mustDay("2026-12-01")
	stays := []booking.Stay{
		{RoomType: "dlx", Arrival: a + 2, Departure: a + 5, Quantity: 1},
		{RoomType: "std", Arrival: a, Departure: a + 1, Quantity: 2},
		{RoomType: "dlx", Arrival: a + 1, Departure: a + 2, Quantity: 1},
	}
	if got := stays[0].Nights(); got != 3 {
		t.Fatalf("Nights() = %d", got)
	}
	if got := booking.RoomTypes(stays); !slices.Equal(got, []string{"dlx", "std"}) {
		t.Fatalf("RoomTypes = %v", got)
	}
	if got := booking.StaysOf(stays, "dlx"); !slices.Equal(got, []booking.Stay{stays[0], stays[2]}) {
		t.Fatalf("StaysOf(dlx) = %v", got)
	}
	if got := booking.StaysOf(stays, "ste"); got != nil {
		t.Fatalf("StaysOf(ste) = %v", got)
	}
	if got := (booking.Reservation{Stays: stays}).Arrival(); got != a {
		t.Fatalf("Arrival() = %v, want %v", got, a)
	}
	if got := (booking.Reservation{}).Arrival(); got != 0 {
		t.Fatalf("Arrival() of no stays = %v", got)
	}
}

func TestReservationJSON(t *testing.T) {
	a := mustDay("2026-12-01")
	r := booking.Reservation{Tenant: "t1", ID: "r1", Property: "p1", Status: booking.StatusConfirmed,
		Stays:   []booking.Stay{{RoomType: "dlx", Arrival: a, Departure: a + 2, Quantity: 1}},
		Guest:   booking.Guest{Name: "Ada"},
		Channel: "booking.com", Currency: "EUR", Version: 1, Primary: "dlx"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"channel", "created_at", "currency", "external_ref", "guest", "id", "property", "status", "stays", "total_price", "updated_at", "version"}
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, want) {
		t.Fatalf("reservation JSON keys %v, want %v", got, want)
	}
	stay := m["stays"].([]any)[0].(map[string]any)
	if stay["arrival"] != "2026-12-01" || stay["departure"] != "2026-12-03" {
		t.Fatalf("stay JSON %v", stay)
	}
}
