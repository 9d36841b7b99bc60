package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Caller sends a command to the actor of one room type and maps its
// answer: a Reply with a code becomes a *booking.Error, an actor that did
// not answer in time booking.ErrMaybeDone. cluster.Client is the Caller,
// with its lookups and retries; the coordinator has no other way in.
type Caller interface {
	Call(ctx context.Context, tenant, property, roomType string, cmd *Command) (*Reply, error)
	// Ready reports whether the actors can be called.
	Ready(ctx context.Context) error
}

// CoordinatorStore is what the coordinator reads of the store: the rows
// a saga starts from (reservations, holds) and the lists its walks cover.
type CoordinatorStore interface {
	GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error)
	HoldRows(ctx context.Context, tenant, id string) ([]persistence.HoldRow, error)
	LiveHolds(ctx context.Context) ([]persistence.HoldRow, error)
	ListRoomTypes(ctx context.Context, tenant, property string) ([]booking.RoomType, error)
	AllRoomTypes(ctx context.Context) ([]booking.RoomType, error)
	GetProperty(ctx context.Context, tenant, id string) (booking.Property, error)
}

// holdTTLForCoordination bounds the holds a multi-room-type reservation
// takes before it confirms; a coordinator that dies leaves them for this long.
const holdTTLForCoordination = 2 * time.Minute

// Coordinator runs the engine's operations over the inventory actors. A
// change of one room type is one call: that actor decides and commits. A
// reservation over several takes holds on the others first, then the
// primary room type confirms (its commit is the reservation's), then the
// holds convert; a coordinator that dies in between leaves holds that
// convert themselves on expiry, because the stored reservation says so.
type Coordinator struct {
	calls Caller
	store CoordinatorStore
	// stepTimeout bounds each clean-up call made after the caller's
	// request is answered (releases and conversions of hold parts).
	stepTimeout time.Duration
	log         *zap.Logger
}

// NewCoordinator returns the coordinator over calls; stepTimeout bounds
// each clean-up call that outlives its request.
func NewCoordinator(calls Caller, store CoordinatorStore, stepTimeout time.Duration, log *zap.Logger) *Coordinator {
	if log == nil {
		log = zap.NewNop()
	}
	return &Coordinator{calls: calls, store: store, stepTimeout: stepTimeout, log: log}
}

// Ready reports whether the actors can be called.
func (c *Coordinator) Ready(ctx context.Context) error { return c.calls.Ready(ctx) }

func (c *Coordinator) call(ctx context.Context, tenant, property, roomType string, cmd *Command) (*Reply, error) {
	return c.calls.Call(ctx, tenant, property, roomType, cmd)
}

func idemMsg(i *booking.Idempotency) *Idem {
	if i == nil {
		return nil
	}
	return &Idem{Key: i.Key, RequestHash: i.RequestHash, Status: int32(i.Status)}
}

// PutRoomType creates or updates a room type through its actor, which
// refuses to lower rooms below what is sold.
func (c *Coordinator) PutRoomType(ctx context.Context, rt booking.RoomType) (booking.RoomType, bool, error) {
	r, err := c.call(ctx, rt.Tenant, rt.Property, rt.ID, &Command{Op: &Command_PutRoomType{PutRoomType: &PutRoomType{
		Name: rt.Name, Rooms: rt.Rooms, Price: rt.Price}}})
	if err != nil {
		return booking.RoomType{}, false, err
	}
	return r.GetRoomType().Domain(rt.Tenant, rt.Property, rt.ID), r.Created, nil
}

