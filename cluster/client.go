package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Client is the one typed way into the actors. protoactor-go's own cluster
// calls retry by default, also after a timeout (which may have committed),
// share a mutable default call config, and look a PID up with a fixed 5 s
// wait whatever the caller's deadline; this client does none of that. Each
// call has one deadline (the caller's context, capped by the request
// timeout) that bounds the lookup and the request alike, and a call is
// sent again only when the first try provably did nothing (a dead letter,
// the actor's explicit "not committed", a member that was not there) or
// when doing it twice is harmless (a read, or a write that carries its
// idempotency key: the key's record, completed in the same transaction as
// the change, makes a second execution impossible). A timeout is
// ErrMaybeDone: the gateway answers 503 and the client retries with its key.
type Client struct {
	store   persistence.Store
	router  *router
	guard   *guard
	m       *metrics
	timeout time.Duration
	log     *zap.Logger
	now     func() time.Time
	ready   func(context.Context) error
}

// ErrMaybeDone is returned when an actor did not answer in time: the change
// may or may not have been made. Retrying with the same idempotency key is
// safe.
var ErrMaybeDone = errors.New("no answer in time: the change may or may not have been made; retry with the same Idempotency-Key")

// maxNotCommitted bounds the tries of a call whose actor keeps answering
// "not committed" (a store that refuses every commit).
const maxNotCommitted = 5

// Backoff between tries: doubling from backoffMin up to backoffMax, with
// jitter, always within the call's deadline.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = 250 * time.Millisecond
)

// HoldTTLForCoordination bounds the holds a multi-room-type reservation
// takes before it confirms; a coordinator that dies leaves them for this long.
const HoldTTLForCoordination = 2 * time.Minute

// Ready reports whether the actor system serves.
func (c *Client) Ready(ctx context.Context) error { return c.ready(ctx) }

// call sends cmd to the actor of one room type and maps its answer; the one
// place where cluster outcomes become API errors.
func (c *Client) call(ctx context.Context, tenant, property, roomType string, cmd *actors.Command) (*actors.Reply, error) {
	identity := actors.Identity(tenant, property, roomType)
	deadline := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	read := cmd.Op == actors.Op_OP_AVAILABILITY || cmd.Op == actors.Op_OP_WAKE
	key := cmd.GetIdem().GetKey()
	maybe := false // some try may have acted
	notCommitted := 0
	backoff := backoffMin
	for {
		if err := c.guard.check(); err != nil {
			c.m.refused.WithLabelValues(reasonEvicted).Inc()
			if maybe && !read {
				return nil, ErrMaybeDone
			}
			return nil, booking.Errorf(booking.CodeUnavailable, "this node left the cluster; retry on another node (nothing was changed)")
		}
		if maybe && key != "" && !read {
			// A try may have committed: its key's record says so.
			if rec, err := c.store.GetIdempotency(ctx, tenant, key); err == nil && rec.Status != 0 {
				return nil, fmt.Errorf("call %s: %w", identity, persistence.ErrIdempotencyTaken)
			}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, c.expired(identity, roomType, read, maybe)
		}
		pid, err := c.router.lookup(ctx, identity, actors.Kind, remaining)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.cancelled(ctx, identity, read, maybe)
			}
			c.m.retries.WithLabelValues(retryLookup).Inc()
			if err := c.pause(ctx, deadline, &backoff); err != nil {
				return nil, c.cancelled(ctx, identity, read, maybe)
			}
			continue
		}
		start := time.Now()
		res, err := c.router.request(ctx, pid, cmd, remaining)
		target := "remote"
		if pid.GetAddress() == c.router.system.Address() {
			target = "local"
		}
		c.m.duration.WithLabelValues(target).Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			r, ok := res.(*actors.Reply)
			if !ok {
				return nil, fmt.Errorf("call %s: unexpected answer %T", identity, res)
			}
			if r.IdempotencyTaken {
				return r, fmt.Errorf("%s: %w", identity, persistence.ErrIdempotencyTaken)
			}
			if !r.NotCommitted {
				if r.Code != "" {
					return r, replyError(r)
				}
				return r, nil
			}
			// The actor did nothing (fenced, reloading, moving): again,
			// after a fresh lookup.
			c.router.forget(identity, pid)
			if notCommitted++; notCommitted >= maxNotCommitted {
				return r, replyError(r)
			}
			c.m.retries.WithLabelValues(retryNotCommitted).Inc()
		case errors.Is(err, errDeadLetter), errors.Is(err, errNotMember):
			// Never delivered: safe to send again after a fresh lookup.
			c.router.forget(identity, pid)
			c.m.retries.WithLabelValues(retryDeadLetter).Inc()
		case errors.Is(err, errGone):
			// The member left or the activation stopped while we waited:
			// it may have acted. Again only if that is harmless.
			c.router.forget(identity, pid)
			maybe = true
			if !read && key == "" {
				return nil, ErrMaybeDone
			}
			c.m.retries.WithLabelValues(retryMemberLeft).Inc()
		case errors.Is(err, errTimedOut):
			if read {
				return nil, booking.Errorf(booking.CodeUnavailable, "room type %s did not answer in time", roomType)
			}
			return nil, ErrMaybeDone
		default: // the caller's context
			return nil, c.cancelled(ctx, identity, read, true)
		}
		if err := c.pause(ctx, deadline, &backoff); err != nil {
			return nil, c.cancelled(ctx, identity, read, maybe)
		}
	}
}

