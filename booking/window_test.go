package booking_test

import (
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBookingWindow(t *testing.T) {
	tests := []struct {
		name         string
		zone         string
		late         string
		horizon      int
		now          string // RFC 3339, UTC
		today, first string
		end          string
	}{
		{"before local noon last night is still open", "Europe/Berlin", "", 0, "2026-12-03T10:00:00Z", "2026-12-03", "2026-12-02", "2028-12-02"},
		{"from local noon only today", "Europe/Berlin", "", 0, "2026-12-03T11:00:00Z", "2026-12-03", "2026-12-03", "2028-12-02"},
		{"today is the property's date, not UTC's (east)", "Europe/Berlin", "", 0, "2026-12-03T23:30:00Z", "2026-12-04", "2026-12-03", "2028-12-03"},
		{"today is the property's date, not UTC's (west)", "America/Los_Angeles", "", 0, "2026-12-04T03:30:00Z", "2026-12-03", "2026-12-03", "2028-12-02"},
		{"a day ahead of UTC", "Pacific/Kiritimati", "", 0, "2026-12-03T23:30:00Z", "2026-12-04", "2026-12-04", "2028-12-03"},
		{"00:00 turns late check-in off", "Europe/Berlin", "00:00", 0, "2026-12-02T23:30:00Z", "2026-12-03", "2026-12-03", "2028-12-02"},
		{"a later cut-off", "UTC", "18:30", 0, "2026-12-03T18:29:00Z", "2026-12-03", "2026-12-02", "2028-12-02"},
		{"the cut-off minute itself is today's", "UTC", "18:30", 0, "2026-12-03T18:30:00Z", "2026-12-03", "2026-12-03", "2028-12-02"},
		{"a property's own horizon", "UTC", "", 30, "2026-12-03T15:00:00Z", "2026-12-03", "2026-12-03", "2027-01-02"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			p := booking.Property{Timezone: tc.zone, LateCheckinUntil: tc.late, BookingHorizonDays: tc.horizon}
			w := booking.BookingWindow(p, mustZone(t, tc.zone), now)
			if w.Today != mustDay(tc.today) || w.First != mustDay(tc.first) || w.End != mustDay(tc.end) {
				t.Fatalf("window today %s first %s end %s, want %s %s %s", w.Today, w.First, w.End, tc.today, tc.first, tc.end)
			}
		})
	}
}

