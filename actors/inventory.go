package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Options tune the inventory actor.
type Options struct {
	// SnapshotEvery is the fewest events between two snapshots. An actor
	// waits longer when its state is larger (one event per reservation or
	// hold it knows), so that snapshots cost O(1) per event however big
	// the calendar grows; a reload replays at most about as many events as
	// the snapshot holds entries.
	SnapshotEvery int64
	// MaxBatch bounds the requests of one group commit.
	MaxBatch int
	// GroupCommit false commits every change on its own (a benchmark switch).
	GroupCommit bool
	// CommitTimeout bounds one batch transaction.
	CommitTimeout time.Duration
	// IdleTimeout passivates an actor nobody asked anything for this long.
	IdleTimeout time.Duration
	// IdempotencyTTL is how long completed keys are kept.
	IdempotencyTTL time.Duration
	// RecentKeys bounds the idempotency keys an actor remembers in memory.
	RecentKeys int
	Now        func() time.Time
	Logger     *zap.Logger
	// OnCommit, when set, is called after each commit with the committed
	// state's seq before and after and the nights that changed. It runs on
	// the actor's goroutine and must not block.
	OnCommit func(c Commit)
	// Outbox, when set, returns the jobs (emails, webhooks) of a batch;
	// they are written in the batch's own transaction, so no commit goes
	// without its jobs and no job without its commit. It runs on the
	// actor's goroutine and must not block.
	Outbox func(b persistence.OutboxBatch) []persistence.JobRow
}

// Commit describes one committed batch, for live availability deltas.
type Commit struct {
	Tenant, Property, RoomType string
	PrevSeq, Seq               int64
	Nights                     []booking.NightView
	// AllNights: the room type's defaults changed, so every night not
	// overridden changed too; subscribers should re-read their range.
	AllNights bool
	At        time.Time
}

func (o *Options) withDefaults() {
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = 500
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Minute
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = persistence.DefaultIdempotencyTTL
	}
	if o.RecentKeys <= 0 {
		o.RecentKeys = 4096
	}
	if o.Now == nil {
		o.Now = now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// now is the wall clock at the precision both stores keep (Postgres keeps
// microseconds), so an answer shows the same times a later read does.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Props returns the actor props of the inventory kind.
func Props(store persistence.Store, opts Options) *actor.Props {
	opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &inventoryActor{store: store, opts: opts}
	})
}

// entry is one request (or one internal change) waiting for its batch.
type entry struct {
	sender *actor.PID // nil for internal changes such as hold expiry
	cmd    *Command
	reply  *Reply
	events []booking.Event
	rows   []booking.Reservation
	put    []persistence.HoldRow
	del    []persistence.HoldRow
	rt     *booking.RoomType
	idem   *persistence.IdempotencyRecord
	nights []booking.Date // nights the events change; nil with allNights
	all    bool           // the events change every night (room type defaults)
	key    string         // idempotency key whose waiters get this reply
	// compact: the batch must write a snapshot and trim the journal
	// (history pruning).
	compact bool
	// solo: this request shared a batch that the store refused as data;
	// it is committed in a batch of its own, so that only the request whose
	// data is at fault fails.
	solo bool
}

type batch struct {
	records  int  // idempotency records to store (refusals have no events)
	snapshot bool // the batch writes a snapshot
	no       int64
	entries  []*entry
	events   int
	firstSeq int64
}

type commitDone struct {
	no  int64
	err error
}

type expiryTick struct{}

type recentKey struct {
	hash    string
	done    bool
	reply   *Reply
	waiters []*actor.PID
}

type pendingRow struct {
	row   booking.Reservation
	batch int64
}

type inventoryActor struct {
	store persistence.Store
	opts  Options
	log   *zap.Logger

	system                     *actor.ActorSystem
	self                       *actor.PID
	id                         string
	tenant, property, roomType string

	committed, tentative *booking.Inventory
	inflight, collecting *batch
	backlog              []*entry
	batchNo              int64
	pendingRows          map[string]pendingRow
	recent               map[string]*recentKey
	recentOrder          []string
	expiryTimer          *time.Timer
	expiryAt             time.Time
	broken               error
	sinceSnapshot        int64 // committed events after the latest snapshot
}