// pause sleeps the next backoff (with jitter), never past deadline.
func (c *Client) pause(ctx context.Context, deadline time.Time, backoff *time.Duration) error {
	d := *backoff/2 + rand.N(*backoff/2+1)
	*backoff = min(*backoff*2, backoffMax)
	if left := time.Until(deadline); d > left {
		d = max(left, 0)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// expired is the error of a call whose deadline passed between tries.
func (c *Client) expired(identity, roomType string, read, maybe bool) error {
	if maybe && !read {
		return ErrMaybeDone
	}
	return booking.Errorf(booking.CodeUnavailable, "room type %s did not answer; nothing was changed", roomType)
}

// cancelled is the error of a call whose context ended.
func (c *Client) cancelled(ctx context.Context, identity string, read, maybe bool) error {
	if maybe && !read {
		return ErrMaybeDone
	}
	return fmt.Errorf("call %s: %w", identity, ctx.Err())
}

func replyError(r *actors.Reply) error {
	e := &booking.Error{Code: booking.Code(r.Code), Message: r.Message, Stored: r.RefusalStored}
	if len(r.Details) > 0 {
		_ = json.Unmarshal(r.Details, &e.Details)
	}
	return e
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // plain domain values always encode
	}
	return b
}

// PutRoomType creates or updates a room type through its actor, which
// refuses to lower rooms below what is sold.
func (c *Client) PutRoomType(ctx context.Context, rt booking.RoomType) (booking.RoomType, bool, error) {
	r, err := c.call(ctx, rt.Tenant, rt.Property, rt.ID, &actors.Command{Op: actors.Op_OP_PUT_ROOM_TYPE,
		Name: rt.Name, Rooms: rt.Rooms, Price: rt.Price})
	if err != nil {
		return booking.RoomType{}, false, err
	}
	var out booking.RoomType
	if err := json.Unmarshal(r.Result, &out); err != nil {
		return out, false, fmt.Errorf("decode room type: %w", err)
	}
	out.Tenant = rt.Tenant
	return out, r.Created, nil
}

// UpdateInventory applies ARI updates. Over several room types it first asks
// every actor to check its part (dry run), then applies them; the last part
// completes the idempotency record.
func (c *Client) UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *Idem) (int, error) {
	byRT := map[string][]booking.InventoryUpdate{}
	var order []string
	for _, u := range updates {
		if _, ok := byRT[u.RoomType]; !ok {
			order = append(order, u.RoomType)
		}
		byRT[u.RoomType] = append(byRT[u.RoomType], u)
	}
	total := 0
	if len(order) > 1 {
		for _, rt := range order {
			r, err := c.call(ctx, tenant, property, rt, &actors.Command{Op: actors.Op_OP_SET_INVENTORY, Updates: mustJSON(byRT[rt]), DryRun: true})
			if err != nil {
				return 0, err
			}
			total += int(r.Nights)
		}
	}
	applied := 0
	for i, rt := range order {
		cmd := &actors.Command{Op: actors.Op_OP_SET_INVENTORY, Updates: mustJSON(byRT[rt])}
		if i == len(order)-1 {
			cmd.Idem = idem
			if len(order) > 1 {
				cmd.Result = mustJSON(map[string]int{"updated_nights": total})
			}
		}
		r, err := c.call(ctx, tenant, property, rt, cmd)
		if err != nil {
			if i > 0 {
				c.log.Error("inventory update applied in part", zap.String("property", property),
					zap.Strings("applied", order[:i]), zap.Error(err))
			}
			return 0, err
		}
		applied += int(r.Nights)
	}
	return applied, nil
}

