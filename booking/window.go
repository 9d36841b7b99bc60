package booking

import (
	"fmt"
	"time"
)

// Window is which nights a new stay may occupy at one instant, in a
// property's own calendar: a night is a local date, so "today" is the date
// in the property's time zone, not the server's.
type Window struct {
	Zone        string // the property's IANA time zone, for messages
	Today       Date   // the property's local date
	First       Date   // the earliest bookable night: Today, or last night before the late check-in cut-off
	End         Date   // the latest departure: Today + HorizonDays; nights First … End-1 are bookable
	HorizonDays int
	LateUntil   string // the late check-in cut-off, HH:MM local
}

// BookingWindow returns p's window at instant now; loc is p's time zone
// (loaded by the caller, so that this stays free of I/O; nil means UTC).
// While the local time is before p's late check-in cut-off, last night is
// still bookable: a guest arriving at 01:00 books the night that began the
// evening before.
func BookingWindow(p Property, loc *time.Location, now time.Time) Window {
	p = p.WithDefaults()
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	w := Window{Zone: p.Timezone, Today: DateOf(local), HorizonDays: p.BookingHorizonDays, LateUntil: p.LateCheckinUntil}
	if w.Zone == "" {
		w.Zone = loc.String()
	}
	w.First = w.Today
	if local.Hour()*60+local.Minute() < clockMinutes(p.LateCheckinUntil) {
		w.First--
	}
	w.End = w.Today + Date(p.BookingHorizonDays)
	return w
}

// clockMinutes reads "HH:MM" as minutes after midnight; anything else is 0
// (no late check-in), which Property.Validate never lets be stored.
func clockMinutes(s string) int {
	if !clockPattern.MatchString(s) {
		return 0
	}
	return int(s[0]-'0')*600 + int(s[1]-'0')*60 + int(s[3]-'0')*10 + int(s[4]-'0')
}

// PastMessage explains why an arrival before First is refused.
func (w Window) PastMessage() string {
	if w.First < w.Today {
		return fmt.Sprintf("is before %s: the property's today is %s (%s) and only last night is still bookable, until %s",
			w.First, w.Today, w.Zone, w.LateUntil)
	}
	return fmt.Sprintf("is before the property's today %s (%s)", w.Today, w.Zone)
}

// HorizonMessage explains why a departure after End is refused.
func (w Window) HorizonMessage() string {
	return fmt.Sprintf("is beyond the booking horizon: at most %s, %d days after the property's today %s (%s)",
		w.End, w.HorizonDays, w.Today, w.Zone)
}

// CheckStays refuses, field by field, stays of a new booking or hold that
// arrive before First or depart after End. Zero dates (ones that did not
// parse) are left to their own errors.
func (w Window) CheckStays(fe FieldErrors, stays []Stay) {
	for i, s := range stays {
		p := fmt.Sprintf("stays[%d].", i)
		if s.Arrival != 0 && s.Arrival < w.First {
			fe.Add(p+"arrival", w.PastMessage())
		}
		if s.Departure != 0 && s.Departure > w.End {
			fe.Add(p+"departure", w.HorizonMessage())
		}
	}
}

// CheckUpdates refuses ARI updates of nights before First or after End-1.
func (w Window) CheckUpdates(fe FieldErrors, updates []InventoryUpdate) {
	for i, u := range updates {
		p := fmt.Sprintf("updates[%d].", i)
		if u.From != 0 && u.From < w.First {
			fe.Add(p+"from", w.PastMessage())
		}
		if u.To != 0 && u.To > w.End {
			fe.Add(p+"to", w.HorizonMessage())
		}
	}
}

// CheckModify applies the window to a modification from stays old to next.
// The past cannot change: the rooms taken on every night before First must
// stay exactly as they are, so a guest in the house may extend a stay
// (keeping its arrival) but no stay can move into, out of or within the
// past. A stay that is new (not one of old) must depart by End; one kept as
// it was may stay, whatever the horizon has become since.
func (w Window) CheckModify(fe FieldErrors, old, next []Stay) {
	if !samePast(old, next, w.First) {
		named := false
		for i, s := range next {
			if s.Arrival != 0 && s.Arrival < w.First {
				fe.Add(fmt.Sprintf("stays[%d].arrival", i), w.PastMessage()+"; nights before it cannot be changed")
				named = true
			}
		}
		if !named {
			fe.Add("stays", fmt.Sprintf("would give back nights before %s, which have passed (the property's today is %s, %s)",
				w.First, w.Today, w.Zone))
		}
	}
	for i, s := range next {
		if s.Departure != 0 && s.Departure > w.End && !containsStay(old, s) {
			fe.Add(fmt.Sprintf("stays[%d].departure", i), w.HorizonMessage())
		}
	}
}

// samePast reports whether a and b take the same rooms on every night
// before first.
func samePast(a, b []Stay, first Date) bool {
	past := func(stays []Stay) map[string]map[Date]int32 {
		m := demandByRoomType(stays)
		for rt, nights := range m {
			for d := range nights {
				if d >= first {
					delete(nights, d)
				}
			}
			if len(nights) == 0 {
				delete(m, rt)
			}
		}
		return m
	}
	pa, pb := past(a), past(b)
	if len(pa) != len(pb) {
		return false
	}
	for rt, na := range pa {
		nb := pb[rt]
		if len(na) != len(nb) {
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

func containsStay(stays []Stay, s Stay) bool {
	for _, o := range stays {
		if o == s {
			return true
		}
	}
	return false
}
