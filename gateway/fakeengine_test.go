package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// fakeEngine is a small, serialised stand-in for the actor engine, enough to
// test the HTTP layer end to end against a real store: it decides with the
// pure rules of package booking and writes what it decides through
// Store.CommitBatch, idempotency records included, like the real actors do.
// It is not atomic across room types and keeps everything in memory.
type fakeEngine struct {
	store persistence.Store

	mu   sync.Mutex
	invs map[string]*booking.Inventory
}

var _ gateway.Engine = (*fakeEngine)(nil)

func newFakeEngine(store persistence.Store) *fakeEngine {
	return &fakeEngine{store: store, invs: map[string]*booking.Inventory{}}
}

func actorID(tenant, property, roomType string) string {
	return tenant + "/" + property + "/" + roomType
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// inv returns the inventory of an actor (caller holds mu).
func (f *fakeEngine) inv(id string) *booking.Inventory {
	inv := f.invs[id]
	if inv == nil {
		inv = booking.NewInventory()
		f.invs[id] = inv
	}
	return inv
}

// change is one actor's part of a decision.
type change struct {
	actor  string
	events []booking.Event
}

// commit writes one batch per actor; extra goes into the last batch. Only
// after every commit are the events applied in memory.
func (f *fakeEngine) commit(ctx context.Context, changes []change, extra persistence.Batch) error {
	now := time.Now()
	for i, ch := range changes {
		inv := f.inv(ch.actor)
		b := persistence.Batch{ActorID: ch.actor, FirstSeq: inv.Seq + 1, At: now}
		for _, e := range ch.events {
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			b.Events = append(b.Events, data)
		}
		if i == len(changes)-1 {
			b.RoomType, b.Reservations, b.PutHolds, b.DeleteHolds, b.Idempotency =
				extra.RoomType, extra.Reservations, extra.PutHolds, extra.DeleteHolds, extra.Idempotency
		}
		if err := f.store.CommitBatch(ctx, b); err != nil {
			return err
		}
		for _, e := range ch.events {
			inv.Apply(e)
		}
	}
	return nil
}

func idemRecord(tenant string, idem *cluster.Idem, v any) ([]persistence.IdempotencyRecord, error) {
	if idem == nil {
		return nil, nil
	}
	var body []byte
	if idem.Status != http.StatusNoContent {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = b
	}
	now := time.Now()
	return []persistence.IdempotencyRecord{{
		Tenant: tenant, Key: idem.Key, RequestHash: idem.RequestHash, Status: int(idem.Status),
		Body: body, CreatedAt: now, ExpiresAt: now.Add(72 * time.Hour),
	}}, nil
}

func (f *fakeEngine) PutRoomType(ctx context.Context, rt booking.RoomType) (booking.RoomType, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := actorID(rt.Tenant, rt.Property, rt.ID)
	inv := f.inv(id)
	ev, err := inv.DecideRoomType(rt.ID, rt.Name, rt.Rooms, rt.Price)
	if err != nil {
		return booking.RoomType{}, false, err
	}
	created := !inv.Exists
	now := persistence.StoredTime(time.Now())
	rt.CreatedAt, rt.UpdatedAt = now, now
	if !created {
		old, err := f.store.GetRoomType(ctx, rt.Tenant, rt.Property, rt.ID)
		if err != nil {
			return booking.RoomType{}, false, err
		}
		rt.CreatedAt = old.CreatedAt
	}
	if err := f.commit(ctx, []change{{id, []booking.Event{ev}}}, persistence.Batch{RoomType: &rt}); err != nil {
		return booking.RoomType{}, false, err
	}
	return rt, created, nil
}

func (f *fakeEngine) UpdateInventory(ctx context.Context, tenant, property string, updates []booking.InventoryUpdate, idem *cluster.Idem) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byRT := map[string][]booking.InventoryUpdate{}
	var order []string
	for _, u := range updates {
		if _, ok := byRT[u.RoomType]; !ok {
			order = append(order, u.RoomType)
		}
		byRT[u.RoomType] = append(byRT[u.RoomType], u)
	}
	var changes []change
	total := 0
	for _, rt := range order {
		id := actorID(tenant, property, rt)
		ev, n, err := f.inv(id).DecideInventory(rt, byRT[rt])
		if err != nil {
			return 0, err
		}
		total += n
		changes = append(changes, change{id, []booking.Event{ev}})
	}
	recs, err := idemRecord(tenant, idem, map[string]int{"updated_nights": total})
	if err != nil {
		return 0, err
	}
	if err := f.commit(ctx, changes, persistence.Batch{Idempotency: recs}); err != nil {
		return 0, err
	}
	return total, nil
}

