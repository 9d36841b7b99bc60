package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Group commit: requests decided while a batch commits collect in the next
// batch, which commits as soon as the one in flight is done, in one
// transaction, off the actor's goroutine. No caller is answered before the
// transaction that holds its change commits.

type batch struct {
	records  int  // idempotency records to store (refusals have no events)
	snapshot bool // the batch writes a snapshot
	no       int64
	entries  []*entry
	events   int
	firstSeq int64
}

func (b *batch) add(e *entry) {
	b.entries = append(b.entries, e)
	b.events += len(e.events)
	if e.idem != nil {
		b.records++
	}
}

// commitDone is a commit's outcome, sent back to the actor. resolved: the
// outcome was read back from the journal after an unanswered COMMIT.
type commitDone struct {
	no       int64
	err      error
	resolved bool
}

// batchFull tells whether the collecting batch must wait for the next commit.
func (a *inventoryActor) batchFull() bool {
	c := a.collecting
	if len(c.entries) >= a.opts.MaxBatch || (len(c.entries) > 0 && c.entries[0].solo) {
		return true
	}
	return !a.opts.GroupCommit && c.events > 0
}

// flush starts committing the collecting batch when nothing is in flight.
func (a *inventoryActor) flush() {
	for a.inflight == nil && len(a.collecting.entries) > 0 {
		b := a.collecting
		a.batchNo++
		b.no = a.batchNo
		a.collecting = &batch{}
		if b.events == 0 && b.records == 0 {
			a.finish(b)
			a.drainBacklog()
			continue
		}
		a.inflight = b
		a.commit(b)
	}
}

func (a *inventoryActor) drainBacklog() {
	for len(a.backlog) > 0 && !a.batchFull() {
		e := a.backlog[0]
		if e.solo && len(a.collecting.entries) > 0 {
			return // it opens the next batch, alone
		}
		a.backlog = a.backlog[1:]
		a.handleEntry(e.sender, e.cmd, e.solo)
	}
}

// commit hands batch b to the node's committer, which writes it in one
// transaction (joined with other actors' batches), off the actor's
// goroutine; the outcome comes back as a commitDone message.
func (a *inventoryActor) commit(b *batch) {
	b.firstSeq = a.committed.Seq + 1
	now := a.opts.now().UTC()
	pb := persistence.Batch{ActorID: a.id, FirstSeq: b.firstSeq, At: now}
	for _, e := range b.entries {
		for _, ev := range e.events {
			data, err := json.Marshal(ev)
			if err != nil {
				panic(fmt.Sprintf("encode event: %v", err)) // plain values always encode
			}
			pb.Events = append(pb.Events, data)
		}
		pb.Reservations = append(pb.Reservations, e.rows...)
		pb.PutHolds = append(pb.PutHolds, e.put...)
		pb.DeleteHolds = append(pb.DeleteHolds, e.del...)
		if e.rt != nil {
			pb.RoomType = e.rt
		}
		if e.idem != nil {
			pb.Idempotency = append(pb.Idempotency, *e.idem)
		}
	}
	if a.opts.Outbox != nil && len(pb.Events) > 0 {
		after := a.tentative // the state after this batch (see below)
		pb.Jobs = a.opts.Outbox(persistence.OutboxBatch{Tenant: a.tenant, Property: a.property, RoomType: a.roomType,
			Seq: b.firstSeq + int64(len(pb.Events)) - 1, Reservations: pb.Reservations, At: now,
			Availability: func() ([]booking.NightView, bool) { return changedNights(b, after) }})
	}
	compact := slices.ContainsFunc(b.entries, func(e *entry) bool { return e.compact })
	pb.TrimJournal = compact
	if a.snapshotDue(len(pb.Events), compact) {
		// tentative is exactly the state after this batch: nothing newer has
		// been decided yet, since the collecting batch was just opened.
		pb.Snapshot, _ = json.Marshal(a.tentative)
		b.snapshot = true
	}
	sys, self, no := a.system, a.self, b.no
	a.committer.submit(pb, func(err error) { sys.Root.Send(self, &commitDone{no: no, err: err}) })
}

func (a *inventoryActor) lastSeqOf(b *batch) int64 {
	return b.firstSeq + int64(b.events) - 1
}

