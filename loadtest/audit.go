package loadtest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// auditPage is the page size of the reservation listing.
const auditPage = 500

// maxFindings bounds the findings listed (all are counted).
const maxFindings = 100

// Audit is what reading availability and every reservation back found
// after the load. Every count but the first five must be 0.
type Audit struct {
	Skipped bool `json:"skipped"`
	// From and To bound the nights compared (To exclusive).
	From         string `json:"from,omitempty"`
	To           string `json:"to,omitempty"`
	Properties   int    `json:"properties"`
	RoomTypes    int    `json:"room_types"`
	Nights       int    `json:"nights"`       // room-type nights compared
	Reservations int    `json:"reservations"` // read back
	Acknowledged int    `json:"acknowledged"` // 201s the load tester got

	// OversoldNights: booked > total.
	OversoldNights int `json:"oversold_nights"`
	// MismatchedNights: booked differs from the sum of the confirmed
	// reservations' rooms on that night.
	MismatchedNights int `json:"mismatched_nights"`
	// Missing: acknowledged bookings that do not read back confirmed
	// (absent, cancelled without being asked, or a cancel or
	// modification that was acknowledged but is not there).
	Missing int `json:"missing"`
	// DuplicateEffects: one external reference (one idempotency key)
	// confirmed more than once.
	DuplicateEffects int `json:"duplicate_effects"`
	// Error is set when the audit could not read everything back.
	Error string `json:"error,omitempty"`
	// Findings describe the first problems.
	Findings []string `json:"findings"`
}

// Problems is the number of problems found (a failed read counts as one).
func (a Audit) Problems() int {
	n := a.OversoldNights + a.MismatchedNights + a.Missing + a.DuplicateEffects
	if a.Error != "" {
		n++
	}
	return n
}

func (a *Audit) find(format string, args ...any) {
	if len(a.Findings) < maxFindings {
		a.Findings = append(a.Findings, fmt.Sprintf(format, args...))
	}
}

func (a Audit) writeText(b *strings.Builder) {
	if a.Skipped {
		b.WriteString("audit: skipped\n")
		return
	}
	verdict := "OK"
	if a.Problems() > 0 {
		verdict = "FAILED"
	}
	fmt.Fprintf(b, "audit: %d properties, %d room types, %d nights (%s … %s), %d reservations read, %d acknowledged: "+
		"oversold nights %d, booked≠sum of reservations %d, acknowledged-but-missing %d, duplicate effects %d → %s\n",
		a.Properties, a.RoomTypes, a.Nights, a.From, a.To, a.Reservations, a.Acknowledged,
		a.OversoldNights, a.MismatchedNights, a.Missing, a.DuplicateEffects, verdict)
	if a.Error != "" {
		fmt.Fprintf(b, "audit error: %s\n", a.Error)
	}
	for _, f := range a.Findings {
		fmt.Fprintf(b, "  - %s\n", f)
	}
}

type nightKey struct {
	rt rtKey
	d  date
}