// Availability reads the committed nights of room types (all of the
// property's when roomTypes is empty).
func (c *Client) Availability(ctx context.Context, tenant, property string, roomTypes []string, from, to booking.Date) ([]RoomTypeAvailability, error) {
	if len(roomTypes) == 0 {
		rts, err := c.store.ListRoomTypes(ctx, tenant, property)
		if err != nil {
			return nil, fmt.Errorf("list room types: %w", err)
		}
		for _, rt := range rts {
			roomTypes = append(roomTypes, rt.ID)
		}
	}
	out := make([]RoomTypeAvailability, len(roomTypes))
	errs := make([]error, len(roomTypes))
	var wg sync.WaitGroup
	for i, rt := range roomTypes {
		wg.Go(func() {
			r, err := c.call(ctx, tenant, property, rt, &actors.Command{Op: actors.Op_OP_AVAILABILITY, From: int32(from), To: int32(to)})
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = RoomTypeAvailability{RoomType: rt, Seq: r.Seq}
			errs[i] = json.Unmarshal(r.Result, &out[i].Nights)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
	}
	return out, nil
}

// primaryOf picks the room type whose actor writes a new reservation's row.
func primaryOf(stays []booking.Stay) string {
	rts := booking.RoomTypes(stays)
	slices.Sort(rts)
	return rts[0]
}

// CreateReservation books stays, all or nothing. One room type: one actor
// decides and commits. Several: holds on the others first, then the primary
// confirms (its commit is the reservation's), then the holds convert; a
// coordinator that dies in between leaves holds that convert themselves on
// expiry, because the stored reservation says so.
func (c *Client) CreateReservation(ctx context.Context, nr NewReservation, idem *Idem) (booking.Reservation, error) {
	now := c.now().UTC()
	row := booking.Reservation{Tenant: nr.Tenant, Property: nr.Property, Status: booking.StatusConfirmed,
		Stays: nr.Stays, Guest: nr.Guest, Channel: nr.Channel, ExternalRef: nr.ExternalRef,
		Currency: nr.Currency, Version: 1, CreatedAt: now, UpdatedAt: now}
	rts := booking.RoomTypes(nr.Stays)
	primary := primaryOf(nr.Stays)
	var secondaries []string
	for _, rt := range rts {
		if rt != primary {
			secondaries = append(secondaries, rt)
		}
	}
	if nr.HoldID != "" {
		return c.confirmHold(ctx, nr, row, primary, secondaries, idem)
	}
	suffix := actors.NewSuffix()
	row.ID = "r_" + suffix
	holdID := "h_" + suffix
	var taken []string
	var otherPrice int64
	for _, rt := range secondaries {
		r, err := c.call(ctx, nr.Tenant, nr.Property, rt, &actors.Command{Op: actors.Op_OP_HOLD, HoldId: holdID,
			Stays: mustJSON(booking.StaysOf(nr.Stays, rt)), ExpiresAtUnixMs: now.Add(HoldTTLForCoordination).UnixMilli(),
			HoldReservation: actors.HoldTag(row.ID, 1)})
		if err != nil {
			c.releaseParts(nr.Tenant, nr.Property, holdID, taken)
			return booking.Reservation{}, err
		}
		taken = append(taken, rt)
		otherPrice += r.Price
	}
	r, err := c.call(ctx, nr.Tenant, nr.Property, primary, &actors.Command{Op: actors.Op_OP_BOOK, Idem: idem,
		Reservation: mustJSON(row), OtherPrice: otherPrice})
	if err != nil {
		if !errors.Is(err, ErrMaybeDone) { // if it may have committed, the holds must be left to convert on expiry
			c.releaseParts(nr.Tenant, nr.Property, holdID, taken)
		}
		return booking.Reservation{}, err
	}
	c.convertParts(nr.Tenant, nr.Property, holdID, row.ID, taken)
	return decodeReservation(r.Result, nr.Tenant)
}

// confirmHold turns a client's hold into its twin reservation.
func (c *Client) confirmHold(ctx context.Context, nr NewReservation, row booking.Reservation, primary string, secondaries []string, idem *Idem) (booking.Reservation, error) {
	parts, err := c.store.HoldRows(ctx, nr.Tenant, nr.HoldID)
	if errors.Is(err, persistence.ErrNotFound) {
		return booking.Reservation{}, booking.Conflict(booking.KindHold, nr.HoldID, nil, "hold %s has expired, was released or does not exist", nr.HoldID)
	}
	if err != nil {
		return booking.Reservation{}, fmt.Errorf("read hold: %w", err)
	}
	var held []string
	for _, p := range parts {
		if p.Property != nr.Property {
			return booking.Reservation{}, booking.Conflict(booking.KindHold, nr.HoldID, nil, "hold %s belongs to another property", nr.HoldID)
		}
		held = append(held, p.RoomType)
	}
	want := booking.RoomTypes(nr.Stays)
	slices.Sort(held)
	slices.Sort(want)
	if !slices.Equal(held, want) {
		return booking.Reservation{}, booking.Conflict(booking.KindHold, nr.HoldID, nil, "stays do not match hold %s", nr.HoldID)
	}
	row.ID = actors.ReservationIDFor(nr.HoldID)
	var otherPrice int64
	for _, rt := range secondaries {
		p, err := c.price(ctx, nr.Tenant, nr.Property, rt, booking.StaysOf(nr.Stays, rt))
		if err != nil {
			return booking.Reservation{}, err
		}
		otherPrice += p
	}
	r, err := c.call(ctx, nr.Tenant, nr.Property, primary, &actors.Command{Op: actors.Op_OP_BOOK, Idem: idem,
		HoldId: nr.HoldID, Reservation: mustJSON(row), OtherPrice: otherPrice})
	if err != nil {
		return booking.Reservation{}, err
	}
	for _, rt := range secondaries {
		if _, err := c.call(context.Background(), nr.Tenant, nr.Property, rt, &actors.Command{Op: actors.Op_OP_CONVERT_HOLD,
			HoldId: nr.HoldID, ReservationId: row.ID, Stays: mustJSON(booking.StaysOf(nr.Stays, rt))}); err != nil {
			c.log.Warn("hold part not converted; it converts on expiry", zap.String("hold", nr.HoldID), zap.String("room_type", rt), zap.Error(err))
		}
	}
	return decodeReservation(r.Result, nr.Tenant)
}

// price reads what stays of one room type cost now.
func (c *Client) price(ctx context.Context, tenant, property, rt string, stays []booking.Stay) (int64, error) {
	from, to := stays[0].Arrival, stays[0].Departure
	for _, s := range stays {
		from, to = min(from, s.Arrival), max(to, s.Departure)
	}
	av, err := c.Availability(ctx, tenant, property, []string{rt}, from, to)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, s := range stays {
		for _, n := range av[0].Nights {
			if n.Date >= s.Arrival && n.Date < s.Departure {
				sum += n.Price * int64(s.Quantity)
			}
		}
	}
	return sum, nil
}

func decodeReservation(b []byte, tenant string) (booking.Reservation, error) {
	var r booking.Reservation
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode reservation: %w", err)
	}
	r.Tenant = tenant
	return r, nil
}

// releaseParts gives back coordination holds after a failure; what it cannot
// release expires by itself.
func (c *Client) releaseParts(tenant, property, holdID string, rts []string) {
	for _, rt := range rts {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		if _, err := c.call(ctx, tenant, property, rt, &actors.Command{Op: actors.Op_OP_RELEASE_HOLD, HoldId: holdID}); err != nil {
			c.log.Warn("hold part not released; it expires by itself", zap.String("hold", holdID), zap.String("room_type", rt), zap.Error(err))
		}
		cancel()
	}
}

func (c *Client) convertParts(tenant, property, holdID, resID string, rts []string) {
	for _, rt := range rts {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		if _, err := c.call(ctx, tenant, property, rt, &actors.Command{Op: actors.Op_OP_CONVERT_HOLD, HoldId: holdID, ReservationId: resID}); err != nil {
			c.log.Warn("hold part not converted; it converts on expiry", zap.String("hold", holdID), zap.String("room_type", rt), zap.Error(err))
		}
		cancel()
	}
}

func (c *Client) reservation(ctx context.Context, tenant, id string) (booking.Reservation, error) {
	r, err := c.store.GetReservation(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return r, booking.NotFound(booking.KindReservation, id)
	}
	if err != nil {
		return r, fmt.Errorf("read reservation: %w", err)
	}
	return r, nil
}

// ModifyReservation replaces a reservation's stays (and guest). On the
// primary room type alone it is one atomic swap. Across room types the new
// stays are held first, then the primary commits the new version, then the
// holds become the reservation's rooms and dropped room types give theirs
// back.
func (c *Client) ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *Idem) (booking.Reservation, error) {
	cur, err := c.reservation(ctx, tenant, id)
	if err != nil {
		return cur, err
	}
	if cur.Status != booking.StatusConfirmed {
		return cur, booking.Conflict(booking.KindReservation, id, map[string]any{"status": cur.Status}, "reservation %s is %s", id, cur.Status)
	}
	row := cur
	row.Stays = stays
	if guest != nil {
		row.Guest = *guest
	}
	row.UpdatedAt = c.now().UTC()
	primary := cur.Primary
	newRTs, oldRTs := booking.RoomTypes(stays), booking.RoomTypes(cur.Stays)
	var secondaries, dropped []string
	for _, rt := range newRTs {
		if rt != primary {
			secondaries = append(secondaries, rt)
		}
	}
	for _, rt := range oldRTs {
		if rt != primary && !slices.Contains(newRTs, rt) {
			dropped = append(dropped, rt)
		}
	}
	holdID := actors.ModifyHoldID(id, cur.Version+1)
	var taken []string
	var otherPrice int64
	for _, rt := range secondaries {
		r, err := c.call(ctx, tenant, cur.Property, rt, &actors.Command{Op: actors.Op_OP_HOLD, HoldId: holdID,
			Stays: mustJSON(booking.StaysOf(stays, rt)), ExpiresAtUnixMs: c.now().Add(HoldTTLForCoordination).UnixMilli(),
			HoldReservation: actors.HoldTag(id, cur.Version+1)})
		if err != nil {
			c.releaseParts(tenant, cur.Property, holdID, taken)
			return cur, err
		}
		taken = append(taken, rt)
		otherPrice += r.Price
	}
	r, err := c.call(ctx, tenant, cur.Property, primary, &actors.Command{Op: actors.Op_OP_MODIFY, Idem: idem,
		Reservation: mustJSON(row), Stays: mustJSON(booking.StaysOf(stays, primary)),
		ExpectVersion: cur.Version, OtherPrice: otherPrice})
	if err != nil {
		if !errors.Is(err, ErrMaybeDone) {
			c.releaseParts(tenant, cur.Property, holdID, taken)
		}
		return cur, err
	}
	c.convertParts(tenant, cur.Property, holdID, id, taken)
	c.releaseReservation(tenant, cur.Property, id, dropped)
	return decodeReservation(r.Result, tenant)
}

