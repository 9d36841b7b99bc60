package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// handle decides one command on the tentative state and queues its entry.
func (a *inventoryActor) handle(sender *actor.PID, cmd *Command) { a.handleEntry(sender, cmd, false) }

// handleEntry is handle for a request that may have to commit alone (solo):
// it then waits until the collecting batch is empty, and fills it alone.
func (a *inventoryActor) handleEntry(sender *actor.PID, cmd *Command, solo bool) {
	if r := cmd.GetAvailability(); r != nil {
		a.send(sender, a.availability(r))
		return
	}
	if cmd.GetOp() == nil {
		// The untyped command of an earlier release reads as one without an
		// operation (its field numbers are reserved): a rolling deploy's
		// mixed cluster. Refused untried, so its caller retries.
		a.send(sender, notCommitted("room type %s is served by a node of another release; retry", a.roomType))
		return
	}
	if a.batchFull() || (solo && len(a.collecting.entries) > 0) {
		if check := a.refusalCheck(cmd); check != nil && check(a.tentative) != nil {
			if err := check(a.committed); err != nil {
				a.send(sender, errReply(err)) // refused at once: see refusalCheck
				return
			}
		}
		a.backlog = append(a.backlog, &entry{sender: sender, cmd: cmd, solo: solo})
		return
	}
	e := &entry{sender: sender, cmd: cmd, solo: solo}
	if !a.admit(sender, e) {
		return
	}
	a.decide(e)
	if e.reply.Code != "" && e.idem == nil && e.key == "" {
		if check := a.refusalCheck(cmd); check != nil && check(a.committed) != nil {
			a.send(sender, e.reply) // refused at once: see refusalCheck
			return
		}
	}
	a.collecting.add(e)
}

// refusalCheck returns, for an unkeyed booking or hold, the rules' decision
// of it on a state (nil otherwise). A request those rules refuse on the
// committed state and on the tentative one alike (sold out, restricted) is
// answered at once, not behind the batches in flight or in the backlog: in
// a flash sale most requests are these, and they need no commit. It is
// safe because the refusal depends on no pending change. Every
// acknowledged change is in the committed state, so answering from it is
// answering as of a moment after all of them and before the changes still
// pending (concurrent with this request, so they may be ordered after it);
// and the tentative state refusing too means the pending changes would not
// have made room, so the answer is what the request would get in its turn.
// A keyed request waits: its refusal is stored with its key in the next
// commit, before it is answered.
func (a *inventoryActor) refusalCheck(cmd *Command) func(inv *booking.Inventory) error {
	if cmd.GetIdem().GetKey() != "" {
		return nil
	}
	switch op := cmd.GetOp().(type) {
	case *Command_Book:
		if op.Book.GetHoldId() != "" || op.Book.GetReservation() == nil {
			return nil // confirming a hold uses the hold's own rooms
		}
		id := op.Book.GetReservation().GetId()
		own := booking.StaysOf(staysOf(op.Book.GetReservation().GetStays()), a.roomType)
		return func(inv *booking.Inventory) error { _, err := inv.DecideBook(a.roomType, id, own); return err }
	case *Command_Hold:
		h := op.Hold
		stays, expires := staysOf(h.GetStays()), time.UnixMilli(h.GetExpiresAtUnixMs()).UTC()
		return func(inv *booking.Inventory) error {
			_, err := inv.DecideHold(a.roomType, h.GetHoldId(), stays, expires, h.GetReservationTag())
			return err
		}
	}
	return nil
}

// decide runs the booking rules and fills e with events, writes and a reply.
// Events are applied to the tentative state at once, so the next request is
// decided on top of this one while it commits.
func (a *inventoryActor) decide(e *entry) {
	var err error
	switch op := e.cmd.GetOp().(type) {
	case *Command_Wake:
		e.reply = &Reply{Seq: a.tentative.Seq}
	case *Command_Prune:
		e.reply = &Reply{}
		if ev, nights, allocations, ok := a.tentative.DecidePrune(booking.Date(op.Prune.GetBefore())); ok {
			e.events, e.compact = []booking.Event{ev}, true
			e.reply.NightsChanged, e.reply.Allocations = int32(nights), int32(allocations)
		}
	case *Command_PutRoomType:
		err = a.decidePutRoomType(e, op.PutRoomType)
	case *Command_SetInventory:
		err = a.decideInventory(e, op.SetInventory)
	case *Command_Book:
		err = a.decideBook(e, op.Book)
	case *Command_Modify:
		err = a.decideModify(e, op.Modify)
	case *Command_Cancel:
		err = a.decideCancel(e, op.Cancel)
	case *Command_Hold:
		err = a.decideHold(e, op.Hold)
	case *Command_ReleaseHold:
		err = a.decideRelease(e, op.ReleaseHold)
	case *Command_ConvertHold:
		err = a.decideConvert(e, op.ConvertHold)
	default:
		err = booking.Errorf(booking.CodeInvalid, "unknown operation %T", op)
	}
	if err != nil {
		e.events, e.rows, e.put, e.del, e.rt, e.idem, e.response = nil, nil, nil, nil, nil, nil, nil
		e.reply = errReply(err)
		a.storeRefusal(e, err)
		return
	}
	a.applyTentative(e)
	for _, r := range e.rows {
		a.pendingRows[r.ID] = pendingRow{row: r, batch: a.batchNo + 1}
	}
	if e.reply.Seq == 0 {
		e.reply.Seq = a.tentative.Seq
	}
	a.recordSuccess(e)
}

