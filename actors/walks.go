package actors

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// The coordinator's walks over every room type: the scheduler's jobs and
// start-up.

// WakeHeldRoomTypes activates every room type that has holds, so that holds
// which expired while no node ran are released now, not at the next request.
func (c *Coordinator) WakeHeldRoomTypes(ctx context.Context) (int, error) {
	return c.wakeHolders(ctx, func(persistence.HoldRow) bool { return true })
}

// SweepExpiredHolds wakes every room type that still stores a hold due by
// now: each releases what is due on its own clock. It is the scheduler's
// backstop for a lost expiry timer; it returns how many it woke.
func (c *Coordinator) SweepExpiredHolds(ctx context.Context, now time.Time) (int, error) {
	return c.wakeHolders(ctx, func(h persistence.HoldRow) bool { return !h.ExpiresAt.After(now) })
}

func (c *Coordinator) wakeHolders(ctx context.Context, keep func(persistence.HoldRow) bool) (int, error) {
	parts, err := c.store.LiveHolds(ctx)
	if err != nil {
		return 0, fmt.Errorf("list holds: %w", err)
	}
	woken := map[string]bool{}
	wake := &Command{Op: &Command_Wake{Wake: &Wake{}}}
	for _, p := range parts {
		if !keep(p) {
			continue
		}
		id := Identity(p.Tenant, p.Property, p.RoomType)
		if woken[id] {
			continue
		}
		woken[id] = true
		if _, err := c.call(ctx, p.Tenant, p.Property, p.RoomType, wake); err != nil {
			return len(woken), err
		}
	}
	return len(woken), nil
}

// PruneHistory asks every room type to drop its history before the night
// before: the nights, and the allocations that ended by then (each that
// drops something writes a snapshot and trims its journal). It is the
// scheduler's daily compaction; it goes on past a room type that fails
// and reports the first error after the walk.
func (c *Coordinator) PruneHistory(ctx context.Context, before booking.Date) (roomTypes, nights, allocations int, err error) {
	rts, err := c.store.AllRoomTypes(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("list room types: %w", err)
	}
	prune := &Command{Op: &Command_Prune{Prune: &Prune{Before: int32(before)}}}
	var first error
	for _, rt := range rts {
		if ctx.Err() != nil {
			return roomTypes, nights, allocations, ctx.Err()
		}
		r, err := c.call(ctx, rt.Tenant, rt.Property, rt.ID, prune)
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("prune %s/%s/%s: %w", rt.Tenant, rt.Property, rt.ID, err))
			continue
		}
		if r.NightsChanged > 0 || r.Allocations > 0 {
			roomTypes++
			nights += int(r.NightsChanged)
			allocations += int(r.Allocations)
		}
	}
	return roomTypes, nights, allocations, first
}

// Occupancy reads every property's occupancy for nights nights from its
// own today at now (the daily report): the committed counts of its room
// types, asked of their actors, summed per night; by tenant and property.
func (c *Coordinator) Occupancy(ctx context.Context, now time.Time, nights int) ([]booking.PropertyOccupancy, error) {
	rts, err := c.store.AllRoomTypes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list room types: %w", err)
	}
	var out []booking.PropertyOccupancy
	for i := 0; i < len(rts); {
		j := i
		var ids []string
		for ; j < len(rts) && rts[j].Tenant == rts[i].Tenant && rts[j].Property == rts[i].Property; j++ {
			ids = append(ids, rts[j].ID)
		}
		tenant, property := rts[i].Tenant, rts[i].Property
		i = j
		p, err := c.store.GetProperty(ctx, tenant, property)
		if err != nil {
			return nil, fmt.Errorf("property %s/%s: %w", tenant, property, err)
		}
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			loc = time.UTC // validated when stored; a zone this host lacks reads as UTC
		}
		w := booking.BookingWindow(p, loc, now)
		av, err := c.Availability(ctx, tenant, property, ids, w.Today, w.Today+booking.Date(nights))
		if err != nil {
			return nil, fmt.Errorf("availability of %s/%s: %w", tenant, property, err)
		}
		po := booking.PropertyOccupancy{Tenant: tenant, Property: property, Name: p.Name, Today: w.Today, RoomTypes: len(ids),
			Nights: make([]booking.NightOccupancy, nights)}
		for k := range po.Nights {
			po.Nights[k].Date = w.Today + booking.Date(k)
		}
		for _, rt := range av {
			for k, v := range rt.Nights {
				po.Nights[k].Add(v)
			}
		}
		out = append(out, po)
	}
	return out, nil
}