func (c *Client) releaseReservation(tenant, property, id string, rts []string) {
	for _, rt := range rts {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		if _, err := c.call(ctx, tenant, property, rt, &actors.Command{Op: actors.Op_OP_CANCEL, ReservationId: id}); err != nil {
			c.log.Error("rooms of a reservation not given back; cancel again to retry", zap.String("reservation", id), zap.String("room_type", rt), zap.Error(err))
		}
		cancel()
	}
}

// CancelReservation cancels on the primary (which writes the row), then
// gives back the other room types' rooms. Cancelling again answers 200 and
// repeats only the give-backs, which release nothing twice.
func (c *Client) CancelReservation(ctx context.Context, tenant, id string, idem *Idem) (booking.Reservation, error) {
	cur, err := c.reservation(ctx, tenant, id)
	if err != nil {
		return cur, err
	}
	r, err := c.call(ctx, tenant, cur.Property, cur.Primary, &actors.Command{Op: actors.Op_OP_CANCEL, Idem: idem,
		ReservationId: id, Reservation: mustJSON(cur)})
	if err != nil {
		return cur, err
	}
	var others []string
	for _, rt := range booking.RoomTypes(cur.Stays) {
		if rt != cur.Primary {
			others = append(others, rt)
		}
	}
	c.releaseReservation(tenant, cur.Property, id, others)
	return decodeReservation(r.Result, tenant)
}