// UpdateInventory applies ARI updates. Over several room types it first asks
// every actor to check its part (dry run), then applies them; the last part
// completes the idempotency record.
func (c *Coordinator) UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *booking.Idempotency) (int, error) {
	byRT := map[string][]booking.InventoryUpdate{}
	var order []string
	for _, u := range updates {
		if _, ok := byRT[u.RoomType]; !ok {
			order = append(order, u.RoomType)
		}
		byRT[u.RoomType] = append(byRT[u.RoomType], u)
	}
	set := func(rt string, dryRun bool, body []byte) *Command {
		return &Command{Op: &Command_SetInventory{SetInventory: &SetInventory{Updates: updateMsgs(byRT[rt]), DryRun: dryRun, ResponseBody: body}}}
	}
	total := 0
	if len(order) > 1 {
		for _, rt := range order {
			r, err := c.call(ctx, tenant, property, rt, set(rt, true, nil))
			if err != nil {
				return 0, err
			}
			total += int(r.NightsChanged)
		}
	}
	applied := 0
	for i, rt := range order {
		cmd := set(rt, false, nil)
		if i == len(order)-1 {
			cmd.Idem = idemMsg(idem)
			if len(order) > 1 {
				body, err := json.Marshal(booking.InventoryResult{UpdatedNights: total})
				if err != nil {
					return 0, fmt.Errorf("encode inventory result: %w", err)
				}
				cmd.GetSetInventory().ResponseBody = body
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
		applied += int(r.NightsChanged)
	}
	return applied, nil
}

// Availability reads the committed nights of room types (all of the
// property's when roomTypes is empty).
func (c *Coordinator) Availability(ctx context.Context, tenant, property string, roomTypes []string, from, to booking.Date) ([]booking.RoomTypeAvailability, error) {
	if len(roomTypes) == 0 {
		rts, err := c.store.ListRoomTypes(ctx, tenant, property)
		if err != nil {
			return nil, fmt.Errorf("list room types: %w", err)
		}
		for _, rt := range rts {
			roomTypes = append(roomTypes, rt.ID)
		}
	}
	out := make([]booking.RoomTypeAvailability, len(roomTypes))
	errs := make([]error, len(roomTypes))
	read := &Command{Op: &Command_Availability{Availability: &ReadAvailability{From: int32(from), To: int32(to)}}}
	var wg sync.WaitGroup
	for i, rt := range roomTypes {
		wg.Go(func() {
			r, err := c.call(ctx, tenant, property, rt, read)
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = booking.RoomTypeAvailability{RoomType: rt, Seq: r.Seq, Nights: r.NightViews()}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
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

// others lists the room types of rts but primary.
func others(rts []string, primary string) []string {
	var out []string
	for _, rt := range rts {
		if rt != primary {
			out = append(out, rt)
		}
	}
	return out
}

func holdCmd(id string, stays []booking.Stay, expires time.Time, tag string, body []byte) *Command {
	return &Command{Op: &Command_Hold{Hold: &Hold{HoldId: id, Stays: stayMsgs(stays), ExpiresAtUnixMs: expires.UnixMilli(),
		ReservationTag: tag, ResponseBody: body}}}
}

// holdParts takes a hold part on each of rts (coordination holds, tagged
// with the reservation they are for) and sums their price; on a refusal it
// gives back the parts taken.
func (c *Coordinator) holdParts(ctx context.Context, tenant, property, holdID, tag string, stays []booking.Stay, rts []string) (taken []string, price int64, err error) {
	expires := time.Now().Add(holdTTLForCoordination)
	for _, rt := range rts {
		r, err := c.call(ctx, tenant, property, rt, holdCmd(holdID, booking.StaysOf(stays, rt), expires, tag, nil))
		if err != nil {
			c.releaseParts(tenant, property, holdID, taken)
			return nil, 0, err
		}
		taken = append(taken, rt)
		price += r.Price
	}
	return taken, price, nil
}

// CreateReservation books stays, all or nothing: on one room type one
// actor decides and commits; over several, the saga of Coordinator.
func (c *Coordinator) CreateReservation(ctx context.Context, nr booking.NewReservation, idem *booking.Idempotency) (booking.Reservation, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := booking.Reservation{Tenant: nr.Tenant, Property: nr.Property, Status: booking.StatusConfirmed,
		Stays: nr.Stays, Guest: nr.Guest, Channel: nr.Channel, ExternalRef: nr.ExternalRef,
		Currency: nr.Currency, Version: 1, CreatedAt: now, UpdatedAt: now}
	primary := primaryOf(nr.Stays)
	secondaries := others(booking.RoomTypes(nr.Stays), primary)
	if nr.HoldID != "" {
		return c.confirmHold(ctx, nr, row, primary, secondaries, idem)
	}
	suffix := newSuffix()
	row.ID = reservationPrefix + suffix
	holdID := holdPrefix + suffix
	taken, otherPrice, err := c.holdParts(ctx, nr.Tenant, nr.Property, holdID, holdTag(row.ID, 1), nr.Stays, secondaries)
	if err != nil {
		return booking.Reservation{}, err
	}
	r, err := c.call(ctx, nr.Tenant, nr.Property, primary, &Command{Idem: idemMsg(idem),
		Op: &Command_Book{Book: &Book{Reservation: ReservationMsg(row), OtherPrice: otherPrice}}})
	if err != nil {
		if !errors.Is(err, booking.ErrMaybeDone) { // if it may have committed, the holds must be left to convert on expiry
			c.releaseParts(nr.Tenant, nr.Property, holdID, taken)
		}
		return booking.Reservation{}, err
	}
	c.convertParts(nr.Tenant, nr.Property, holdID, row.ID, taken)
	return r.GetReservation().Domain(nr.Tenant), nil
}

// confirmHold turns a client's hold into its twin reservation.
func (c *Coordinator) confirmHold(ctx context.Context, nr booking.NewReservation, row booking.Reservation, primary string, secondaries []string, idem *booking.Idempotency) (booking.Reservation, error) {
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
	row.ID = reservationIDFor(nr.HoldID)
	var otherPrice int64
	for _, rt := range secondaries {
		p, err := c.price(ctx, nr.Tenant, nr.Property, rt, booking.StaysOf(nr.Stays, rt))
		if err != nil {
			return booking.Reservation{}, err
		}
		otherPrice += p
	}
	r, err := c.call(ctx, nr.Tenant, nr.Property, primary, &Command{Idem: idemMsg(idem),
		Op: &Command_Book{Book: &Book{Reservation: ReservationMsg(row), HoldId: nr.HoldID, OtherPrice: otherPrice}}})
	if err != nil {
		return booking.Reservation{}, err
	}
	c.eachPart(nr.Tenant, nr.Property, secondaries, func(rt string) *Command {
		return &Command{Op: &Command_ConvertHold{ConvertHold: &ConvertHold{HoldId: nr.HoldID, ReservationId: row.ID,
			Stays: stayMsgs(booking.StaysOf(nr.Stays, rt))}}}
	}, "hold part not converted; it converts on expiry", zap.String("hold", nr.HoldID))
	return r.GetReservation().Domain(nr.Tenant), nil
}

// price reads what stays of one room type cost now.
func (c *Coordinator) price(ctx context.Context, tenant, property, rt string, stays []booking.Stay) (int64, error) {
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

// eachPart sends cmd(rt) to each of rts with its own deadline, once the
// request it belongs to is decided; what fails is logged as msg, since the
// parts settle by themselves (holds expire or convert on expiry).
func (c *Coordinator) eachPart(tenant, property string, rts []string, cmd func(rt string) *Command, msg string, fields ...zap.Field) {
	for _, rt := range rts {
		ctx, cancel := context.WithTimeout(context.Background(), c.stepTimeout)
		if _, err := c.call(ctx, tenant, property, rt, cmd(rt)); err != nil {
			c.log.Warn(msg, append(fields, zap.String("room_type", rt), zap.Error(err))...)
		}
		cancel()
	}
}

// releaseParts gives back coordination holds after a failure; what it cannot
// release expires by itself.
func (c *Coordinator) releaseParts(tenant, property, holdID string, rts []string) {
	c.eachPart(tenant, property, rts, func(string) *Command {
		return &Command{Op: &Command_ReleaseHold{ReleaseHold: &ReleaseHold{HoldId: holdID}}}
	},
		"hold part not released; it expires by itself", zap.String("hold", holdID))
}

func (c *Coordinator) convertParts(tenant, property, holdID, resID string, rts []string) {
	c.eachPart(tenant, property, rts, func(string) *Command {
		return &Command{Op: &Command_ConvertHold{ConvertHold: &ConvertHold{HoldId: holdID, ReservationId: resID}}}
	},
		"hold part not converted; it converts on expiry", zap.String("hold", holdID))
}

// releaseReservation gives back a reservation's rooms on room types that
// do not write its row.
func (c *Coordinator) releaseReservation(tenant, property, id string, rts []string) {
	c.eachPart(tenant, property, rts, func(string) *Command { return &Command{Op: &Command_Cancel{Cancel: &Cancel{ReservationId: id}}} },
		"rooms of a reservation not given back; cancel again to retry", zap.String("reservation", id))
}

func (c *Coordinator) reservation(ctx context.Context, tenant, id string) (booking.Reservation, error) {
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
func (c *Coordinator) ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *booking.Idempotency) (booking.Reservation, error) {
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
	row.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	newRTs := booking.RoomTypes(stays)
	secondaries := others(newRTs, cur.Primary)
	var dropped []string
	for _, rt := range others(booking.RoomTypes(cur.Stays), cur.Primary) {
		if !slices.Contains(newRTs, rt) {
			dropped = append(dropped, rt)
		}
	}
	holdID := modifyHoldID(id, cur.Version+1)
	taken, otherPrice, err := c.holdParts(ctx, tenant, cur.Property, holdID, holdTag(id, cur.Version+1), stays, secondaries)
	if err != nil {
		return cur, err
	}
	r, err := c.call(ctx, tenant, cur.Property, cur.Primary, &Command{Idem: idemMsg(idem),
		Op: &Command_Modify{Modify: &Modify{Reservation: ReservationMsg(row), ExpectVersion: cur.Version, OtherPrice: otherPrice}}})
	if err != nil {
		if !errors.Is(err, booking.ErrMaybeDone) {
			c.releaseParts(tenant, cur.Property, holdID, taken)
		}
		return cur, err
	}
	c.convertParts(tenant, cur.Property, holdID, id, taken)
	c.releaseReservation(tenant, cur.Property, id, dropped)
	return r.GetReservation().Domain(tenant), nil
}

// CancelReservation cancels on the primary (which writes the row), then
// gives back the other room types' rooms. Cancelling again answers 200 and
// repeats only the give-backs, which release nothing twice.
func (c *Coordinator) CancelReservation(ctx context.Context, tenant, id string, idem *booking.Idempotency) (booking.Reservation, error) {
	cur, err := c.reservation(ctx, tenant, id)
	if err != nil {
		return cur, err
	}
	r, err := c.call(ctx, tenant, cur.Property, cur.Primary, &Command{Idem: idemMsg(idem),
		Op: &Command_Cancel{Cancel: &Cancel{ReservationId: id, WriteRow: true}}})
	if err != nil {
		return cur, err
	}
	c.releaseReservation(tenant, cur.Property, id, others(booking.RoomTypes(cur.Stays), cur.Primary))
	return r.GetReservation().Domain(tenant), nil
}

// CreateHold holds stays until ttl passes. Over several room types, the
// parts are taken one by one and the last completes the idempotency record.
func (c *Coordinator) CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *booking.Idempotency) (booking.Hold, error) {
	id := newHoldID()
	h := booking.Hold{Tenant: tenant, ID: id, Property: property, Stays: stays,
		ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Millisecond)}
	body, err := json.Marshal(h)
	if err != nil {
		return h, fmt.Errorf("encode hold: %w", err)
	}
	rts := booking.RoomTypes(stays)
	var taken []string
	for i, rt := range rts {
		cmd := holdCmd(id, booking.StaysOf(stays, rt), h.ExpiresAt, holdTag(reservationIDFor(id), 1), body)
		if i == len(rts)-1 {
			cmd.Idem = idemMsg(idem)
		}
		if _, err := c.call(ctx, tenant, property, rt, cmd); err != nil {
			c.releaseParts(tenant, property, id, taken)
			return booking.Hold{}, err
		}
		taken = append(taken, rt)
	}
	return h, nil
}

// ReleaseHold gives a hold's rooms back on every room type it covers.
func (c *Coordinator) ReleaseHold(ctx context.Context, tenant, id string, idem *booking.Idempotency) error {
	parts, err := c.store.HoldRows(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return booking.NotFound(booking.KindHold, id)
	}
	if err != nil {
		return fmt.Errorf("read hold: %w", err)
	}
	for i, p := range parts {
		cmd := &Command{Op: &Command_ReleaseHold{ReleaseHold: &ReleaseHold{HoldId: id}}}
		if i == len(parts)-1 {
			cmd.Idem = idemMsg(idem)
		}
		if _, err := c.call(ctx, tenant, p.Property, p.RoomType, cmd); err != nil {
			return err
		}
	}
	return nil
}
