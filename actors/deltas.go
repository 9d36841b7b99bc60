package actors

import (
	"slices"

	"github.com/staylock/staylock/booking"
)

// applyTentative applies e's events to the tentative state, noting first
// which nights they change (for the live deltas and jobs sent after commit).
func (a *inventoryActor) applyTentative(e *entry) {
	for _, ev := range e.events {
		if a.opts.OnCommit != nil || a.opts.Outbox != nil {
			if ev.Kind == booking.EventRoomTypeSet {
				e.all = true
			}
			e.nights = append(e.nights, touched(a.tentative, ev)...)
		}
		a.tentative.Apply(ev)
	}
}

// touched lists the nights ev changes, read before it is applied.
func touched(inv *booking.Inventory, ev booking.Event) []booking.Date {
	var out []booking.Date
	add := func(stays []booking.Stay) {
		for _, s := range stays {
			for d := s.Arrival; d < s.Departure; d++ {
				out = append(out, d)
			}
		}
	}
	add(ev.Stays)
	for _, u := range ev.Updates {
		for d := u.From; d < u.To; d++ {
			out = append(out, d)
		}
	}
	if ev.Reservation != "" {
		add(inv.Allocations[ev.Reservation])
	}
	if ev.Hold != "" {
		add(inv.Holds[ev.Hold].Stays)
	}
	return out
}

// notify reports the nights a committed batch changed.
func (a *inventoryActor) notify(b *batch, prev int64) {
	if a.opts.OnCommit == nil {
		return
	}
	nights, all := changedNights(b, a.committed)
	a.opts.OnCommit(booking.AvailabilityDelta{Tenant: a.tenant, Property: a.property, RoomType: a.roomType,
		PrevSeq: prev, Seq: a.committed.Seq, Nights: nights, AllNights: all, At: a.opts.now()})
}

// changedNights lists the nights b's entries change, with their counts in
// inv (the state after b), sorted by date; all when the room type's
// defaults changed (then every night inv keeps is listed).
func changedNights(b *batch, inv *booking.Inventory) ([]booking.NightView, bool) {
	changed := map[booking.Date]bool{}
	all := false
	for _, e := range b.entries {
		all = all || e.all
		for _, d := range e.nights {
			changed[d] = true
		}
	}
	if all {
		for d := range inv.Nights {
			changed[d] = true
		}
	}
	nights := make([]booking.NightView, 0, len(changed))
	for d := range changed {
		nights = append(nights, inv.View(d))
	}
	slices.SortFunc(nights, func(x, y booking.NightView) int { return int(x.Date - y.Date) })
	return nights, all
}
