// Package persistence is Staylock's storage: the Store contract and its
// three implementations, Postgres (pgx) and an embedded SQLite file, which
// are durable and run the migrations (embedded SQL, goose), and the
// in-memory MemoryStore, which keeps nothing (benchmarks and tests). All
// three pass the one contract suite, persistence/storetest.
//
// Everything one actor decision writes goes into one transaction
// (CommitBatch): journal events fenced by (actor_id, seq), the snapshot,
// reservation rows, hold rows, the room type row and idempotency records.
//
// Open picks the backend from DB_URL (postgres:// → Postgres, empty →
// SQLite under STORAGE_PATH, memory:// → a new MemoryStore); MigrateUp,
// MigrateDown, MigrationStatus and PendingMigrations run the embedded
// migrations of that backend. Open never migrates.
//
// Times: every store keeps times in UTC to the microsecond (Postgres'
// precision), so a time comes back Equal to StoredTime(t). Pass a time
// through StoredTime before showing it if it is shown before it is stored.
package persistence

import (
	"context"
	"errors"
	"time"

	"github.com/staylock/staylock/booking"
)

// Errors every Store returns, so callers can tell them apart with errors.Is.
var (
	// ErrNotFound: no such row (in this tenant).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyRevoked: RevokeAPIKey of a key that was revoked before.
	ErrAlreadyRevoked = errors.New("api key already revoked")
	// ErrFenced: another activation of the actor committed this seq first.
	// Nothing of the batch was written; the caller's state is stale.
	ErrFenced = errors.New("actor fenced: journal sequence already taken")
	// ErrIdempotencyTaken: a completed idempotency record with this key
	// exists already. Nothing of the batch was written.
	ErrIdempotencyTaken = errors.New("idempotency key already completed")
	// ErrMaybeCommitted: the outcome of COMMIT is unknown (connection lost
	// or context done after the COMMIT may have reached the server; the
	// server may still commit afterwards). Reload to learn what happened;
	// never guess. Every other CommitBatch error means nothing was written.
	ErrMaybeCommitted = errors.New("commit outcome unknown")
	// ErrInvalidData: the database refused the data itself (a value it
	// cannot store, such as NUL in text on Postgres, or a constraint the
	// row breaks). Nothing was written, and trying the same data again
	// fails the same way: it is the request's fault, never an outage.
	// Fencing and taken idempotency keys are not this error.
	ErrInvalidData = errors.New("data refused by the database")
)

// APIKey is a stored key; only the SHA-256 of the secret is kept.
type APIKey struct {
	ID        string       `json:"id"`
	Tenant    string       `json:"tenant"`
	Role      booking.Role `json:"role"`
	Name      string       `json:"name"`
	Hash      []byte       `json:"-"`
	CreatedAt time.Time    `json:"created_at"`
	RevokedAt *time.Time   `json:"revoked_at,omitempty"`
}

// JournalEvent is one stored event of an actor.
type JournalEvent struct {
	Seq  int64
	Data []byte // JSON of booking.Event, stored byte for byte
	At   time.Time
}

// ActorState is what an actor loads at activation: its latest snapshot (nil
// when none) and every event after it, in seq order.
type ActorState struct {
	Snapshot    []byte // JSON of booking.Inventory, nil when none
	SnapshotSeq int64
	Events      []JournalEvent
}

// HoldRow is one room type's part of a hold, so that a hold id can be found
// and released without knowing its room types.
type HoldRow struct {
	Tenant    string
	ID        string
	Property  string
	RoomType  string
	ExpiresAt time.Time
}

// How long an Idempotency-Key's outcome is kept (a record's ExpiresAt
// after its CreatedAt): the default (IDEMPOTENCY_TTL), which the gateway
// (claiming keys) and the actors (completing them) both take, and the
// contract's floor, under which the gateway never goes.
const (
	DefaultIdempotencyTTL = 72 * time.Hour
	MinIdempotencyTTL     = 24 * time.Hour
)

