package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
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
	// JoinCommits bounds the actors' batches one transaction joins (1:
	// each actor's batch commits alone, a benchmark switch).
	JoinCommits int
	// CommitSlots bounds the transactions of a node's actors in flight at
	// once; batches that are ready meanwhile join the next one.
	CommitSlots int
	// CommitTimeout bounds one transaction.
	CommitTimeout time.Duration
	// IdleTimeout passivates an actor nobody asked anything for this long.
	IdleTimeout time.Duration
	// IdempotencyTTL is how long completed keys are kept.
	IdempotencyTTL time.Duration
	// RecentKeys bounds the idempotency keys an actor remembers in memory.
	RecentKeys int
	Logger     *zap.Logger
	// OnCommit, when set, is called after each commit with the nights that
	// changed (the live deltas). It runs on the actor's goroutine and must
	// not block.
	OnCommit func(d booking.AvailabilityDelta)
	// Outbox, when set, returns the jobs (emails, webhooks) of a batch;
	// they are written in the batch's own transaction, so no commit goes
	// without its jobs and no job without its commit. It runs on the
	// actor's goroutine and must not block.
	Outbox func(b persistence.OutboxBatch) []persistence.JobRow

	// now is the actor's clock: the wall clock at the stores' precision;
	// the hold-expiry tests move it (export_test.go).
	now func() time.Time
}

// The defaults of SnapshotEvery, MaxBatch and IdleTimeout (config's
// SNAPSHOT_EVERY, MAX_BATCH and ACTOR_IDLE_TIMEOUT repeat them; a
// cmd/staylock test holds them equal).
const (
	DefaultSnapshotEvery = 500
	DefaultMaxBatch      = 256
	DefaultIdleTimeout   = 10 * time.Minute
	DefaultJoinCommits   = 64
	DefaultCommitSlots   = 2
)

func (o *Options) withDefaults() {
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.JoinCommits <= 0 {
		o.JoinCommits = DefaultJoinCommits
	}
	if o.CommitSlots <= 0 {
		o.CommitSlots = DefaultCommitSlots
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = persistence.DefaultIdempotencyTTL
	}
	if o.RecentKeys <= 0 {
		o.RecentKeys = 4096
	}
	if o.now == nil {
		o.now = now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// now is the wall clock at the precision both stores keep (Postgres keeps
// microseconds), so an answer shows the same times a later read does.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Store is what the inventory actor needs of the store: its own state
// (load, commit — its node's committer joins the batches of many actors —,
// the journal's last seq to resolve an unknown commit) and the rows it
// reads while deciding.
type Store interface {
	LoadActor(ctx context.Context, actorID string) (persistence.ActorState, error)
	CommitBatches(ctx context.Context, bs []persistence.Batch) []error
	LastSeq(ctx context.Context, actorID string) (int64, error)
	GetRoomType(ctx context.Context, tenant, property, id string) (booking.RoomType, error)
	GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error)
	GetIdempotency(ctx context.Context, tenant, key string) (persistence.IdempotencyRecord, error)
}

// Props returns the actor props of the inventory kind. The actors spawned
// from them share one committer: call it once per node.
func Props(store Store, opts Options) *actor.Props {
	p, _ := props(store, opts)
	return p
}

func props(store Store, opts Options) (*actor.Props, *committer) {
	opts.withDefaults()
	c := newCommitter(store, opts)
	return actor.PropsFromProducer(func() actor.Actor {
		return &inventoryActor{store: store, committer: c, opts: opts}
	}), c
}