// CreateHold holds stays until ttl passes. Over several room types, the
// parts are taken one by one and the last completes the idempotency record.
func (c *Client) CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *Idem) (booking.Hold, error) {
	id := actors.NewHoldID()
	h := booking.Hold{Tenant: tenant, ID: id, Property: property, Stays: stays,
		ExpiresAt: c.now().Add(ttl).UTC().Truncate(time.Millisecond)}
	body := mustJSON(h)
	rts := booking.RoomTypes(stays)
	var taken []string
	for i, rt := range rts {
		cmd := &actors.Command{Op: actors.Op_OP_HOLD, HoldId: id, Stays: mustJSON(booking.StaysOf(stays, rt)),
			ExpiresAtUnixMs: h.ExpiresAt.UnixMilli(), HoldReservation: actors.HoldTag(actors.ReservationIDFor(id), 1), Result: body}
		last := i == len(rts)-1
		if last {
			cmd.Idem = idem
		}
		r, err := c.call(ctx, tenant, property, rt, cmd)
		if err != nil {
			c.releaseParts(tenant, property, id, taken)
			return booking.Hold{}, err
		}
		taken = append(taken, rt)
		if last && len(r.Result) > 0 {
			// the answer the actor stored (a retry gets the first hold's)
			if err := json.Unmarshal(r.Result, &h); err != nil {
				return booking.Hold{}, fmt.Errorf("decode hold: %w", err)
			}
		}
	}
	return h, nil
}

