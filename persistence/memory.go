package persistence

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/staylock/staylock/booking"
)

// MemoryURL is the DB_URL that selects the in-memory store.
const MemoryURL = "memory://"

// MemoryStore is a Store that keeps everything in maps in the process and
// nothing on disk: a restart loses every booking. It exists for benchmarks
// (the ceiling that shows what durability costs) and tests; configuration
// refuses it when APP_ENV=production. It follows the same contract as the
// durable stores (fencing, idempotency, times as StoredTime, paging
// cursors) and passes the same contract suite. One mutex guards every map,
// so a batch is atomic: it is checked in full before anything is written.
type MemoryStore struct {
	mu     sync.RWMutex
	now    func() time.Time
	closed bool

	tenants    map[string]time.Time
	keys       map[string]APIKey // by id
	keyByHash  map[string]string // hash → id
	properties map[[2]string]booking.Property
	roomTypes  map[[3]string]booking.RoomType
	actors     map[string]*memActor
	res        map[[2]string]*booking.Reservation // (tenant, id)
	resByProp  map[[2]string][]*booking.Reservation
	holds      map[[2]string]map[string]HoldRow // (tenant, id) → room type → part
	idem       map[[2]string]IdempotencyRecord
	meta       map[string]string
	keyNodes   map[string]memNode // key cache confirmations, by node
	jobs       map[[2]string]bool // (kind, key) of every job written
	jobList    []JobInfo          // the same, in order
	webhooks   map[[2]string]WebhookEndpoint
	deliveries []WebhookDelivery
}

// memActor is an actor's journal: the latest snapshot and the events after
// it (events the snapshot covers are dropped, since nothing reads them).
type memActor struct {
	lastSeq     int64
	snapshot    []byte
	snapshotSeq int64
	events      []JournalEvent // seq order, all after snapshotSeq
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory store. It needs no migrations.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		now:        time.Now,
		tenants:    map[string]time.Time{},
		keys:       map[string]APIKey{},
		keyByHash:  map[string]string{},
		properties: map[[2]string]booking.Property{},
		roomTypes:  map[[3]string]booking.RoomType{},
		actors:     map[string]*memActor{},
		res:        map[[2]string]*booking.Reservation{},
		resByProp:  map[[2]string][]*booking.Reservation{},
		holds:      map[[2]string]map[string]HoldRow{},
		idem:       map[[2]string]IdempotencyRecord{},
		meta:       map[string]string{},
	}
}

var errMemoryClosed = errors.New("memory store is closed")

func (s *MemoryStore) stamp() time.Time { return StoredTime(s.now()) }

// Ping answers until the store is closed.
func (s *MemoryStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errMemoryClosed
	}
	return nil
}

// Close marks the store closed (Ping fails, CommitBatch refuses); the data
// stays readable until the store is garbage.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// EnsureTenant creates tenant id if new.
func (s *MemoryStore) EnsureTenant(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensureTenant(id), nil
}

func (s *MemoryStore) ensureTenant(id string) bool {
	if _, ok := s.tenants[id]; ok {
		return false
	}
	s.tenants[id] = s.stamp()
	return true
}

func cloneAPIKey(k APIKey) APIKey {
	k.Hash = bytes.Clone(k.Hash)
	if k.RevokedAt != nil {
		t := *k.RevokedAt
		k.RevokedAt = &t
	}
	return k
}

// CreateAPIKey stores a key, creating its tenant when new. The id and the
// hash are unique.
func (s *MemoryStore) CreateAPIKey(_ context.Context, k APIKey) error {
	now := s.stamp()
	k = cloneAPIKey(k)
	k.CreatedAt = StoredTime(orNow(k.CreatedAt, now))
	k.RevokedAt = storedTimePtr(k.RevokedAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("create api key %s: the id exists", k.ID)
	}
	if _, ok := s.keyByHash[string(k.Hash)]; ok {
		return fmt.Errorf("create api key %s: the hash exists", k.ID)
	}
	s.ensureTenant(k.Tenant)
	s.keys[k.ID] = k
	s.keyByHash[string(k.Hash)] = k.ID
	return nil
}

