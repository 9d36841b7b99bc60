package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// The inventory actor owns one room type's calendar and serialises every
// change to it. Its work is split by concern over this package's files:
//   - inventory.go: the actor, its messages and its life cycle;
//   - decide.go: the booking rules applied to each command;
//   - commit.go: group commit (one batch at a time, off the mailbox) and
//     what happens when a commit fails;
//   - committer.go: the node's committer, which joins the batches of many
//     actors into one transaction;
//   - idempotency.go: the keys the actor remembers and their stored records;
//   - expiry.go: hold expiry and its timer;
//   - snapshot.go: loading state and when to snapshot;
//   - deltas.go: the nights a batch changed, for live deltas and jobs.

type inventoryActor struct {
	store     Store
	committer *committer
	opts      Options
	log       *zap.Logger

	system                     *actor.ActorSystem
	self                       *actor.PID
	id                         string
	tenant, property, roomType string

	// committed is the state every acknowledged change is in; tentative is
	// committed plus the batches deciding or in flight.
	committed, tentative *booking.Inventory
	inflight, collecting *batch
	backlog              []*entry
	batchNo              int64
	pendingRows          map[string]pendingRow
	keys                 recentKeys
	expiryTimer          *time.Timer
	expiryAt             time.Time
	broken               error
	sinceSnapshot        int64 // committed events after the latest snapshot
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
	// response is what the API answers on success (a domain value, or a
	// body precomputed by the caller as []byte), stored with a key.
	response any
	// compact: the batch must write a snapshot and trim the journal
	// (history pruning).
	compact bool
	// solo: this request shared a batch that the store refused as data;
	// it is committed in a batch of its own, so that only the request whose
	// data is at fault fails.
	solo bool
}

// pendingRow is a reservation row decided but not yet committed, so that a
// later command of the same actor reads it rather than the stored one.
type pendingRow struct {
	row   booking.Reservation
	batch int64
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
		if m.GetWake() != nil && a.broken == nil {
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
	a.keys = newRecentKeys(a.opts.RecentKeys)
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

func (a *inventoryActor) send(to *actor.PID, r *Reply) {
	if to != nil {
		a.system.Root.Send(to, r)
	}
}