// IdempotencyRecord is the stored outcome of a request sent with an
// Idempotency-Key. Status 0 means "in flight" (claimed, no outcome yet).
type IdempotencyRecord struct {
	Tenant      string
	Key         string
	RequestHash string
	Status      int
	Body        []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// OutboxBatch is what a batch about to commit changes, for its jobs.
type OutboxBatch struct {
	Tenant, Property, RoomType string
	// Seq is the seq of the batch's last event: unique per committed
	// batch of the room type (a fenced batch commits nothing).
	Seq int64
	// Reservations are the rows the batch writes.
	Reservations []booking.Reservation
	// Availability returns the nights the batch changes with their counts
	// after it, sorted by date; all: the room type's defaults changed, so
	// every night may have. Computed on call, and only
	// valid during the Outbox call (the actor moves on after it).
	Availability func() (nights []booking.NightView, all bool)
	At           time.Time
}

// Batch is everything one group commit of one actor writes, atomically.
type Batch struct {
	ActorID string // tenant/property/room_type
	// Events get seqs FirstSeq, FirstSeq+1, …; FirstSeq-1 must be the last
	// stored seq of the actor, else ErrFenced. Two batches with the same
	// FirstSeq (two activations of one actor): exactly one commits. A batch
	// without events is still checked against the journal when FirstSeq > 0
	// (FirstSeq 0 with no events skips the check).
	FirstSeq int64
	Events   [][]byte
	At       time.Time
	// Snapshot, when set, is the state after the last event (seq = last);
	// only the latest snapshot of an actor is kept.
	Snapshot []byte
	// TrimJournal, with Snapshot, deletes the journal rows the snapshot
	// covers but its last one (the fence reads the journal's last seq):
	// loading never reads them, and the journal stops growing with history.
	TrimJournal bool
	// RoomType, when set, is upserted (CreatedAt of a stored row is kept).
	RoomType *booking.RoomType
	// Reservations are upserted by (tenant, id) (full rows; the stored
	// CreatedAt is kept). When one id appears twice, the last one wins.
	Reservations []booking.Reservation
	// PutHolds are inserted (or replace the same part); DeleteHolds are
	// removed by (tenant, id, room type) after the puts.
	PutHolds    []HoldRow
	DeleteHolds []HoldRow
	// Idempotency records are completed: inserted, or an in-flight record
	// with the same key and request hash is updated (keeping its CreatedAt),
	// or an expired record is replaced. A live completed record with the
	// same key, or an in-flight one of another request hash, makes the whole
	// batch fail with ErrIdempotencyTaken. Status must not be 0; ExpiresAt
	// is required.
	Idempotency []IdempotencyRecord
	// Jobs are inserted into the job queue (River) in the same transaction;
	// a job whose Kind and Key match a live or completed one is skipped.
	Jobs []JobRow
}

// ReservationFilter narrows ListReservations. Zero fields do not filter.
type ReservationFilter struct {
	Status      string
	ArrivalFrom booking.Date // inclusive, 0 = none
	ArrivalTo   booking.Date // exclusive, 0 = none
	ExternalRef string
	Limit       int    // 1..500; 0 means 50, more than 500 means 500
	Cursor      string // opaque, from the previous page; a bad one is an invalid_request *booking.Error
}

// Store is the storage contract. Implementations: PostgresStore,
// SQLiteStore and MemoryStore; all three pass the same contract suite
// (persistence/storetest).
type Store interface {
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	Close() error

	// EnsureTenant creates tenant id if new; created tells which.
	EnsureTenant(ctx context.Context, id string) (created bool, err error)
	// CreateAPIKey stores a key (creating its tenant when new); a zero
	// CreatedAt means now. The hash is unique.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash finds an unrevoked key; ErrNotFound otherwise.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// ListAPIKeys lists every key, revoked ones too, by tenant and age.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked and, in the same transaction, raises
	// the key generation, which it returns: nodes drop their key caches
	// when it moves. ErrNotFound for an unknown id, ErrAlreadyRevoked (and
	// nothing changed) for a revoked one.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (generation int64, err error)
	// JobsWritten counts the jobs of kind in the queue (in any state).
	JobsWritten(ctx context.Context, kind string) (int, error)
	// ReservationJobs lists the jobs (emails) of reservation id, oldest first.
	ReservationJobs(ctx context.Context, id string) ([]JobInfo, error)
	// JobQueueStats reads what waits in the queue and what was discarded.
	JobQueueStats(ctx context.Context) (QueueStats, error)

	// PutWebhook inserts or updates a tenant's endpoint (an update keeps
	// CreatedAt and the secret); ListWebhooks lists them by id; DeleteWebhook
	// removes one (ErrNotFound when there is none).
	PutWebhook(ctx context.Context, e WebhookEndpoint) (stored WebhookEndpoint, created bool, err error)
	ListWebhooks(ctx context.Context, tenant string) ([]WebhookEndpoint, error)
	// TenantsWithWebhooks lists the tenants with at least one endpoint.
	TenantsWithWebhooks(ctx context.Context) ([]string, error)
	DeleteWebhook(ctx context.Context, tenant, id string) error
	// RotateWebhookSecret makes secret the endpoint's signing secret; the
	// one it replaces keeps signing until previousUntil (ErrNotFound for no
	// such endpoint).
	RotateWebhookSecret(ctx context.Context, tenant, id, secret string, previousUntil time.Time) error
	// RecordDelivery appends one attempt to the delivery log; ListDeliveries
	// lists an endpoint's attempts, newest first.
	RecordDelivery(ctx context.Context, d WebhookDelivery) (int64, error)
	ListDeliveries(ctx context.Context, tenant, endpoint string, limit int) ([]WebhookDelivery, error)
	// GetDelivery reads one attempt of an endpoint; ErrNotFound when the
	// endpoint has no attempt with that id.
	GetDelivery(ctx context.Context, tenant, endpoint string, id int64) (WebhookDelivery, error)

	// SetMaintenance stores the maintenance state and raises the key
	// generation in the same transaction (nodes reload it when it moves);
	// it returns the new generation. Read it with GetMaintenance.
	SetMaintenance(ctx context.Context, m Maintenance) (generation int64, err error)
	// KeyGeneration is the current key generation (0 before any revocation).
	KeyGeneration(ctx context.Context) (int64, error)
	// ConfirmKeyGeneration records that node has dropped every key cached
	// before generation, at time at.
	ConfirmKeyGeneration(ctx context.Context, node string, generation int64, at time.Time) error
	// KeyGenerationLaggards lists the nodes confirmed at or after seenSince
	// (the live ones) whose confirmed generation is below generation.
	KeyGenerationLaggards(ctx context.Context, generation int64, seenSince time.Time) ([]string, error)

	// PutProperty inserts or updates a property (keeps CreatedAt on update;
	// zero times mean now) and returns it as stored.
	PutProperty(ctx context.Context, p booking.Property) (stored booking.Property, created bool, err error)
	GetProperty(ctx context.Context, tenant, id string) (booking.Property, error)
	// ListProperties lists a tenant's properties by id.
	ListProperties(ctx context.Context, tenant string) ([]booking.Property, error)

	// GetRoomType returns a room type (written by CommitBatch).
	GetRoomType(ctx context.Context, tenant, property, id string) (booking.RoomType, error)
	// ListRoomTypes lists a property's room types by id.
	ListRoomTypes(ctx context.Context, tenant, property string) ([]booking.RoomType, error)
	// AllRoomTypes lists every room type of every tenant, by tenant,
	// property and id (the scheduler's walk over all actors).
	AllRoomTypes(ctx context.Context) ([]booking.RoomType, error)

	// LoadActor returns the snapshot and journal tail of an actor (an error
	// if the tail has a gap).
	LoadActor(ctx context.Context, actorID string) (ActorState, error)
	// CommitBatch writes a batch in one transaction; see Batch.
	CommitBatch(ctx context.Context, b Batch) error
	// CommitBatches commits the batches of several actors (a node's
	// committer joins them), returning one outcome per batch: errs[i] is
	// what CommitBatch(bs[i]) would return after the batches before it, so
	// a fenced or refused batch fails alone and no batch is reported
	// committed unless it is. The store may join them into one transaction
	// (Postgres and SQLite do); an unknown outcome (ErrMaybeCommitted) is
	// then unknown for every batch of that transaction.
	CommitBatches(ctx context.Context, bs []Batch) (errs []error)
	// LastSeq is the highest stored seq of the actor (0 when none).
	LastSeq(ctx context.Context, actorID string) (int64, error)

	GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error)
	// ListReservations pages a property's reservations by (created_at, id),
	// oldest first; next is "" on the last page.
	ListReservations(ctx context.Context, tenant, property string, f ReservationFilter) (rs []booking.Reservation, next string, err error)

	// HoldRows lists the parts of hold id; ErrNotFound when there are none.
	HoldRows(ctx context.Context, tenant, id string) ([]HoldRow, error)
	// LiveHolds lists every stored hold part (of every tenant).
	LiveHolds(ctx context.Context) ([]HoldRow, error)

	// GetIdempotency returns the record unless expired; ErrNotFound otherwise.
	GetIdempotency(ctx context.Context, tenant, key string) (IdempotencyRecord, error)
	// ClaimIdempotency inserts an in-flight record; claimed is false when a
	// live record with that key exists (expired ones are replaced).
	ClaimIdempotency(ctx context.Context, r IdempotencyRecord) (claimed bool, err error)
	// CompleteIdempotency stores the outcome: it inserts the record, or
	// completes an in-flight one with the same request hash. It returns
	// ErrIdempotencyTaken when a completed record exists.
	CompleteIdempotency(ctx context.Context, r IdempotencyRecord) error
	// ReleaseIdempotency deletes an in-flight record (after a 5xx).
	ReleaseIdempotency(ctx context.Context, tenant, key string) error
	// PurgeIdempotency deletes records expired before now; returns how many.
	PurgeIdempotency(ctx context.Context, now time.Time) (int64, error)

	// GetMeta reads a small setting of the meta table (the maintenance
	// state, which SetMaintenance writes; read it with GetMaintenance);
	// ErrNotFound when unset.
	GetMeta(ctx context.Context, key string) (string, error)
}