func (a *inventoryActor) onCommitDone(ctx actor.Context, m *commitDone) {
	b := a.inflight
	if b == nil || b.no != m.no {
		return
	}
	err := m.err
	if !m.resolved && errors.Is(err, persistence.ErrMaybeCommitted) {
		a.resolveUnknown(b, err)
		return
	}
	a.inflight = nil
	switch {
	case err == nil:
		prev := a.committed.Seq
		if b.snapshot {
			a.sinceSnapshot = 0
		} else {
			a.sinceSnapshot += int64(b.events)
		}
		a.finish(b)
		a.notify(b, prev)
		a.drainBacklog()
		a.flush()
	case errors.Is(err, persistence.ErrFenced):
		a.log.Warn("inventory fenced: another activation owns this room type; stopping", zap.Error(err))
		a.failAll(b, notCommitted("room type %s moved to another activation; retry", a.roomType))
		a.broken = err
		ctx.Poison(ctx.Self())
	case errors.Is(err, persistence.ErrIdempotencyTaken):
		// Some key of the batch already has a stored outcome (a retry from
		// before this activation): answer those "taken" so the gateway
		// replays the stored response, and decide the others again.
		taken, terr := a.takenKeys(b)
		if terr != nil {
			a.onCommitFailed(ctx, b, terr)
			return
		}
		var again []*entry
		for _, e := range b.entries {
			switch {
			case e.idem != nil && taken[e.key]:
				a.answer(e, &Reply{IdempotencyTaken: true})
			case e.cmd != nil:
				again = append(again, e)
			}
		}
		a.collecting.entries = append(again, a.collecting.entries...)
		a.reloadAndRedecide(ctx)
	case errors.Is(err, persistence.ErrInvalidData):
		a.onInvalidData(ctx, b, err)
	default:
		a.onCommitFailed(ctx, b, err)
	}
}

// resolveUnknown learns from the journal whether a batch whose COMMIT got
// no answer was stored: never guess. The reading runs on a goroutine of its
// own and reports back as a resolved commitDone; meanwhile the batch stays
// in flight (nothing else commits, callers wait) but the actor keeps
// serving reads and collecting the next batch.
func (a *inventoryActor) resolveUnknown(b *batch, cause error) {
	store, id, sys, self, timeout := a.store, a.id, a.system, a.self, a.opts.CommitTimeout
	no, first, last := b.no, b.firstSeq, a.lastSeqOf(b)
	go func() {
		err := readOutcome(store, id, first, last, timeout, cause)
		sys.Root.Send(self, &commitDone{no: no, err: err, resolved: true})
	}()
}

// readOutcome reads the journal's last seq until it says whether the
// events first..last were stored (nil), not stored, or overtaken by
// another activation; it gives up as fenced after timeout.
func readOutcome(store Store, actorID string, first, last int64, timeout time.Duration, cause error) error {
	deadline := time.Now().Add(timeout)
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		seq, err := store.LastSeq(ctx, actorID)
		cancel()
		if err == nil {
			switch seq {
			case last:
				return nil
			case first - 1:
				return fmt.Errorf("commit not stored (%v)", cause)
			default:
				return fmt.Errorf("journal at %d after unknown commit of %d..%d: %w", seq, first, last, persistence.ErrFenced)
			}
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("commit outcome still unknown: %w", persistence.ErrFenced)
		}
		time.Sleep(pause) // this goroutine's, not the actor's
	}
}

// onInvalidData handles a batch the store refused because of its data (a
// text Postgres cannot hold, a broken constraint): a fault of one request,
// not an outage, so no caller is told "unavailable, retry". A batch of one
// request answers it 400; a batch of several commits each of its requests
// again in a batch of its own, in order, so that only the offender fails
// and everyone else is answered as if it had never been there. Requests
// collected meanwhile follow them on the normal path. This is the rare
// path: the gateway refuses such data before it reaches an actor.
func (a *inventoryActor) onInvalidData(ctx actor.Context, b *batch, err error) {
	var reqs []*entry
	for _, e := range b.entries {
		if e.cmd != nil {
			reqs = append(reqs, e)
		}
	}
	switch len(reqs) {
	case 0: // internal changes only (hold expiry): nothing to single out
		a.onCommitFailed(ctx, b, err)
		return
	case 1:
		a.log.Warn("inventory request refused by the store as data", zap.String("op", opName(reqs[0].cmd)), zap.Error(err))
		a.answer(reqs[0], invalidDataReply(reqs[0]))
	default:
		a.log.Warn("inventory batch refused by the store as data; committing its requests one by one",
			zap.Int("requests", len(reqs)), zap.Error(err))
		for _, e := range reqs {
			e.solo = true
		}
		a.collecting.entries = append(reqs, a.collecting.entries...)
	}
	a.reloadAndRedecide(ctx)
}