func errReply(err error) *Reply {
	var be *booking.Error
	if !errors.As(err, &be) {
		be = booking.Errorf(booking.CodeInternal, "%v", err)
	}
	r := &Reply{Code: string(be.Code), Message: be.Message}
	if be.Details != nil {
		r.Details, _ = json.Marshal(be.Details)
	}
	return r
}

func notCommitted(format string, args ...any) *Reply {
	return &Reply{Code: string(booking.CodeUnavailable), Message: fmt.Sprintf(format, args...), NotCommitted: true}
}

func (a *inventoryActor) decidePutRoomType(e *entry, c *PutRoomType) error {
	ev, err := a.tentative.DecideRoomType(a.roomType, c.GetName(), c.GetRooms(), c.GetPrice())
	if err != nil {
		return err
	}
	now := a.opts.now().UTC()
	rt := booking.RoomType{Tenant: a.tenant, Property: a.property, ID: a.roomType, Name: c.GetName(),
		Rooms: c.GetRooms(), Price: c.GetPrice(), CreatedAt: now, UpdatedAt: now}
	created := !a.tentative.Exists
	if !created {
		if old, err := a.readRoomType(); err == nil {
			rt.CreatedAt = old.CreatedAt
		}
	}
	e.events, e.rt, e.response = []booking.Event{ev}, &rt, rt
	e.reply = &Reply{RoomType: roomTypeMsg(rt), Created: created}
	return nil
}

func (a *inventoryActor) readRoomType() (booking.RoomType, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
	defer cancel()
	return a.store.GetRoomType(ctx, a.tenant, a.property, a.roomType)
}

func (a *inventoryActor) decideInventory(e *entry, c *SetInventory) error {
	ev, nights, err := a.tentative.DecideInventory(a.roomType, updatesOf(c.GetUpdates()))
	if err != nil {
		return err
	}
	e.reply = &Reply{NightsChanged: int32(nights)}
	e.response = booking.InventoryResult{UpdatedNights: nights}
	if c.GetResponseBody() != nil {
		e.response = c.GetResponseBody()
	}
	if !c.GetDryRun() {
		e.events = []booking.Event{ev}
	}
	return nil
}

// rowFor fills the fields of a row that the message does not carry.
func (a *inventoryActor) rowFor(m *Reservation, primary string) booking.Reservation {
	r := m.Domain(a.tenant)
	r.Property, r.Primary = a.property, primary
	return r
}

// wrote makes row the entry's written row and its answer.
func (e *entry) wrote(row booking.Reservation) {
	e.rows, e.response = []booking.Reservation{row}, row
	e.reply = &Reply{Reservation: ReservationMsg(row), Price: row.TotalPrice}
}

func (a *inventoryActor) decideBook(e *entry, c *Book) error {
	if c.GetReservation() == nil {
		return booking.Errorf(booking.CodeInvalid, "book without a reservation")
	}
	row := a.rowFor(c.GetReservation(), a.roomType)
	own := booking.StaysOf(row.Stays, a.roomType)
	var ev booking.Event
	var err error
	if h := c.GetHoldId(); h != "" {
		ev, err = a.tentative.DecideConvertHold(a.roomType, h, row.ID, own)
		if err == nil {
			e.del = append(e.del, a.holdRow(h, time.Time{}))
		}
	} else {
		ev, err = a.tentative.DecideBook(a.roomType, row.ID, own)
	}
	if err != nil {
		return err
	}
	// A converted hold is priced like any booking: at confirmation.
	row.TotalPrice = a.tentative.PriceOf(own) + c.GetOtherPrice()
	e.events = []booking.Event{ev}
	e.wrote(row)
	return nil
}

