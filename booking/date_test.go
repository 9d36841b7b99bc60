package booking_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone database, also where the OS has none

	"github.com/staylock/staylock/booking"
)

// mustDay parses s or panics; for table literals only.
func mustDay(s string) booking.Date {
	d, err := booking.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseDate(t *testing.T) {
	valid := []struct {
		in   string
		want booking.Date
	}{
		{"2000-01-01", 10957}, // lower bound: 30*365 + 7 leap days after 1970
		{"2000-01-02", 10958},
		{"2026-12-01", booking.DateOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
		{"2024-02-29", booking.DateOf(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC))},
		{"2000-02-29", booking.DateOf(time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC))},
		{"2026-12-31", booking.DateOf(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))},
		{"2200-12-31", booking.DateOf(time.Date(2200, 12, 31, 0, 0, 0, 0, time.UTC))}, // upper bound
	}
	for _, tc := range valid {
		t.Run("accepts "+tc.in, func(t *testing.T) {
			got, err := booking.ParseDate(tc.in)
			if err != nil {
				t.Fatalf("ParseDate(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseDate(%q) = %d, want %d", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}

	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"single digit day", "2026-12-1"},
		{"single digit month", "2026-1-01"},
		{"single digit month padded with a space", "2026- 1-01"},
		{"slashes", "2026/12/01"},
		{"dots", "2026.12.01"},
		{"day first", "01-12-2026"},
		{"with time", "2026-12-01T00:00:00Z"},
		{"with offset", "2026-12-01+01"},
		{"leading space", " 2026-12-01"},
		{"trailing space", "2026-12-01 "},
		{"trailing newline", "2026-12-01\n"},
		{"signed year", "+026-12-01"},
		{"negative year", "-026-12-01"},
		{"five digit year", "20260-12-01"},
		{"two digit year", "26-12-01"},
		{"letters", "abcd-ef-gh"},
		{"full-width digits", "２０２６-12-01"},
		{"february 30", "2026-02-30"},
		{"february 29 of a common year", "2026-02-29"},
		{"february 29 of 2100 (not leap)", "2100-02-29"},
		{"april 31", "2026-04-31"},
		{"day 32", "2026-12-32"},
		{"day 0", "2026-12-00"},
		{"month 0", "2026-00-10"},
		{"month 13", "2026-13-01"},
		{"before 2000", "1999-12-31"},
		{"epoch", "1970-01-01"},
		{"after 2200", "2201-01-01"},
		{"year 9999", "9999-12-31"},
	}
	for _, tc := range invalid {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			if d, err := booking.ParseDate(tc.in); err == nil {
				t.Fatalf("ParseDate(%q) = %v, want an error", tc.in, d)
			}
		})
	}
}

func TestDateOf(t *testing.T) {
	auckland, err := time.LoadLocation("Pacific/Auckland")
	if err != nil {
		t.Fatalf("tzdata: %v", err)
	}
	// 05:00 on 1 December in Auckland is still 30 November in UTC: the
	// calendar date in t's own location is what counts.
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, auckland)
	if got, want := booking.DateOf(at), mustDay("2026-12-01"); got != want {
		t.Fatalf("DateOf(%v) = %v, want %v", at, got, want)
	}
	if got, want := booking.DateOf(at.UTC()), mustDay("2026-11-30"); got != want {
		t.Fatalf("DateOf(%v) = %v, want %v", at.UTC(), got, want)
	}
	if got := booking.DateOf(time.Date(2026, 12, 1, 23, 59, 59, 999, time.UTC)); got != mustDay("2026-12-01") {
		t.Fatalf("DateOf(last instant of the day) = %v", got)
	}
}

func TestDateTimeAndArithmetic(t *testing.T) {
	d := mustDay("2026-12-31")
	if got, want := d.Time(), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("Time() = %v, want %v", got, want)
	}
	if got := (d + 1).String(); got != "2027-01-01" {
		t.Fatalf("the night after 2026-12-31 = %s", got)
	}
	if got := mustDay("2024-03-01") - mustDay("2024-02-28"); got != 2 {
		t.Fatalf("nights from 2024-02-28 to 2024-03-01 = %d, want 2 (leap year)", got)
	}
}