// ReleaseHold gives a hold's rooms back on every room type it covers.
func (c *Client) ReleaseHold(ctx context.Context, tenant, id string, idem *Idem) error {
	parts, err := c.store.HoldRows(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return booking.NotFound(booking.KindHold, id)
	}
	if err != nil {
		return fmt.Errorf("read hold: %w", err)
	}
	for i, p := range parts {
		cmd := &actors.Command{Op: actors.Op_OP_RELEASE_HOLD, HoldId: id}
		if i == len(parts)-1 {
			cmd.Idem = idem
		}
		if _, err := c.call(ctx, tenant, p.Property, p.RoomType, cmd); err != nil {
			return err
		}
	}
	return nil
}

// WakeHeldRoomTypes activates every room type that has holds, so that holds
// which expired while no node ran are released now, not at the next request.
func (c *Client) WakeHeldRoomTypes(ctx context.Context) (int, error) {
	return c.wakeHolders(ctx, func(persistence.HoldRow) bool { return true })
}

// SweepExpiredHolds wakes every room type that still stores a hold due by
// now: each releases what is due on its own clock. It is the scheduler's
// backstop for a lost expiry timer; it returns how many it woke.
func (c *Client) SweepExpiredHolds(ctx context.Context, now time.Time) (int, error) {
	return c.wakeHolders(ctx, func(h persistence.HoldRow) bool { return !h.ExpiresAt.After(now) })
}

// PruneHistory asks every room type to drop its history before the night
// before: the nights, and the allocations that ended by then (each that
// drops something writes a snapshot and trims its journal). It is the
// scheduler's daily compaction; it goes on past a room type that fails
// and reports the first error after the walk.
func (c *Client) PruneHistory(ctx context.Context, before booking.Date) (roomTypes, nights, allocations int, err error) {
	rts, err := c.store.AllRoomTypes(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("list room types: %w", err)
	}
	var first error
	for _, rt := range rts {
		if ctx.Err() != nil {
			return roomTypes, nights, allocations, ctx.Err()
		}
		r, err := c.call(ctx, rt.Tenant, rt.Property, rt.ID, &actors.Command{Op: actors.Op_OP_PRUNE, From: int32(before)})
		if err == nil && r.Code != "" {
			err = fmt.Errorf("%s: %s", r.Code, r.Message)
		}
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("prune %s/%s/%s: %w", rt.Tenant, rt.Property, rt.ID, err))
			continue
		}
		if r.Nights > 0 || r.Allocations > 0 {
			roomTypes++
			nights += int(r.Nights)
			allocations += int(r.Allocations)
		}
	}
	return roomTypes, nights, allocations, first
}

// Occupancy reads every property's occupancy for nights nights from its
// own today at now (the daily report): the committed counts of its room
// types, asked of their actors, summed per night; by tenant and property.
func (c *Client) Occupancy(ctx context.Context, now time.Time, nights int) ([]booking.PropertyOccupancy, error) {
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

func (c *Client) wakeHolders(ctx context.Context, keep func(persistence.HoldRow) bool) (int, error) {
	parts, err := c.store.LiveHolds(ctx)
	if err != nil {
		return 0, fmt.Errorf("list holds: %w", err)
	}
	woken := map[string]bool{}
	for _, p := range parts {
		if !keep(p) {
			continue
		}
		id := actors.Identity(p.Tenant, p.Property, p.RoomType)
		if woken[id] {
			continue
		}
		woken[id] = true
		if _, err := c.call(ctx, p.Tenant, p.Property, p.RoomType, &actors.Command{Op: actors.Op_OP_WAKE}); err != nil {
			return len(woken), err
		}
	}
	return len(woken), nil
}