// APIKeyByHash finds an unrevoked key by the hash of its secret.
func (s *MemoryStore) APIKeyByHash(_ context.Context, hash []byte) (APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.keyByHash[string(hash)]
	if !ok || s.keys[id].RevokedAt != nil {
		return APIKey{}, fmt.Errorf("api key: %w", ErrNotFound)
	}
	return cloneAPIKey(s.keys[id]), nil
}

// ListAPIKeys lists every key, revoked ones included, by tenant, age and id.
func (s *MemoryStore) ListAPIKeys(_ context.Context) ([]APIKey, error) {
	s.mu.RLock()
	out := make([]APIKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, cloneAPIKey(k))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b APIKey) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// PutProperty inserts or updates a property (CreatedAt of a stored one is
// kept).
func (s *MemoryStore) PutProperty(_ context.Context, p booking.Property) (booking.Property, bool, error) {
	now := s.stamp()
	p = p.WithDefaults()
	// The same checks as the durable stores' columns.
	if p.BookingHorizonDays < 1 || p.BookingHorizonDays > booking.MaxBookingHorizonDays || !booking.ValidClock(p.LateCheckinUntil) {
		return booking.Property{}, false, fmt.Errorf("put property %s: %w: booking window %d days, late check-in %q",
			p.ID, ErrInvalidData, p.BookingHorizonDays, p.LateCheckinUntil)
	}
	p.CreatedAt = StoredTime(orNow(p.CreatedAt, now))
	p.UpdatedAt = StoredTime(orNow(p.UpdatedAt, now))
	k := [2]string{p.Tenant, p.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.properties[k]
	if exists {
		p.CreatedAt = old.CreatedAt
	}
	s.properties[k] = p
	return p, !exists, nil
}

// GetProperty returns one property of a tenant.
func (s *MemoryStore) GetProperty(_ context.Context, tenant, id string) (booking.Property, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.properties[[2]string{tenant, id}]
	if !ok {
		return booking.Property{}, fmt.Errorf("property %s: %w", id, ErrNotFound)
	}
	return p, nil
}

// ListProperties lists a tenant's properties by id.
func (s *MemoryStore) ListProperties(_ context.Context, tenant string) ([]booking.Property, error) {
	s.mu.RLock()
	var out []booking.Property
	for k, p := range s.properties {
		if k[0] == tenant {
			out = append(out, p)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b booking.Property) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// GetRoomType returns one room type.
func (s *MemoryStore) GetRoomType(_ context.Context, tenant, property, id string) (booking.RoomType, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.roomTypes[[3]string{tenant, property, id}]
	if !ok {
		return booking.RoomType{}, fmt.Errorf("room type %s/%s: %w", property, id, ErrNotFound)
	}
	return rt, nil
}

// AllRoomTypes lists every room type by tenant, property and id.
func (s *MemoryStore) AllRoomTypes(context.Context) ([]booking.RoomType, error) {
	s.mu.RLock()
	out := make([]booking.RoomType, 0, len(s.roomTypes))
	for _, rt := range s.roomTypes {
		out = append(out, rt)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b booking.RoomType) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Property, b.Property), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ListRoomTypes lists a property's room types by id.
func (s *MemoryStore) ListRoomTypes(_ context.Context, tenant, property string) ([]booking.RoomType, error) {
	s.mu.RLock()
	var out []booking.RoomType
	for k, rt := range s.roomTypes {
		if k[0] == tenant && k[1] == property {
			out = append(out, rt)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b booking.RoomType) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// LoadActor returns the latest snapshot and the events after it.
func (s *MemoryStore) LoadActor(_ context.Context, actorID string) (ActorState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.actors[actorID]
	if !ok {
		return ActorState{}, nil
	}
	st := ActorState{Snapshot: bytes.Clone(a.snapshot), SnapshotSeq: a.snapshotSeq}
	if len(a.events) > 0 {
		st.Events = make([]JournalEvent, len(a.events))
		for i, e := range a.events {
			st.Events[i] = JournalEvent{Seq: e.Seq, Data: bytes.Clone(e.Data), At: e.At}
		}
	}
	if err := checkContiguous(actorID, st); err != nil {
		return ActorState{}, err
	}
	return st, nil
}

// LastSeq is the highest stored seq of the actor.
func (s *MemoryStore) LastSeq(_ context.Context, actorID string) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a, ok := s.actors[actorID]; ok {
		return a.lastSeq, nil
	}
	return 0, nil
}

// CommitBatches commits each batch on its own: the memory store has no
// transaction to join them in, and none to save.
func (s *MemoryStore) CommitBatches(ctx context.Context, bs []Batch) []error {
	return CommitEach(ctx, s.CommitBatch, bs)
}

// CommitBatch applies b under the store's lock: every check (the fence,
// the idempotency records) runs before the first write, so a refused batch
// writes nothing. Nothing is durable; the outcome is never unknown.
func (s *MemoryStore) CommitBatch(ctx context.Context, b Batch) error {
	p, err := prepareBatch(b, s.now())
	if err != nil {
		return err
	}
	what := fmt.Sprintf("commit batch %s seq %d..%d", p.ActorID, p.FirstSeq, p.lastSeq)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Copy what the store keeps before taking the lock.
	evs := make([]JournalEvent, len(p.Events))
	for i, e := range p.Events {
		evs[i] = JournalEvent{Seq: p.FirstSeq + int64(i), Data: bytes.Clone(e), At: p.at}
	}
	snapshot := bytes.Clone(p.Snapshot)
	idem := make([]IdempotencyRecord, len(p.idempotency))
	for i, r := range p.idempotency {
		r.Body = bytes.Clone(r.Body)
		idem[i] = r
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: %w", what, errMemoryClosed)
	}
	a := s.actors[p.ActorID]
	if p.fenced {
		var last int64
		if a != nil {
			last = a.lastSeq
		}
		if last != p.FirstSeq-1 {
			return fmt.Errorf("%s: %w (journal of %s ends at seq %d)", what, ErrFenced, p.ActorID, last)
		}
	}
	for i, r := range idem {
		old, ok := s.idem[[2]string{r.Tenant, r.Key}]
		if !ok {
			continue
		}
		switch {
		case !old.ExpiresAt.After(p.at): // expired: replaced, created_at too
		case old.Status == 0 && old.RequestHash == r.RequestHash:
			idem[i].CreatedAt = old.CreatedAt
		default:
			return fmt.Errorf("%s: idempotency key %q: %w", what, r.Key, ErrIdempotencyTaken)
		}
	}

	// Every check passed: write. Jobs are only counted: nothing runs them
	// on the memory store (benchmarks).
	for _, j := range p.jobs {
		if s.jobs == nil {
			s.jobs = map[[2]string]bool{}
		}
		if k := [2]string{j.Kind, j.Key}; !s.jobs[k] {
			s.jobs[k] = true
			s.jobList = append(s.jobList, JobInfo{Kind: j.Kind, Key: j.Key, State: "available", CreatedAt: p.at})
		}
	}
	if len(evs) > 0 || p.Snapshot != nil {
		if a == nil {
			a = &memActor{}
			s.actors[p.ActorID] = a
		}
		a.events = append(a.events, evs...)
		if len(evs) > 0 {
			a.lastSeq = p.lastSeq
		}
		if snapshot != nil && p.lastSeq >= a.snapshotSeq {
			a.snapshot, a.snapshotSeq = snapshot, p.lastSeq
			// Drop the events the snapshot covers (a fresh slice, so that
			// their memory goes).
			i, _ := slices.BinarySearchFunc(a.events, p.lastSeq+1, func(e JournalEvent, seq int64) int { return cmp.Compare(e.Seq, seq) })
			a.events = slices.Clone(a.events[i:])
		}
	}
	if rt := p.roomType; rt != nil {
		k := [3]string{rt.Tenant, rt.Property, rt.ID}
		v := *rt
		if old, ok := s.roomTypes[k]; ok {
			v.CreatedAt = old.CreatedAt
		}
		s.roomTypes[k] = v
	}
	for _, row := range p.reservations {
		s.putReservation(row.Reservation)
	}
	for _, h := range p.putHolds {
		k := [2]string{h.Tenant, h.ID}
		parts := s.holds[k]
		if parts == nil {
			parts = map[string]HoldRow{}
			s.holds[k] = parts
		}
		parts[h.RoomType] = h
	}
	for _, h := range p.deleteHolds {
		k := [2]string{h.Tenant, h.ID}
		if parts := s.holds[k]; parts != nil {
			delete(parts, h.RoomType)
			if len(parts) == 0 {
				delete(s.holds, k)
			}
		}
	}
	for _, r := range idem {
		s.idem[[2]string{r.Tenant, r.Key}] = r
	}
	return nil
}

// putReservation upserts r (times already StoredTime): a stored row keeps
// its CreatedAt, so its place in the property's (created_at, id) order.
func (s *MemoryStore) putReservation(r booking.Reservation) {
	r.Stays = slices.Clone(r.Stays)
	k := [2]string{r.Tenant, r.ID}
	if old, ok := s.res[k]; ok {
		r.CreatedAt = old.CreatedAt
		if old.Property != r.Property {
			s.unindex(old)
			*old = r
			s.index(old)
			return
		}
		*old = r
		return
	}
	v := &r
	s.res[k] = v
	s.index(v)
}

// resOrder orders reservations by (created_at, id), as ListReservations pages.
func resOrder(a *booking.Reservation, createdAt time.Time, id string) int {
	return cmp.Or(a.CreatedAt.Compare(createdAt), cmp.Compare(a.ID, id))
}

func (s *MemoryStore) index(r *booking.Reservation) {
	k := [2]string{r.Tenant, r.Property}
	list := s.resByProp[k]
	i, _ := slices.BinarySearchFunc(list, r, func(a, b *booking.Reservation) int { return resOrder(a, b.CreatedAt, b.ID) })
	s.resByProp[k] = slices.Insert(list, i, r)
}

func (s *MemoryStore) unindex(r *booking.Reservation) {
	k := [2]string{r.Tenant, r.Property}
	list := s.resByProp[k]
	if i, ok := slices.BinarySearchFunc(list, r, func(a, b *booking.Reservation) int { return resOrder(a, b.CreatedAt, b.ID) }); ok {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(s.resByProp, k)
		return
	}
	s.resByProp[k] = list
}

func cloneReservation(r *booking.Reservation) booking.Reservation {
	v := *r
	v.Stays = slices.Clone(r.Stays)
	return v
}

// GetReservation returns one reservation of a tenant.
func (s *MemoryStore) GetReservation(_ context.Context, tenant, id string) (booking.Reservation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.res[[2]string{tenant, id}]
	if !ok {
		return booking.Reservation{}, fmt.Errorf("reservation %s: %w", id, ErrNotFound)
	}
	return cloneReservation(r), nil
}

// ListReservations pages a property's reservations by (created_at, id),
// with the same filters and cursors as the other stores.
func (s *MemoryStore) ListReservations(_ context.Context, tenant, property string, f ReservationFilter) ([]booking.Reservation, string, error) {
	limit := listLimit(f.Limit)
	after, hasCursor, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.resByProp[[2]string{tenant, property}]
	start := 0
	if hasCursor {
		// The first row strictly after (created_at, id) of the cursor.
		start, _ = slices.BinarySearchFunc(list, after, func(r *booking.Reservation, c cursor) int {
			if n := resOrder(r, c.createdAt, c.id); n != 0 {
				return n
			}
			return -1
		})
	}
	var out []booking.Reservation
	for _, r := range list[start:] {
		if f.Status != "" && r.Status != f.Status {
			continue
		}
		if f.ArrivalFrom != 0 || f.ArrivalTo != 0 {
			a := r.Arrival()
			if (f.ArrivalFrom != 0 && a < f.ArrivalFrom) || (f.ArrivalTo != 0 && a >= f.ArrivalTo) {
				continue
			}
		}
		if f.ExternalRef != "" && r.ExternalRef != f.ExternalRef {
			continue
		}
		out = append(out, cloneReservation(r))
		if len(out) > limit {
			break
		}
	}
	out, next := nextPage(out, limit)
	return out, next, nil
}

// HoldRows lists the parts of a hold, by room type.
func (s *MemoryStore) HoldRows(_ context.Context, tenant, id string) ([]HoldRow, error) {
	s.mu.RLock()
	parts := s.holds[[2]string{tenant, id}]
	out := make([]HoldRow, 0, len(parts))
	for _, h := range parts {
		out = append(out, h)
	}
	s.mu.RUnlock()
	if len(out) == 0 {
		return nil, fmt.Errorf("hold %s: %w", id, ErrNotFound)
	}
	slices.SortFunc(out, func(a, b HoldRow) int { return cmp.Compare(a.RoomType, b.RoomType) })
	return out, nil
}

// LiveHolds lists every stored hold part, by tenant, property, room type
// and id.
func (s *MemoryStore) LiveHolds(_ context.Context) ([]HoldRow, error) {
	s.mu.RLock()
	var out []HoldRow
	for _, parts := range s.holds {
		for _, h := range parts {
			out = append(out, h)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b HoldRow) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Property, b.Property),
			cmp.Compare(a.RoomType, b.RoomType), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func cloneIdem(r IdempotencyRecord) IdempotencyRecord {
	r.Body = bytes.Clone(r.Body)
	return r
}

// GetIdempotency returns a live record.
func (s *MemoryStore) GetIdempotency(_ context.Context, tenant, key string) (IdempotencyRecord, error) {
	now := s.stamp()
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.idem[[2]string{tenant, key}]
	if !ok || !r.ExpiresAt.After(now) {
		return IdempotencyRecord{}, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	return cloneIdem(r), nil
}

// ClaimIdempotency inserts an in-flight record unless a live one exists.
func (s *MemoryStore) ClaimIdempotency(_ context.Context, r IdempotencyRecord) (bool, error) {
	now := s.stamp()
	r, err := prepareClaim(r, now)
	if err != nil {
		return false, err
	}
	r.Body = []byte{}
	k := [2]string{r.Tenant, r.Key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.idem[k]; ok && old.ExpiresAt.After(now) {
		return false, nil
	}
	s.idem[k] = r
	return true, nil
}

// CompleteIdempotency stores an outcome outside a batch: it inserts the
// record, completes an in-flight one with the same request hash (keeping
// its CreatedAt) or replaces an expired one; else ErrIdempotencyTaken.
func (s *MemoryStore) CompleteIdempotency(_ context.Context, r IdempotencyRecord) error {
	now := s.stamp()
	r, err := prepareCompletion(r, now)
	if err != nil {
		return err
	}
	r = cloneIdem(r)
	k := [2]string{r.Tenant, r.Key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.idem[k]; ok && old.ExpiresAt.After(now) {
		if old.Status != 0 || old.RequestHash != r.RequestHash {
			return fmt.Errorf("idempotency key %q: %w", r.Key, ErrIdempotencyTaken)
		}
		r.CreatedAt = old.CreatedAt
	}
	s.idem[k] = r
	return nil
}

// ReleaseIdempotency deletes an in-flight record.
func (s *MemoryStore) ReleaseIdempotency(_ context.Context, tenant, key string) error {
	k := [2]string{tenant, key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.idem[k]; ok && r.Status == 0 {
		delete(s.idem, k)
	}
	return nil
}

// PurgeIdempotency deletes the records expired at now.
func (s *MemoryStore) PurgeIdempotency(_ context.Context, now time.Time) (int64, error) {
	now = StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, r := range s.idem {
		if !r.ExpiresAt.After(now) {
			delete(s.idem, k)
			n++
		}
	}
	return n, nil
}

// GetMeta returns a setting; ErrNotFound when unset.
func (s *MemoryStore) GetMeta(_ context.Context, key string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.meta[key]
	if !ok {
		return "", fmt.Errorf("meta %s: %w", key, ErrNotFound)
	}
	return v, nil
}