func TestDateJSON(t *testing.T) {
	type wrap struct {
		D booking.Date `json:"d"`
	}
	b, err := json.Marshal(wrap{D: mustDay("2026-12-01")})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"2026-12-01"}` {
		t.Fatalf("Marshal = %s", b)
	}
	var w wrap
	if err := json.Unmarshal([]byte(`{"d":"2026-02-28"}`), &w); err != nil {
		t.Fatal(err)
	}
	if w.D != mustDay("2026-02-28") {
		t.Fatalf("Unmarshal = %v", w.D)
	}
	for _, bad := range []string{`{"d":"2026-02-30"}`, `{"d":"2026-2-3"}`, `{"d":20261201}`, `{"d":""}`, `{"d":"1999-01-01"}`} {
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, w.D)
		}
	}
	// Dates as map keys (the snapshot's nights) are strings too.
	m := map[booking.Date]int{mustDay("2026-12-01"): 1}
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"2026-12-01":1}` {
		t.Fatalf("Marshal(map) = %s", b)
	}
	var back map[booking.Date]int
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back[mustDay("2026-12-01")] != 1 || len(back) != 1 {
		t.Fatalf("Unmarshal(map) = %v", back)
	}
}

func TestValidateRange(t *testing.T) {
	from := mustDay("2026-12-01")
	tests := []struct {
		name    string
		to      booking.Date
		wantBad bool
		wantMsg string
	}{
		{"one night is fine", from + 1, false, ""},
		{"400 nights is fine", from + booking.MaxRangeNights, false, ""},
		{"empty range is refused", from, true, "must be after from"},
		{"backwards range is refused", from - 3, true, "must be after from"},
		{"401 nights is refused", from + booking.MaxRangeNights + 1, true, "at most 400"},
		{"a year and a half is refused", from + 548, true, "range is 548 nights"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fe := booking.FieldErrors{}
			booking.ValidateRange(fe, "from", "to", from, tc.to)
			if !tc.wantBad {
				if len(fe) != 0 {
					t.Fatalf("errors %v, want none", fe)
				}
				return
			}
			if len(fe) != 1 {
				t.Fatalf("errors %v, want exactly one on to", fe)
			}
			if msg, ok := fe["to"]; !ok || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("errors %v, want to: …%s…", fe, tc.wantMsg)
			}
		})
	}
}

// A bound that did not parse is zero: its own field says why, and no range
// is measured from 1970 (a date of 2027-02-30 once also reported "range is
// 20878 nights").
func TestValidateRangeWithAnUnparsedBound(t *testing.T) {
	to := mustDay("2027-03-02")
	t.Run("parse error stays the only problem", func(t *testing.T) {
		fe := booking.FieldErrors{}
		fe.Add("from", "want a real date as YYYY-MM-DD, got \"2027-02-30\"")
		booking.ValidateRange(fe, "from", "to", 0, to)
		if len(fe) != 1 || !strings.Contains(fe["from"], "2027-02-30") {
			t.Fatalf("errors %v, want only the parse error of from", fe)
		}
	})
	t.Run("a zero bound alone is named, not the other", func(t *testing.T) {
		fe := booking.FieldErrors{}
		booking.ValidateRange(fe, "from", "to", to, 0)
		if _, ok := fe["to"]; len(fe) != 1 || !ok {
			t.Fatalf("errors %v, want exactly one on to", fe)
		}
	})
	t.Run("stays name the bad date alone", func(t *testing.T) {
		fe := booking.FieldErrors{}
		fe.Add("stays[0].arrival", "want a real date as YYYY-MM-DD, got \"2027-02-30\"")
		booking.ValidateStays(fe, []booking.Stay{{RoomType: "dlx", Departure: to, Quantity: 1}})
		if len(fe) != 1 {
			t.Fatalf("errors %v, want only stays[0].arrival", fe)
		}
	})
}