func (f *fakeEngine) Availability(_ context.Context, tenant, property string, roomTypes []string, from, to booking.Date) ([]cluster.RoomTypeAvailability, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]cluster.RoomTypeAvailability, 0, len(roomTypes))
	for _, rt := range roomTypes {
		inv := f.inv(actorID(tenant, property, rt))
		if !inv.Exists {
			return nil, &booking.Error{Code: booking.CodeNotFound, Message: "room type " + rt + " not found"}
		}
		out = append(out, cluster.RoomTypeAvailability{RoomType: rt, Seq: inv.Seq, Nights: inv.Availability(from, to)})
	}
	return out, nil
}

func (f *fakeEngine) price(tenant, property string, stays []booking.Stay) int64 {
	var sum int64
	for _, rt := range booking.RoomTypes(stays) {
		sum += f.inv(actorID(tenant, property, rt)).PriceOf(booking.StaysOf(stays, rt))
	}
	return sum
}

func (f *fakeEngine) CreateReservation(ctx context.Context, nr cluster.NewReservation, idem *cluster.Idem) (booking.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resID := randomID("r_")
	var changes []change
	var dropHolds []persistence.HoldRow
	if nr.HoldID != "" {
		rows, err := f.store.HoldRows(ctx, nr.Tenant, nr.HoldID)
		if errors.Is(err, persistence.ErrNotFound) {
			return booking.Reservation{}, booking.Errorf(booking.CodeConflict, "hold %s has expired or was released", nr.HoldID)
		}
		if err != nil {
			return booking.Reservation{}, err
		}
		for _, row := range rows {
			id := actorID(row.Tenant, row.Property, row.RoomType)
			ev, err := f.inv(id).DecideConvertHold(row.RoomType, nr.HoldID, resID, booking.StaysOf(nr.Stays, row.RoomType))
			if err != nil {
				return booking.Reservation{}, err
			}
			changes = append(changes, change{id, []booking.Event{ev}})
			dropHolds = append(dropHolds, row)
		}
	} else {
		for _, rt := range booking.RoomTypes(nr.Stays) {
			id := actorID(nr.Tenant, nr.Property, rt)
			ev, err := f.inv(id).DecideBook(rt, resID, booking.StaysOf(nr.Stays, rt))
			if err != nil {
				return booking.Reservation{}, err
			}
			changes = append(changes, change{id, []booking.Event{ev}})
		}
	}
	now := persistence.StoredTime(time.Now())
	r := booking.Reservation{
		Tenant: nr.Tenant, ID: resID, Property: nr.Property, Status: booking.StatusConfirmed,
		Stays: nr.Stays, Guest: nr.Guest, Channel: nr.Channel, ExternalRef: nr.ExternalRef,
		TotalPrice: f.price(nr.Tenant, nr.Property, nr.Stays), Currency: nr.Currency, Version: 1,
		CreatedAt: now, UpdatedAt: now, Primary: booking.RoomTypes(nr.Stays)[0],
	}
	recs, err := idemRecord(nr.Tenant, idem, r)
	if err != nil {
		return booking.Reservation{}, err
	}
	err = f.commit(ctx, changes, persistence.Batch{Reservations: []booking.Reservation{r}, DeleteHolds: dropHolds, Idempotency: recs})
	if err != nil {
		return booking.Reservation{}, err
	}
	return r, nil
}