// invalidDataReply is the answer to a request whose data the store refused:
// 400 invalid_request naming the fields the text rules find at fault (the
// database says what it refused, not which field), else the body.
func invalidDataReply(e *entry) *Reply {
	fe := booking.FieldErrors{}
	for _, r := range e.rows {
		r.Guest.Validate(fe, "guest.")
		booking.ValidateText(fe, "channel", r.Channel, booking.ChannelRule)
		booking.ValidateText(fe, "external_ref", r.ExternalRef, booking.ExternalRefRule)
	}
	if e.rt != nil {
		booking.ValidateText(fe, "name", e.rt.Name, booking.NameRule)
	}
	if len(fe) == 0 {
		fe.Add("body", "holds data the database cannot store")
	}
	return errReply(fe.Err())
}

// onCommitFailed fails a batch that was not stored, reloads and decides the
// requests collected meanwhile again.
func (a *inventoryActor) onCommitFailed(ctx actor.Context, b *batch, err error) {
	a.log.Warn("inventory commit failed; reloading", zap.Int("requests", len(b.entries)), zap.Error(err))
	a.failEntries(b.entries, notCommitted("could not store the change of %s: nothing was changed", a.roomType))
	a.reloadAndRedecide(ctx)
}

// reloadAndRedecide drops the tentative state for what the store holds and
// decides the waiting requests again; an actor that cannot reload stops.
func (a *inventoryActor) reloadAndRedecide(ctx actor.Context) {
	if err := a.load(); err != nil {
		a.log.Error("inventory reload failed; stopping", zap.Error(err))
		a.failAll(nil, notCommitted("room type %s is unavailable; retry", a.roomType))
		a.broken = err
		ctx.Poison(ctx.Self())
		return
	}
	a.redecide()
	a.flush()
}

// finish makes a committed batch visible and answers its callers.
func (a *inventoryActor) finish(b *batch) {
	for _, e := range b.entries {
		for _, ev := range e.events {
			a.committed.Apply(ev)
		}
		for _, r := range e.rows {
			if p, ok := a.pendingRows[r.ID]; ok && p.batch <= b.no {
				delete(a.pendingRows, r.ID)
			}
		}
		a.answer(e, e.reply)
	}
	a.scheduleExpiry()
}

// answer replies to e's caller and to the retries waiting on its key.
func (a *inventoryActor) answer(e *entry, r *Reply) {
	a.send(e.sender, r)
	a.settle(e, r)
}

func (a *inventoryActor) failEntries(es []*entry, r *Reply) {
	for _, e := range es {
		a.answer(e, r)
	}
}

func (a *inventoryActor) failAll(b *batch, r *Reply) {
	if b != nil {
		a.failEntries(b.entries, r)
	}
	a.failEntries(a.collecting.entries, r)
	a.failEntries(a.backlog, r)
	a.collecting, a.backlog = &batch{}, nil
}

// redecide runs again, on the reloaded state, the requests that were decided
// on top of a batch that failed: they were never tried, so they must not fail.
func (a *inventoryActor) redecide() {
	pending := append(a.collecting.entries, a.backlog...)
	a.collecting, a.backlog = &batch{}, nil
	a.pendingRows = map[string]pendingRow{}
	for _, e := range pending {
		if e.cmd == nil {
			continue // internal (expiry): expire() decides those again
		}
		var waiters []*actor.PID
		if e.key != "" {
			if rk := a.keys.get(e.key); rk != nil {
				waiters = rk.waiters
			}
			a.keys.forget(e.key)
		}
		a.handleEntry(e.sender, e.cmd, e.solo)
		if rk := a.keys.get(e.cmd.GetIdem().GetKey()); rk != nil && len(waiters) > 0 {
			rk.waiters = append(rk.waiters, waiters...)
		}
	}
	a.expire()
}