func TestWindowChecks(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	p := booking.Property{Timezone: "Europe/Berlin"}
	afternoon := booking.BookingWindow(p, berlin, time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC))
	morning := booking.BookingWindow(p, berlin, time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC))
	stay := func(a, d string) booking.Stay {
		return booking.Stay{RoomType: "dlx", Arrival: mustDay(a), Departure: mustDay(d), Quantity: 1}
	}

	t.Run("stays", func(t *testing.T) {
		tests := []struct {
			name  string
			w     booking.Window
			stays []booking.Stay
			want  []string
			msg   string
		}{
			{"today passes", afternoon, []booking.Stay{stay("2026-12-03", "2026-12-04")}, nil, ""},
			{"the last night of the horizon passes", afternoon, []booking.Stay{stay("2028-12-01", "2028-12-02")}, nil, ""},
			{"yesterday is refused in the afternoon", afternoon, []booking.Stay{stay("2026-12-02", "2026-12-04")}, []string{"stays[0].arrival"},
				"is before the property's today 2026-12-03 (Europe/Berlin)"},
			{"yesterday passes in the morning", morning, []booking.Stay{stay("2026-12-02", "2026-12-04")}, nil, ""},
			{"the day before yesterday is refused in the morning", morning, []booking.Stay{stay("2026-12-01", "2026-12-04")}, []string{"stays[0].arrival"},
				"only last night is still bookable, until 12:00"},
			{"2020 is refused", afternoon, []booking.Stay{stay("2020-01-01", "2020-01-02")}, []string{"stays[0].arrival"}, "before"},
			{"2200 is refused", afternoon, []booking.Stay{stay("2200-01-01", "2200-01-02")}, []string{"stays[0].departure"},
				"is beyond the booking horizon: at most 2028-12-02, 730 days after the property's today 2026-12-03"},
			{"departure one day past the horizon", afternoon, []booking.Stay{stay("2028-12-01", "2028-12-03")}, []string{"stays[0].departure"}, "horizon"},
			{"each stay is named", afternoon, []booking.Stay{stay("2026-12-05", "2026-12-06"), stay("2026-11-01", "2026-11-02")}, []string{"stays[1].arrival"}, ""},
			{"an unparsed (zero) date is left to its own error", afternoon, []booking.Stay{{RoomType: "dlx", Departure: mustDay("2026-12-05"), Quantity: 1}}, nil, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fe := booking.FieldErrors{}
				tc.w.CheckStays(fe, tc.stays)
				wantFields(t, fe.Err(), tc.want...)
				for _, f := range tc.want {
					if !strings.Contains(fe[f], tc.msg) {
						t.Fatalf("%s: %q, want …%s…", f, fe[f], tc.msg)
					}
				}
			})
		}
	})

	t.Run("updates", func(t *testing.T) {
		up := func(from, to string) booking.InventoryUpdate {
			return booking.InventoryUpdate{RoomType: "dlx", From: mustDay(from), To: mustDay(to)}
		}
		fe := booking.FieldErrors{}
		afternoon.CheckUpdates(fe, []booking.InventoryUpdate{up("2026-12-03", "2027-01-01"), up("2026-11-30", "2026-12-10"), up("2028-11-01", "2028-12-03")})
		wantFields(t, fe.Err(), "updates[1].from", "updates[2].to")
	})

	t.Run("modifications", func(t *testing.T) {
		inHouse := []booking.Stay{stay("2026-12-01", "2026-12-05")}
		tests := []struct {
			name      string
			old, next []booking.Stay
			want      []string
		}{
			{"extending a stay in the house passes", inHouse, []booking.Stay{stay("2026-12-01", "2026-12-08")}, nil},
			{"shortening its future passes", inHouse, []booking.Stay{stay("2026-12-01", "2026-12-04")}, nil},
			{"adding a future stay beside it passes", inHouse, []booking.Stay{stay("2026-12-01", "2026-12-05"), stay("2026-12-03", "2026-12-05")}, nil},
			{"moving the arrival further into the past is refused", inHouse, []booking.Stay{stay("2026-11-30", "2026-12-05")}, []string{"stays[0].arrival"}},
			{"more rooms on past nights is refused", inHouse, []booking.Stay{{RoomType: "dlx", Arrival: mustDay("2026-12-01"), Departure: mustDay("2026-12-05"), Quantity: 2}}, []string{"stays[0].arrival"}},
			{"another room type on past nights is refused", inHouse, []booking.Stay{{RoomType: "std", Arrival: mustDay("2026-12-01"), Departure: mustDay("2026-12-05"), Quantity: 1}}, []string{"stays[0].arrival"}},
			{"giving back past nights is refused", inHouse, []booking.Stay{stay("2026-12-03", "2026-12-05")}, []string{"stays"}},
			{"a future reservation moved into the past is refused", []booking.Stay{stay("2026-12-10", "2026-12-12")}, []booking.Stay{stay("2026-12-01", "2026-12-03")}, []string{"stays[0].arrival"}},
			{"a future reservation moved within the future passes", []booking.Stay{stay("2026-12-10", "2026-12-12")}, []booking.Stay{stay("2026-12-20", "2026-12-22")}, nil},
			{"a new stay beyond the horizon is refused", inHouse, []booking.Stay{stay("2026-12-01", "2026-12-05"), stay("2028-12-01", "2028-12-04")}, []string{"stays[1].departure"}},
			{"a kept stay beyond today's horizon may stay", []booking.Stay{stay("2028-12-01", "2028-12-05")}, []booking.Stay{stay("2028-12-01", "2028-12-05"), stay("2026-12-10", "2026-12-11")}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fe := booking.FieldErrors{}
				afternoon.CheckModify(fe, tc.old, tc.next)
				wantFields(t, fe.Err(), tc.want...)
			})
		}
	})
}

func TestPropertyWithDefaults(t *testing.T) {
	p := booking.Property{ID: "p1"}.WithDefaults()
	if p.BookingHorizonDays != 730 || p.LateCheckinUntil != "12:00" {
		t.Fatalf("defaults %d %q, want 730 and 12:00", p.BookingHorizonDays, p.LateCheckinUntil)
	}
	set := booking.Property{BookingHorizonDays: 30, LateCheckinUntil: "00:00"}.WithDefaults()
	if set.BookingHorizonDays != 30 || set.LateCheckinUntil != "00:00" {
		t.Fatalf("WithDefaults changed set values: %+v", set)
	}
}
