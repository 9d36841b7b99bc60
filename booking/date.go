package booking

import (
	"fmt"
	"time"
)

// Date is one night, counted in days since 1970-01-01. A night is a calendar
// date without a time zone: the property's time zone only matters for "today".
type Date int32

// MaxRangeNights is the longest range a query or an update may cover.
const MaxRangeNights = 400

const dateLayout = "2006-01-02"

// ParseDate parses YYYY-MM-DD strictly (no time, no offset, real calendar day).
func ParseDate(s string) (Date, error) {
	if len(s) != len(dateLayout) {
		return 0, fmt.Errorf("want a date as YYYY-MM-DD, got %q", s)
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return 0, fmt.Errorf("want a real date as YYYY-MM-DD, got %q", s)
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return 0, fmt.Errorf("date %q is outside the years 2000-2200", s)
	}
	return DateOf(t), nil
}

// DateOf returns the night that t's calendar date (in t's location) names.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Time returns midnight UTC of the date.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(dateLayout) }

// MarshalText makes a Date a "YYYY-MM-DD" string in JSON.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses "YYYY-MM-DD".
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ValidateRange checks a half-open night range [from, to) named by its two
// fields, and records problems in fe. A zero bound is a date that was
// missing or did not parse (ParseDate never returns 1970-01-01): its own
// field carries that problem, and no range is measured from it, which would
// add a second, bogus error ("range is 20878 nights").
func ValidateRange(fe FieldErrors, fromField, toField string, from, to Date) {
	if from == 0 || to == 0 {
		if from == 0 {
			fe.Add(fromField, "is required, as YYYY-MM-DD")
		}
		if to == 0 {
			fe.Add(toField, "is required, as YYYY-MM-DD")
		}
		return
	}
	switch {
	case to <= from:
		fe.Add(toField, fmt.Sprintf("must be after %s", fromField))
	case int(to-from) > MaxRangeNights:
		fe.Add(toField, fmt.Sprintf("range is %d nights, at most %d allowed", int(to-from), MaxRangeNights))
	}
}