// audit reads back availability and every reservation of the properties
// the load touched and checks them against each other and against the
// ledger.
func audit(ctx context.Context, e *Env) Audit {
	var a Audit
	e.mu.Lock()
	touched := make([]rtKey, 0, len(e.touched))
	for k := range e.touched {
		touched = append(touched, k)
	}
	from, to := e.minDate, e.maxDate
	e.mu.Unlock()
	sort.Slice(touched, func(i, j int) bool {
		if touched[i].property != touched[j].property {
			return touched[i].property < touched[j].property
		}
		return touched[i].roomType < touched[j].roomType
	})
	entries := e.ledger.entries()
	a.Acknowledged = len(entries)
	var properties []string
	for _, k := range touched {
		if !slices.Contains(properties, k.property) {
			properties = append(properties, k.property)
		}
	}
	a.Properties, a.RoomTypes = len(properties), len(touched)
	if len(touched) == 0 {
		return a
	}
	a.From, a.To = from.String(), to.String()

	// Every reservation of the touched properties.
	byID := map[string]reservation{}
	confirmedRefs := map[string]int{}
	sums := map[nightKey]int{}
	for _, p := range properties {
		rs, err := listReservations(ctx, e, p)
		if err != nil {
			a.Error = err.Error()
			return a
		}
		for _, r := range rs {
			a.Reservations++
			byID[r.ID] = r
			if r.Status != statusConfirmed {
				continue
			}
			if strings.HasPrefix(r.ExternalRef, e.cfg.Prefix+"-") {
				confirmedRefs[r.ExternalRef]++
			}
			for _, s := range r.Stays {
				for d := max(s.Arrival, from); d < min(s.Departure, to); d++ {
					sums[nightKey{rtKey{p, s.RoomType}, d}] += s.Quantity
				}
			}
		}
	}

	// Availability of every touched room type over the window.
	nights := map[nightKey]night{}
	for _, p := range properties {
		for start := from; start < to; start += maxRangeNights {
			end := min(start+maxRangeNights, to)
			q := url.Values{"from": {start.String()}, "to": {end.String()}}
			var av availability
			if err := e.client.getJSON(ctx, "/v1/properties/"+url.PathEscape(p)+"/availability?"+q.Encode(), &av); err != nil {
				a.Error = err.Error()
				return a
			}
			for _, rt := range av.RoomTypes {
				for _, n := range rt.Nights {
					nights[nightKey{rtKey{p, rt.RoomType}, n.Date}] = n
				}
			}
		}
	}

	for _, k := range touched {
		for d := from; d < to; d++ {
			nk := nightKey{k, d}
			n, ok := nights[nk]
			a.Nights++
			if !ok {
				a.MismatchedNights++
				a.find("%s/%s %s: availability has no such night", k.property, k.roomType, d)
				continue
			}
			if n.Booked > n.Total {
				a.OversoldNights++
				a.find("%s/%s %s: oversold, booked %d of %d rooms", k.property, k.roomType, d, n.Booked, n.Total)
			}
			if sum := sums[nk]; sum != n.Booked {
				a.MismatchedNights++
				a.find("%s/%s %s: booked %d but the confirmed reservations hold %d rooms", k.property, k.roomType, d, n.Booked, sum)
			}
		}
	}

	for _, en := range entries {
		r, ok := byID[en.id]
		switch {
		case !ok:
			a.Missing++
			a.find("reservation %s (%s) was acknowledged with 201 but is not listed", en.id, en.ref)
		case en.cancel == cancelled && r.Status != statusCancelled:
			a.Missing++
			a.find("reservation %s: the cancel was acknowledged but it reads back %s", en.id, r.Status)
		case en.cancel == notCancelled && r.Status != statusConfirmed:
			a.Missing++
			a.find("reservation %s: acknowledged and never cancelled by the load tester, but it reads back %s", en.id, r.Status)
		case r.Status == statusConfirmed && !en.uncertain && !sameStays(en.stays, r.Stays):
			a.Missing++
			a.find("reservation %s: its stays read back as %s, not the acknowledged %s", en.id, staysText(r.Stays), staysText(en.stays))
		}
	}
	refs := make([]string, 0)
	for ref, n := range confirmedRefs {
		if n > 1 {
			refs = append(refs, ref)
		}
	}
	sort.Strings(refs)
	for _, ref := range refs {
		a.DuplicateEffects += confirmedRefs[ref] - 1
		a.find("external reference %s (one idempotency key) is confirmed %d times", ref, confirmedRefs[ref])
	}
	return a
}

// listReservations reads every reservation of a property, page by page.
func listReservations(ctx context.Context, e *Env, property string) ([]reservation, error) {
	var out []reservation
	cursor := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(auditPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page reservationPage
		if err := e.client.getJSON(ctx, reservationsPath(property)+"?"+q.Encode(), &page); err != nil {
			return nil, fmt.Errorf("list the reservations of %s: %w", property, err)
		}
		out = append(out, page.Reservations...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out, nil
		}
		if *page.NextCursor == cursor {
			return nil, fmt.Errorf("list the reservations of %s: the cursor does not advance", property)
		}
		cursor = *page.NextCursor
	}
}

// sameStays: the same rooms on the same nights, whatever the order.
func sameStays(a, b []stay) bool {
	demand := func(ss []stay) map[nightKey]int {
		m := map[nightKey]int{}
		for _, s := range ss {
			for d := s.Arrival; d < s.Departure; d++ {
				m[nightKey{rtKey{"", s.RoomType}, d}] += s.Quantity
			}
		}
		return m
	}
	da, db := demand(a), demand(b)
	if len(da) != len(db) {
		return false
	}
	for k, v := range da {
		if db[k] != v {
			return false
		}
	}
	return true
}

func staysText(ss []stay) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%d×%s %s…%s", s.Quantity, s.RoomType, s.Arrival, s.Departure)
	}
	return strings.Join(parts, ", ")
}