func (a *inventoryActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *Command:
		if a.broken != nil {
			a.send(ctx.Sender(), notCommitted("room type %s is unavailable: %v", a.roomType, a.broken))
			return
		}
		a.handle(ctx.Sender(), m)
		if m.Op == Op_OP_WAKE && a.broken == nil {
			// The scheduler's backstop sweep: release what is due now,
			// whatever became of the expiry timer.
			a.expire()
		}
		a.flush()
	case *commitDone:
		a.onCommitDone(ctx, m)
	case *expiryTick:
		if a.broken == nil {
			a.expire()
			a.flush()
		}
	case *actor.ReceiveTimeout:
		if a.inflight == nil && len(a.collecting.entries) == 0 && len(a.tentative.Holds) == 0 {
			ctx.Poison(ctx.Self())
		}
	case *actor.Stopping:
		if a.expiryTimer != nil {
			a.expiryTimer.Stop()
		}
	}
}

func (a *inventoryActor) start(ctx actor.Context) {
	a.system, a.self = ctx.ActorSystem(), ctx.Self()
	a.pendingRows = map[string]pendingRow{}
	a.recent = map[string]*recentKey{}
	a.collecting = &batch{}
	a.id = identityOf(ctx)
	a.log = a.opts.Logger.With(zap.String("actor", a.id))
	var err error
	if a.tenant, a.property, a.roomType, err = ParseIdentity(a.id); err != nil {
		a.broken = err
		return
	}
	if err := a.load(); err != nil {
		a.log.Error("inventory load failed", zap.Error(err))
		a.broken = err
		ctx.Poison(ctx.Self())
		return
	}
	ctx.SetReceiveTimeout(a.opts.IdleTimeout)
	a.expire()
	a.flush()
}

// identityOf is the cluster identity of a virtual actor, or the PID's id for
// an actor spawned by name outside a cluster (tests, tools).
// protoactor's GetClusterIdentity type-asserts without checking, so it
// panics when the extension is absent: recover turns that into "absent".
func identityOf(ctx actor.Context) (id string) {
	defer func() {
		if recover() != nil {
			id = ctx.Self().Id
		}
	}()
	if ci := protocluster.GetClusterIdentity(ctx); ci != nil {
		return ci.Identity
	}
	return ctx.Self().Id
}

// load reads the snapshot and the journal after it.
func (a *inventoryActor) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
	defer cancel()
	inv, since, err := loadInventory(ctx, a.store, a.id)
	if err != nil {
		return err
	}
	a.committed, a.tentative, a.sinceSnapshot = inv, inv.Clone(), since
	return nil
}

// LoadInventory rebuilds an actor's state from its snapshot and journal.
func LoadInventory(ctx context.Context, store persistence.Store, actorID string) (*booking.Inventory, error) {
	inv, _, err := loadInventory(ctx, store, actorID)
	return inv, err
}

// loadInventory also tells how many events follow the snapshot.
func loadInventory(ctx context.Context, store persistence.Store, actorID string) (*booking.Inventory, int64, error) {
	st, err := store.LoadActor(ctx, actorID)
	if err != nil {
		return nil, 0, fmt.Errorf("load actor %s: %w", actorID, err)
	}
	inv := booking.NewInventory()
	if st.Snapshot != nil {
		if err := json.Unmarshal(st.Snapshot, inv); err != nil {
			return nil, 0, fmt.Errorf("decode snapshot of %s: %w", actorID, err)
		}
		if inv.Seq != st.SnapshotSeq {
			return nil, 0, fmt.Errorf("snapshot of %s says seq %d, stored as %d", actorID, inv.Seq, st.SnapshotSeq)
		}
	}
	for _, je := range st.Events {
		var e booking.Event
		if err := json.Unmarshal(je.Data, &e); err != nil {
			return nil, 0, fmt.Errorf("decode event %d of %s: %w", je.Seq, actorID, err)
		}
		if je.Seq != inv.Seq+1 {
			return nil, 0, fmt.Errorf("journal of %s jumps from %d to %d", actorID, inv.Seq, je.Seq)
		}
		inv.Apply(e)
	}
	return inv, int64(len(st.Events)), nil
}