// currentRow returns the latest row of a reservation: pending in a batch of
// this actor, else stored.
func (a *inventoryActor) currentRow(id string) (booking.Reservation, error) {
	if p, ok := a.pendingRows[id]; ok {
		return p.row, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
	defer cancel()
	r, err := a.store.GetReservation(ctx, a.tenant, id)
	if errors.Is(err, persistence.ErrNotFound) || (err == nil && r.Property != a.property) {
		return r, booking.NotFound(booking.KindReservation, id)
	}
	if err != nil {
		return r, fmt.Errorf("read reservation %s: %w", id, err)
	}
	return r, nil
}

func (a *inventoryActor) decideModify(e *entry, c *Modify) error {
	if c.GetReservation() == nil {
		return booking.Errorf(booking.CodeInvalid, "modify without a reservation")
	}
	id := c.GetReservation().GetId()
	cur, err := a.currentRow(id)
	if err != nil {
		return err
	}
	if cur.Status != booking.StatusConfirmed {
		return booking.Conflict(booking.KindReservation, id, map[string]any{"status": cur.Status}, "reservation %s is %s", id, cur.Status)
	}
	if cur.Version != c.GetExpectVersion() {
		return booking.Conflict(booking.KindReservation, id, map[string]any{"version": cur.Version},
			"reservation %s changed meanwhile (version %d, expected %d); retry", id, cur.Version, c.GetExpectVersion())
	}
	row := a.rowFor(c.GetReservation(), cur.Primary)
	stays := booking.StaysOf(row.Stays, a.roomType)
	ev, err := a.tentative.DecideModify(a.roomType, id, stays)
	if err != nil {
		return err
	}
	row.CreatedAt, row.Version, row.Status = cur.CreatedAt, cur.Version+1, booking.StatusConfirmed
	row.TotalPrice = a.tentative.PriceOf(stays) + c.GetOtherPrice()
	e.events = []booking.Event{ev}
	e.wrote(row)
	return nil
}

func (a *inventoryActor) decideCancel(e *entry, c *Cancel) error {
	ev, ok := a.tentative.DecideCancel(c.GetReservationId())
	if ok {
		e.events = []booking.Event{ev}
	}
	e.reply = &Reply{}
	if !c.GetWriteRow() { // secondary: give the rooms back, nothing else
		return nil
	}
	cur, err := a.currentRow(c.GetReservationId())
	if err != nil {
		return err
	}
	if cur.Status == booking.StatusCancelled {
		e.response = cur
		e.reply.Reservation = ReservationMsg(cur)
		return nil
	}
	cur.Status = booking.StatusCancelled
	cur.Version++
	cur.UpdatedAt = a.opts.now().UTC()
	if !ok { // the row changes even when the rooms were already given back
		e.events = []booking.Event{{Kind: booking.EventCancelled, Reservation: cur.ID}}
	}
	e.wrote(cur)
	return nil
}

func (a *inventoryActor) holdRow(id string, expires time.Time) persistence.HoldRow {
	return persistence.HoldRow{Tenant: a.tenant, ID: id, Property: a.property, RoomType: a.roomType, ExpiresAt: expires}
}

func (a *inventoryActor) decideHold(e *entry, c *Hold) error {
	stays := staysOf(c.GetStays())
	expires := time.UnixMilli(c.GetExpiresAtUnixMs()).UTC()
	ev, err := a.tentative.DecideHold(a.roomType, c.GetHoldId(), stays, expires, c.GetReservationTag())
	if err != nil {
		return err
	}
	e.events = []booking.Event{ev}
	e.put = []persistence.HoldRow{a.holdRow(c.GetHoldId(), expires)}
	e.reply = &Reply{Price: a.tentative.PriceOf(stays)}
	if c.GetResponseBody() != nil {
		e.response = c.GetResponseBody()
	}
	return nil
}

func (a *inventoryActor) decideRelease(e *entry, c *ReleaseHold) error {
	ev, ok := a.tentative.DecideReleaseHold(c.GetHoldId(), "released")
	e.reply = &Reply{}
	if ok {
		e.events = []booking.Event{ev}
		e.del = []persistence.HoldRow{a.holdRow(c.GetHoldId(), time.Time{})}
	}
	return nil
}

func (a *inventoryActor) decideConvert(e *entry, c *ConvertHold) error {
	ev, err := a.tentative.DecideConvertHold(a.roomType, c.GetHoldId(), c.GetReservationId(), staysOf(c.GetStays()))
	if err != nil {
		return err
	}
	e.events = []booking.Event{ev}
	e.del = []persistence.HoldRow{a.holdRow(c.GetHoldId(), time.Time{})}
	e.reply = &Reply{}
	return nil
}

// availability answers from the committed state: every acknowledged change
// is in it, nothing unacknowledged is.
func (a *inventoryActor) availability(c *ReadAvailability) *Reply {
	if !a.committed.Exists {
		return errReply(booking.NotFound(booking.KindRoomType, a.roomType))
	}
	nights := a.committed.Availability(booking.Date(c.GetFrom()), booking.Date(c.GetTo()))
	return &Reply{Nights: nightMsgs(nights), Seq: a.committed.Seq}
}