func (f *fakeEngine) ModifyReservation(ctx context.Context, tenant, id string, stays []booking.Stay, guest *booking.Guest, idem *cluster.Idem) (booking.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.store.GetReservation(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return r, booking.Errorf(booking.CodeNotFound, "reservation %s not found", id)
	}
	if err != nil {
		return r, err
	}
	if r.Status == booking.StatusCancelled {
		return booking.Reservation{}, booking.Errorf(booking.CodeConflict, "reservation %s is cancelled", id)
	}
	var changes []change
	seen := map[string]bool{}
	for _, rt := range append(booking.RoomTypes(stays), booking.RoomTypes(r.Stays)...) {
		if seen[rt] {
			continue
		}
		seen[rt] = true
		aid := actorID(tenant, r.Property, rt)
		ev, err := f.inv(aid).DecideModify(rt, id, booking.StaysOf(stays, rt))
		if err != nil {
			return booking.Reservation{}, err
		}
		changes = append(changes, change{aid, []booking.Event{ev}})
	}
	r.Stays = stays
	if guest != nil {
		r.Guest = *guest
	}
	r.Version++
	r.UpdatedAt = persistence.StoredTime(time.Now())
	r.TotalPrice = f.price(tenant, r.Property, stays)
	recs, err := idemRecord(tenant, idem, r)
	if err != nil {
		return booking.Reservation{}, err
	}
	if err := f.commit(ctx, changes, persistence.Batch{Reservations: []booking.Reservation{r}, Idempotency: recs}); err != nil {
		return booking.Reservation{}, err
	}
	return r, nil
}

func (f *fakeEngine) CancelReservation(ctx context.Context, tenant, id string, idem *cluster.Idem) (booking.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.store.GetReservation(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return r, booking.Errorf(booking.CodeNotFound, "reservation %s not found", id)
	}
	if err != nil || r.Status == booking.StatusCancelled {
		return r, err // cancelling again changes nothing
	}
	var changes []change
	for _, rt := range booking.RoomTypes(r.Stays) {
		aid := actorID(tenant, r.Property, rt)
		if ev, ok := f.inv(aid).DecideCancel(id); ok {
			changes = append(changes, change{aid, []booking.Event{ev}})
		}
	}
	r.Status = booking.StatusCancelled
	r.Version++
	r.UpdatedAt = persistence.StoredTime(time.Now())
	recs, err := idemRecord(tenant, idem, r)
	if err != nil {
		return booking.Reservation{}, err
	}
	if len(changes) == 0 {
		return booking.Reservation{}, fmt.Errorf("fake engine: reservation %s holds no rooms", id)
	}
	if err := f.commit(ctx, changes, persistence.Batch{Reservations: []booking.Reservation{r}, Idempotency: recs}); err != nil {
		return booking.Reservation{}, err
	}
	return r, nil
}

func (f *fakeEngine) CreateHold(ctx context.Context, tenant, property string, stays []booking.Stay, ttl time.Duration, idem *cluster.Idem) (booking.Hold, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := booking.Hold{Tenant: tenant, ID: randomID("h_"), Property: property, Stays: stays,
		ExpiresAt: persistence.StoredTime(time.Now().Add(ttl))}
	var changes []change
	var rows []persistence.HoldRow
	for _, rt := range booking.RoomTypes(stays) {
		aid := actorID(tenant, property, rt)
		ev, err := f.inv(aid).DecideHold(rt, h.ID, booking.StaysOf(stays, rt), h.ExpiresAt, "")
		if err != nil {
			return booking.Hold{}, err
		}
		changes = append(changes, change{aid, []booking.Event{ev}})
		rows = append(rows, persistence.HoldRow{Tenant: tenant, ID: h.ID, Property: property, RoomType: rt, ExpiresAt: h.ExpiresAt})
	}
	recs, err := idemRecord(tenant, idem, h)
	if err != nil {
		return booking.Hold{}, err
	}
	if err := f.commit(ctx, changes, persistence.Batch{PutHolds: rows, Idempotency: recs}); err != nil {
		return booking.Hold{}, err
	}
	return h, nil
}

func (f *fakeEngine) ReleaseHold(ctx context.Context, tenant, id string, idem *cluster.Idem) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows, err := f.store.HoldRows(ctx, tenant, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return booking.Errorf(booking.CodeNotFound, "hold %s not found", id)
	}
	if err != nil {
		return err
	}
	var changes []change
	for _, row := range rows {
		aid := actorID(row.Tenant, row.Property, row.RoomType)
		if ev, ok := f.inv(aid).DecideReleaseHold(id, "released"); ok {
			changes = append(changes, change{aid, []booking.Event{ev}})
		}
	}
	recs, err := idemRecord(tenant, idem, nil)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return booking.Errorf(booking.CodeNotFound, "hold %s not found", id)
	}
	return f.commit(ctx, changes, persistence.Batch{DeleteHolds: rows, Idempotency: recs})
}

func (f *fakeEngine) Ready(context.Context) error { return nil }