func (a *inventoryActor) send(to *actor.PID, r *Reply) {
	if to != nil {
		a.system.Root.Send(to, r)
	}
}

// batchFull tells whether the collecting batch must wait for the next commit.
func (a *inventoryActor) batchFull() bool {
	c := a.collecting
	if len(c.entries) >= a.opts.MaxBatch || (len(c.entries) > 0 && c.entries[0].solo) {
		return true
	}
	return !a.opts.GroupCommit && c.events > 0
}

// handle decides one command on the tentative state and queues its entry.
func (a *inventoryActor) handle(sender *actor.PID, cmd *Command) { a.handleEntry(sender, cmd, false) }

// handleEntry is handle for a request that may have to commit alone (solo):
// it then waits until the collecting batch is empty, and fills it alone.
func (a *inventoryActor) handleEntry(sender *actor.PID, cmd *Command, solo bool) {
	if cmd.Op == Op_OP_AVAILABILITY {
		a.send(sender, a.availability(cmd))
		return
	}
	if a.batchFull() || (solo && len(a.collecting.entries) > 0) {
		a.backlog = append(a.backlog, &entry{sender: sender, cmd: cmd, solo: solo})
		return
	}
	e := &entry{sender: sender, cmd: cmd, solo: solo}
	if k := cmd.GetIdem().GetKey(); k != "" {
		if r, ok := a.recent[k]; ok {
			switch {
			case r.hash != cmd.Idem.RequestHash:
				a.send(sender, errReply(booking.Errorf(booking.CodeIdempotencyKeyReused, "idempotency key was used for another request")))
			case r.done:
				a.send(sender, dedupReply(r.reply))
			default:
				r.waiters = append(r.waiters, sender)
			}
			return
		}
		a.remember(k, cmd.Idem.RequestHash)
		e.key = k
	}
	a.decide(e)
	a.collecting.entries = append(a.collecting.entries, e)
	a.collecting.events += len(e.events)
	if e.idem != nil {
		a.collecting.records++
	}
}

// dedupReply is the answer to a duplicate of a keyed request: a success is
// stored with its key by now (answers go out after commit), so the duplicate
// is told to replay the stored response; a refusal is repeated as it was.
func dedupReply(r *Reply) *Reply {
	if (r.Code == "" || r.RefusalStored) && !r.NotCommitted {
		return &Reply{IdempotencyTaken: true}
	}
	return r
}

func (a *inventoryActor) remember(key, hash string) {
	a.recent[key] = &recentKey{hash: hash}
	a.recentOrder = append(a.recentOrder, key)
	for len(a.recentOrder) > a.opts.RecentKeys {
		old := a.recentOrder[0]
		a.recentOrder = a.recentOrder[1:]
		if r := a.recent[old]; r != nil && r.done {
			delete(a.recent, old)
		}
	}
}

// decide runs the booking rules and fills e with events, writes and a reply.
// Events are applied to the tentative state at once, so the next request is
// decided on top of this one while it commits.
func (a *inventoryActor) decide(e *entry) {
	var err error
	switch e.cmd.Op {
	case Op_OP_WAKE:
		e.reply = &Reply{Seq: a.tentative.Seq}
	case Op_OP_PRUNE:
		e.reply = &Reply{}
		if ev, nights, allocations, ok := a.tentative.DecidePrune(booking.Date(e.cmd.From)); ok {
			e.events, e.compact = []booking.Event{ev}, true
			e.reply.Nights, e.reply.Allocations = int32(nights), int32(allocations)
		}
	case Op_OP_PUT_ROOM_TYPE:
		err = a.decidePutRoomType(e)
	case Op_OP_SET_INVENTORY:
		err = a.decideInventory(e)
	case Op_OP_BOOK:
		err = a.decideBook(e)
	case Op_OP_MODIFY:
		err = a.decideModify(e)
	case Op_OP_CANCEL:
		err = a.decideCancel(e)
	case Op_OP_HOLD:
		err = a.decideHold(e)
	case Op_OP_RELEASE_HOLD:
		err = a.decideRelease(e)
	case Op_OP_CONVERT_HOLD:
		err = a.decideConvert(e)
	default:
		err = booking.Errorf(booking.CodeInvalid, "unknown operation %v", e.cmd.Op)
	}
	if err != nil {
		e.events, e.rows, e.put, e.del, e.rt, e.idem = nil, nil, nil, nil, nil, nil
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
	if e.key != "" && len(e.events) > 0 && e.cmd.Idem.Status > 0 {
		body := e.reply.Result
		if e.cmd.Result != nil {
			body = e.cmd.Result
		}
		now := a.opts.Now().UTC()
		e.idem = &persistence.IdempotencyRecord{Tenant: a.tenant, Key: e.key, RequestHash: e.cmd.Idem.RequestHash,
			Status: int(e.cmd.Idem.Status), Body: body, CreatedAt: now, ExpiresAt: now.Add(a.opts.IdempotencyTTL)}
	}
}

// storeRefusal keeps a keyed refusal (sold out, restricted …) with its key
// in the next commit, so a flash sale's thousands of refusals share the
// batch's one transaction instead of one write each after the answer.
func (a *inventoryActor) storeRefusal(e *entry, err error) {
	var be *booking.Error
	if e.key == "" || e.cmd.Idem.Status <= 0 || !errors.As(err, &be) {
		return
	}
	status, ok := be.Code.HTTPStatus()
	if !ok || status >= 500 || be.Code == booking.CodeIdempotencyKeyReused {
		return
	}
	body, merr := json.Marshal(booking.ErrorResponse{Error: be})
	if merr != nil {
		return
	}
	now := a.opts.Now().UTC()
	e.idem = &persistence.IdempotencyRecord{Tenant: a.tenant, Key: e.key, RequestHash: e.cmd.Idem.RequestHash,
		Status: status, Body: body, CreatedAt: now, ExpiresAt: now.Add(a.opts.IdempotencyTTL)}
	e.reply.RefusalStored = true
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

func decodeStays(b []byte) ([]booking.Stay, error) {
	var s []booking.Stay
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, booking.Errorf(booking.CodeInvalid, "bad stays: %v", err)
	}
	return s, nil
}

func (a *inventoryActor) decidePutRoomType(e *entry) error {
	c := e.cmd
	ev, err := a.tentative.DecideRoomType(a.roomType, c.Name, c.Rooms, c.Price)
	if err != nil {
		return err
	}
	now := a.opts.Now().UTC()
	rt := booking.RoomType{Tenant: a.tenant, Property: a.property, ID: a.roomType, Name: c.Name,
		Rooms: c.Rooms, Price: c.Price, CreatedAt: now, UpdatedAt: now}
	created := !a.tentative.Exists
	if !created {
		if old, err := a.readRoomType(); err == nil {
			rt.CreatedAt = old.CreatedAt
		}
	}
	res, _ := json.Marshal(rt)
	e.events, e.rt = []booking.Event{ev}, &rt
	e.reply = &Reply{Result: res, Created: created}
	return nil
}

func (a *inventoryActor) readRoomType() (booking.RoomType, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
	defer cancel()
	return a.store.GetRoomType(ctx, a.tenant, a.property, a.roomType)
}

func (a *inventoryActor) decideInventory(e *entry) error {
	var ups []booking.InventoryUpdate
	if err := json.Unmarshal(e.cmd.Updates, &ups); err != nil {
		return booking.Errorf(booking.CodeInvalid, "bad updates: %v", err)
	}
	ev, nights, err := a.tentative.DecideInventory(a.roomType, ups)
	if err != nil {
		return err
	}
	res, _ := json.Marshal(map[string]int{"updated_nights": nights})
	e.reply = &Reply{Nights: int32(nights), Result: res}
	if !e.cmd.DryRun {
		e.events = []booking.Event{ev}
	}
	return nil
}

// decodeRow reads the reservation row a primary actor is asked to write.
func decodeRow(b []byte) (booking.Reservation, error) {
	var r booking.Reservation
	if err := json.Unmarshal(b, &r); err != nil {
		return r, booking.Errorf(booking.CodeInvalid, "bad reservation: %v", err)
	}
	return r, nil
}

// rowFor fills the fields of a row that JSON does not carry.
func (a *inventoryActor) rowFor(r booking.Reservation, primary string) booking.Reservation {
	r.Tenant, r.Property, r.Primary = a.tenant, a.property, primary
	return r
}

func (a *inventoryActor) decideBook(e *entry) error {
	row, err := decodeRow(e.cmd.Reservation)
	if err != nil {
		return err
	}
	own := booking.StaysOf(row.Stays, a.roomType)
	var ev booking.Event
	if h := e.cmd.HoldId; h != "" {
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
	row = a.rowFor(row, a.roomType)
	// A converted hold is priced like any booking: at confirmation.
	row.TotalPrice = a.tentative.PriceOf(own) + e.cmd.OtherPrice
	body, _ := json.Marshal(row)
	e.events, e.rows = []booking.Event{ev}, []booking.Reservation{row}
	e.reply = &Reply{Result: body, Price: row.TotalPrice}
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

func (a *inventoryActor) decideModify(e *entry) error {
	c := e.cmd
	stays, err := decodeStays(c.Stays)
	if err != nil {
		return err
	}
	if len(c.Reservation) == 0 { // a secondary room type of the reservation
		ev, err := a.tentative.DecideModify(a.roomType, c.ReservationId, stays)
		if err != nil {
			return err
		}
		e.events, e.reply = []booking.Event{ev}, &Reply{Price: a.tentative.PriceOf(stays)}
		return nil
	}
	row, err := decodeRow(c.Reservation)
	if err != nil {
		return err
	}
	cur, err := a.currentRow(row.ID)
	if err != nil {
		return err
	}
	if cur.Status != booking.StatusConfirmed {
		return booking.Conflict(booking.KindReservation, row.ID, map[string]any{"status": cur.Status}, "reservation %s is %s", row.ID, cur.Status)
	}
	if cur.Version != c.ExpectVersion {
		return booking.Conflict(booking.KindReservation, row.ID, map[string]any{"version": cur.Version},
			"reservation %s changed meanwhile (version %d, expected %d); retry", row.ID, cur.Version, c.ExpectVersion)
	}
	ev, err := a.tentative.DecideModify(a.roomType, row.ID, stays)
	if err != nil {
		return err
	}
	row = a.rowFor(row, cur.Primary)
	row.CreatedAt, row.Version, row.Status = cur.CreatedAt, cur.Version+1, booking.StatusConfirmed
	row.TotalPrice = a.tentative.PriceOf(stays) + c.OtherPrice
	body, _ := json.Marshal(row)
	e.events, e.rows = []booking.Event{ev}, []booking.Reservation{row}
	e.reply = &Reply{Result: body, Price: row.TotalPrice}
	return nil
}

func (a *inventoryActor) decideCancel(e *entry) error {
	c := e.cmd
	ev, ok := a.tentative.DecideCancel(c.ReservationId)
	if ok {
		e.events = []booking.Event{ev}
	}
	e.reply = &Reply{}
	if len(c.Reservation) == 0 { // secondary: give the rooms back, nothing else
		return nil
	}
	cur, err := a.currentRow(c.ReservationId)
	if err != nil {
		return err
	}
	if cur.Status != booking.StatusCancelled {
		cur.Status = booking.StatusCancelled
		cur.Version++
		cur.UpdatedAt = a.opts.Now().UTC()
		e.rows = []booking.Reservation{cur}
		if !ok { // the row changes even when the rooms were already given back
			e.events = []booking.Event{{Kind: booking.EventCancelled, Reservation: cur.ID}}
		}
	}
	e.reply.Result, _ = json.Marshal(cur)
	return nil
}

func (a *inventoryActor) holdRow(id string, expires time.Time) persistence.HoldRow {
	return persistence.HoldRow{Tenant: a.tenant, ID: id, Property: a.property, RoomType: a.roomType, ExpiresAt: expires}
}

func (a *inventoryActor) decideHold(e *entry) error {
	c := e.cmd
	stays, err := decodeStays(c.Stays)
	if err != nil {
		return err
	}
	expires := time.UnixMilli(c.ExpiresAtUnixMs).UTC()
	ev, err := a.tentative.DecideHold(a.roomType, c.HoldId, stays, expires, c.HoldReservation)
	if err != nil {
		return err
	}
	e.events = []booking.Event{ev}
	e.put = []persistence.HoldRow{a.holdRow(c.HoldId, expires)}
	e.reply = &Reply{Price: a.tentative.PriceOf(stays), Result: c.Result}
	return nil
}

func (a *inventoryActor) decideRelease(e *entry) error {
	ev, ok := a.tentative.DecideReleaseHold(e.cmd.HoldId, "released")
	e.reply = &Reply{}
	if ok {
		e.events = []booking.Event{ev}
		e.del = []persistence.HoldRow{a.holdRow(e.cmd.HoldId, time.Time{})}
	}
	return nil
}

func (a *inventoryActor) decideConvert(e *entry) error {
	c := e.cmd
	var stays []booking.Stay
	if len(c.Stays) > 0 {
		s, err := decodeStays(c.Stays)
		if err != nil {
			return err
		}
		stays = s
	}
	ev, err := a.tentative.DecideConvertHold(a.roomType, c.HoldId, c.ReservationId, stays)
	if err != nil {
		return err
	}
	e.events = []booking.Event{ev}
	e.del = []persistence.HoldRow{a.holdRow(c.HoldId, time.Time{})}
	e.reply = &Reply{}
	return nil
}

// availability answers from the committed state: every acknowledged change
// is in it, nothing unacknowledged is.
func (a *inventoryActor) availability(c *Command) *Reply {
	if !a.committed.Exists {
		return errReply(booking.NotFound(booking.KindRoomType, a.roomType))
	}
	nights := a.committed.Availability(booking.Date(c.From), booking.Date(c.To))
	res, _ := json.Marshal(nights)
	return &Reply{Result: res, Seq: a.committed.Seq}
}

// expire releases holds whose time has come. A hold taken for a reservation
// that spans several room types is converted instead when the store shows
// that reservation confirmed: its coordinator died before converting.
func (a *inventoryActor) expire() {
	now := a.opts.Now()
	for _, id := range a.tentative.ExpiredHolds(now) {
		if a.batchFull() {
			break // the rest on the next tick, after this commit
		}
		h := a.tentative.Holds[id]
		ev, _ := a.tentative.DecideReleaseHold(id, "expired")
		if resID, version, ok := parseHoldTag(h.Reservation); ok {
			if r, err := a.currentRow(resID); err == nil && r.Status == booking.StatusConfirmed && r.Version >= version {
				ev = booking.Event{Kind: booking.EventHoldConverted, Hold: id, Reservation: resID}
			} else if err != nil && booking.ErrorCode(err) != booking.CodeNotFound {
				a.log.Warn("hold expiry deferred: reservation unreadable", zap.String("hold", id), zap.Error(err))
				continue
			}
		}
		e := &entry{events: []booking.Event{ev}, del: []persistence.HoldRow{a.holdRow(id, time.Time{})}, reply: &Reply{}}
		a.applyTentative(e)
		a.collecting.entries = append(a.collecting.entries, e)
		a.collecting.events++
	}
	a.scheduleExpiry()
}

func (a *inventoryActor) scheduleExpiry() {
	next := a.tentative.NextExpiry()
	if next.IsZero() || (!a.expiryAt.IsZero() && a.expiryAt.Equal(next) && a.expiryTimer != nil) {
		return
	}
	if a.expiryTimer != nil {
		a.expiryTimer.Stop()
	}
	a.expiryAt = next
	d := max(next.Sub(a.opts.Now()), 10*time.Millisecond)
	sys, self := a.system, a.self
	a.expiryTimer = time.AfterFunc(d, func() { sys.Root.Send(self, &expiryTick{}) })
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

// commit writes batch b in one transaction, off the actor's goroutine; the
// outcome comes back as a commitDone message.
func (a *inventoryActor) commit(b *batch) {
	b.firstSeq = a.committed.Seq + 1
	now := a.opts.Now().UTC()
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
	threshold := max(a.opts.SnapshotEvery, int64(len(a.tentative.Allocations)+len(a.tentative.Holds)))
	compact := slices.ContainsFunc(b.entries, func(e *entry) bool { return e.compact })
	pb.TrimJournal = compact
	if compact || a.sinceSnapshot+int64(len(pb.Events)) >= threshold {
		// tentative is exactly the state after this batch: nothing newer has
		// been decided yet, since the collecting batch was just opened.
		pb.Snapshot, _ = json.Marshal(a.tentative)
		b.snapshot = true
	}
	store, sys, self, timeout, no := a.store, a.system, a.self, a.opts.CommitTimeout, b.no
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err := store.CommitBatch(ctx, pb)
		sys.Root.Send(self, &commitDone{no: no, err: err})
	}()
}

func (a *inventoryActor) lastSeqOf(b *batch) int64 {
	return b.firstSeq + int64(b.events) - 1
}

func (a *inventoryActor) onCommitDone(ctx actor.Context, m *commitDone) {
	b := a.inflight
	if b == nil || b.no != m.no {
		return
	}
	a.inflight = nil
	err := m.err
	if errors.Is(err, persistence.ErrMaybeCommitted) {
		err = a.resolveUnknown(b, err)
	}
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
		a.log.Warn("inventory request refused by the store as data", zap.String("op", reqs[0].cmd.Op.String()), zap.Error(err))
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

// takenKeys lists which idempotency keys of a batch have a stored record.
func (a *inventoryActor) takenKeys(b *batch) (map[string]bool, error) {
	taken := map[string]bool{}
	for _, e := range b.entries {
		if e.idem == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
		_, err := a.store.GetIdempotency(ctx, a.tenant, e.key)
		cancel()
		switch {
		case err == nil:
			taken[e.key] = true
		case !errors.Is(err, persistence.ErrNotFound):
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
	}
	return taken, nil
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

// resolveUnknown learns from the journal whether a batch whose COMMIT got no
// answer was stored: never guess.
func (a *inventoryActor) resolveUnknown(b *batch, cause error) error {
	deadline := time.Now().Add(a.opts.CommitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last, err := a.store.LastSeq(ctx, a.id)
		cancel()
		if err == nil {
			switch last {
			case a.lastSeqOf(b):
				return nil
			case b.firstSeq - 1:
				return fmt.Errorf("commit not stored: %w", cause)
			default:
				return fmt.Errorf("journal at %d after unknown commit of %d..%d: %w", last, b.firstSeq, a.lastSeqOf(b), persistence.ErrFenced)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("commit outcome still unknown: %w", persistence.ErrFenced)
		}
		time.Sleep(100 * time.Millisecond)
	}
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

func (a *inventoryActor) answer(e *entry, r *Reply) {
	a.send(e.sender, r)
	if e.key == "" {
		return
	}
	rk := a.recent[e.key]
	if rk == nil {
		return
	}
	for _, w := range rk.waiters {
		a.send(w, dedupReply(r))
	}
	rk.waiters = nil
	if r.NotCommitted {
		delete(a.recent, e.key)
		return
	}
	rk.done, rk.reply = true, r
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
			if rk := a.recent[e.key]; rk != nil {
				waiters = rk.waiters
			}
			delete(a.recent, e.key)
		}
		a.handleEntry(e.sender, e.cmd, e.solo)
		if rk := a.recent[e.cmd.GetIdem().GetKey()]; rk != nil && len(waiters) > 0 {
			rk.waiters = append(rk.waiters, waiters...)
		}
	}
	a.expire()
}

// applyTentative applies e's events to the tentative state, noting first
// which nights they change (for the live deltas sent after commit).
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
	a.opts.OnCommit(Commit{Tenant: a.tenant, Property: a.property, RoomType: a.roomType,
		PrevSeq: prev, Seq: a.committed.Seq, Nights: nights, AllNights: all, At: a.opts.Now()})
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
