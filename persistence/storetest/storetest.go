// Package storetest is the contract suite every persistence.Store must
// pass. Each backend runs it from its own test:
//
//	storetest.Run(t, func(t *testing.T) persistence.Store { … a fresh, migrated store … })
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Run runs the contract suite. open must return a fresh, empty, migrated
// store for each call and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) persistence.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s persistence.Store)
	}{
		{"PingAnswers", testPing},
		{"EnsureTenantTellsCreated", testEnsureTenant},
		{"APIKeysFoundUntilRevoked", testAPIKeys},
		{"PropertiesCreatedThenUpdated", testProperties},
		{"PropertyWindowStoredOrRefusedAsData", testPropertyWindow},
		{"TimesComeBackUTCMicroseconds", testTimes},
		{"RoomTypeUpsertedByBatch", testRoomTypes},
		{"LoadActorReturnsSnapshotAndLaterEvents", testLoadActor},
		{"TrimmedJournalKeepsFenceAndLoad", testTrimJournal},
		{"BatchWithoutEventsIsFencedToo", testBatchWithoutEvents},
		{"FencedBatchWritesNothing", testFencedWritesNothing},
		{"ConcurrentActivationsExactlyOneCommits", testConcurrentFence},
		{"ConcurrentActorsAllCommit", testConcurrentActors},
		{"JoinedBatchesAllCommit", testJoinedBatchesAllCommit},
		{"JoinedRefusedBatchFailsAlone", testJoinedRefusedBatchFailsAlone},
		{"JoinedBatchesOfOneActorInOrder", testJoinedBatchesOfOneActor},
		{"JoinedCommitsFenceContestedActorAlone", testJoinedConcurrentFence},
		{"IdempotencyTakenRollsBackBatch", testIdempotencyTakenRollsBack},
		{"BatchCompletesInFlightIdempotency", testBatchCompletesClaim},
		{"ReservationsUpsertedAndRead", testReservations},
		{"ReservationsListedWithFiltersAndCursor", testListReservations},
		{"HoldRowsPutDeletedAndListed", testHolds},
		{"IdempotencyClaimCompleteRelease", testIdempotency},
		{"IdempotencyExpiryAndPurge", testIdempotencyExpiry},
		{"MaintenanceStoresItsState", testMaintenance},
		{"JobsWrittenOnceByKeyWithTheirCommit", testJobs},
		{"WebhooksPutListedDeletedWithTheirDeliveries", testWebhooks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a fixed instant with microseconds, which every store keeps.
var base = time.Date(2026, 11, 28, 10, 0, 0, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func mustNoErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func date(t *testing.T, s string) booking.Date {
	t.Helper()
	d, err := booking.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// event is a small journal event, distinct per (actor, seq).
func event(actor string, seq int64) []byte {
	return fmt.Appendf(nil, `{"kind":"booked","reservation":"%s-%d"}`, actor, seq)
}

func events(actor string, first int64, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = event(actor, first+int64(i))
	}
	return out
}

// reservation builds a full reservation row.
func reservation(tenant, property, id string, arrival booking.Date, created time.Time) booking.Reservation {
	return booking.Reservation{
		Tenant: tenant, ID: id, Property: property, Status: booking.StatusConfirmed,
		Stays: []booking.Stay{
			{RoomType: "dlx", Arrival: arrival, Departure: arrival + 2, Quantity: 1},
			{RoomType: "std", Arrival: arrival + 1, Departure: arrival + 3, Quantity: 2},
		},
		Guest:   booking.Guest{Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+44 1"},
		Channel: "booking.com", ExternalRef: "BDC-" + id, TotalPrice: 25800, Currency: "EUR", Version: 1,
		CreatedAt: created, UpdatedAt: created, Primary: "dlx",
	}
}

func mustCommit(t *testing.T, s persistence.Store, b persistence.Batch) {
	t.Helper()
	mustNoErr(t, s.CommitBatch(ctx(t), b), fmt.Sprintf("commit batch %s from seq %d", b.ActorID, b.FirstSeq))
}

func mustLastSeq(t *testing.T, s persistence.Store, actor string, want int64) {
	t.Helper()
	got, err := s.LastSeq(ctx(t), actor)
	mustNoErr(t, err, "last seq")
	if got != want {
		t.Fatalf("last seq of %s = %d, want %d", actor, got, want)
	}
}

func mustReservation(t *testing.T, s persistence.Store, want booking.Reservation) {
	t.Helper()
	got, err := s.GetReservation(ctx(t), want.Tenant, want.ID)
	mustNoErr(t, err, "get reservation "+want.ID)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reservation %s:\n got %+v\nwant %+v", want.ID, got, want)
	}
}

func testPing(t *testing.T, s persistence.Store) {
	mustNoErr(t, s.Ping(ctx(t)), "ping")
}

func testEnsureTenant(t *testing.T, s persistence.Store) {
	created, err := s.EnsureTenant(ctx(t), "acme")
	mustNoErr(t, err, "ensure tenant")
	if !created {
		t.Fatal("first EnsureTenant: created = false")
	}
	created, err = s.EnsureTenant(ctx(t), "acme")
	mustNoErr(t, err, "ensure tenant again")
	if created {
		t.Fatal("second EnsureTenant: created = true")
	}
}

func testAPIKeys(t *testing.T, s persistence.Store) {
	c := ctx(t)
	_, err := s.EnsureTenant(c, "acme")
	mustNoErr(t, err, "ensure tenant")
	k1 := persistence.APIKey{ID: "k1", Tenant: "acme", Role: booking.RoleAdmin, Name: "ops", Hash: []byte("hash-1"), CreatedAt: base}
	k2 := persistence.APIKey{ID: "k2", Tenant: "acme", Role: booking.RoleViewer, Hash: []byte("hash-2"), CreatedAt: base.Add(time.Second)}
	// A key for a tenant nobody created yet creates the tenant.
	k3 := persistence.APIKey{ID: "k3", Tenant: "globex", Role: booking.RoleChannel, Name: "bdc", Hash: []byte("hash-3"), CreatedAt: base}
	for _, k := range []persistence.APIKey{k1, k2, k3} {
		mustNoErr(t, s.CreateAPIKey(c, k), "create key "+k.ID)
	}
	if created, err := s.EnsureTenant(c, "globex"); err != nil || created {
		t.Fatalf("tenant of a new key: created=%v err=%v, want it to exist", created, err)
	}
	if err := s.CreateAPIKey(c, persistence.APIKey{ID: "k4", Tenant: "acme", Role: booking.RoleAdmin, Hash: []byte("hash-1"), CreatedAt: base}); err == nil {
		t.Fatal("a second key with the same hash was accepted")
	}

	got, err := s.APIKeyByHash(c, []byte("hash-1"))
	mustNoErr(t, err, "key by hash")
	if !reflect.DeepEqual(got, k1) {
		t.Fatalf("key by hash:\n got %+v\nwant %+v", got, k1)
	}
	_, err = s.APIKeyByHash(c, []byte("nope"))
	mustErrIs(t, err, persistence.ErrNotFound, "unknown hash")

	gen0, err := s.KeyGeneration(c)
	mustNoErr(t, err, "key generation")
	revokedAt := base.Add(time.Hour)
	gen, err := s.RevokeAPIKey(c, "k2", revokedAt)
	mustNoErr(t, err, "revoke k2")
	if gen != gen0+1 {
		t.Fatalf("revocation raised the key generation %d → %d, want +1", gen0, gen)
	}
	if now, err := s.KeyGeneration(c); err != nil || now != gen {
		t.Fatalf("key generation after revoke = %d, %v; want %d", now, err, gen)
	}
	_, err = s.APIKeyByHash(c, []byte("hash-2"))
	mustErrIs(t, err, persistence.ErrNotFound, "revoked key by hash")
	_, err = s.RevokeAPIKey(c, "k2", revokedAt.Add(time.Hour))
	mustErrIs(t, err, persistence.ErrAlreadyRevoked, "revoke k2 again")
	_, err = s.RevokeAPIKey(c, "nope", revokedAt)
	mustErrIs(t, err, persistence.ErrNotFound, "revoke unknown key")
	if now, _ := s.KeyGeneration(c); now != gen {
		t.Fatalf("a refused revocation moved the key generation to %d, want %d", now, gen)
	}

	// Nodes confirm the generation they applied; laggards are the live
	// nodes below a generation. A confirmation never moves a node back.
	mustNoErr(t, s.ConfirmKeyGeneration(c, "node-a", gen, base), "confirm a")
	mustNoErr(t, s.ConfirmKeyGeneration(c, "node-b", gen-1, base), "confirm b")
	mustNoErr(t, s.ConfirmKeyGeneration(c, "node-gone", gen-1, base.Add(-time.Hour)), "confirm gone")
	lag, err := s.KeyGenerationLaggards(c, gen, base.Add(-time.Minute))
	mustNoErr(t, err, "laggards")
	if !reflect.DeepEqual(lag, []string{"node-b"}) {
		t.Fatalf("laggards %v, want [node-b] (node-gone was last seen before the window)", lag)
	}
	mustNoErr(t, s.ConfirmKeyGeneration(c, "node-a", gen-1, base.Add(time.Second)), "confirm a, older")
	mustNoErr(t, s.ConfirmKeyGeneration(c, "node-b", gen, base.Add(time.Second)), "confirm b, caught up")
	lag, err = s.KeyGenerationLaggards(c, gen, base.Add(-time.Minute))
	mustNoErr(t, err, "laggards")
	if len(lag) != 0 {
		t.Fatalf("laggards %v after every node confirmed", lag)
	}

	keys, err := s.ListAPIKeys(c)
	mustNoErr(t, err, "list keys")
	k2.RevokedAt = &revokedAt // the first revocation time stays
	if want := []persistence.APIKey{k1, k2, k3}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("list keys:\n got %+v\nwant %+v", keys, want)
	}
}

func testProperties(t *testing.T, s persistence.Store) {
	c := ctx(t)
	in := booking.Property{Tenant: "acme", ID: "p1", Name: "Hotel One", Timezone: "Europe/Berlin", Currency: "EUR", CreatedAt: base, UpdatedAt: base}
	stored, created, err := s.PutProperty(c, in)
	mustNoErr(t, err, "put property")
	p := in.WithDefaults() // unset window settings are stored as their defaults
	if !created || !reflect.DeepEqual(stored, p) {
		t.Fatalf("first put: created=%v stored=%+v, want created and %+v", created, stored, p)
	}

	upd := p
	upd.Name, upd.Currency = "Hotel Uno", "CHF"
	upd.CreatedAt, upd.UpdatedAt = base.Add(time.Hour), base.Add(time.Hour)
	stored, created, err = s.PutProperty(c, upd)
	mustNoErr(t, err, "update property")
	want := upd
	want.CreatedAt = base // kept
	if created || !reflect.DeepEqual(stored, want) {
		t.Fatalf("update: created=%v stored=%+v, want updated and %+v", created, stored, want)
	}
	got, err := s.GetProperty(c, "acme", "p1")
	mustNoErr(t, err, "get property")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("get property:\n got %+v\nwant %+v", got, want)
	}
	_, err = s.GetProperty(c, "globex", "p1")
	mustErrIs(t, err, persistence.ErrNotFound, "property of another tenant")

	p0 := booking.Property{Tenant: "acme", ID: "a0", Name: "Annex", Timezone: "UTC", Currency: "EUR",
		BookingHorizonDays: 90, LateCheckinUntil: "00:00", CreatedAt: base, UpdatedAt: base}
	_, _, err = s.PutProperty(c, p0)
	mustNoErr(t, err, "put a0")
	_, _, err = s.PutProperty(c, booking.Property{Tenant: "globex", ID: "g1", Name: "G", Timezone: "UTC", Currency: "USD", CreatedAt: base, UpdatedAt: base})
	mustNoErr(t, err, "put g1")
	list, err := s.ListProperties(c, "acme")
	mustNoErr(t, err, "list properties")
	if wantList := []booking.Property{p0, want}; !reflect.DeepEqual(list, wantList) {
		t.Fatalf("list properties:\n got %+v\nwant %+v", list, wantList)
	}
	list, err = s.ListProperties(c, "initech")
	mustNoErr(t, err, "list properties of an empty tenant")
	if len(list) != 0 {
		t.Fatalf("empty tenant lists %d properties", len(list))
	}
}

// testPropertyWindow: a property's window settings round-trip, and values
// outside their bounds are refused as data (ErrInvalidData), changing
// nothing, on every store alike.
func testPropertyWindow(t *testing.T, s persistence.Store) {
	c := ctx(t)
	p := booking.Property{Tenant: "acme", ID: "p1", Name: "H", Timezone: "UTC", Currency: "EUR",
		BookingHorizonDays: 3650, LateCheckinUntil: "23:59", CreatedAt: base, UpdatedAt: base}
	_, _, err := s.PutProperty(c, p)
	mustNoErr(t, err, "put property")
	for _, bad := range []booking.Property{
		{BookingHorizonDays: -1, LateCheckinUntil: "12:00"},
		{BookingHorizonDays: 3651, LateCheckinUntil: "12:00"},
		{BookingHorizonDays: 30, LateCheckinUntil: "24:00"},
		{BookingHorizonDays: 30, LateCheckinUntil: "9:00"},
	} {
		upd := p
		upd.BookingHorizonDays, upd.LateCheckinUntil, upd.Name = bad.BookingHorizonDays, bad.LateCheckinUntil, "changed"
		_, _, err := s.PutProperty(c, upd)
		mustErrIs(t, err, persistence.ErrInvalidData, fmt.Sprintf("put horizon %d, late check-in %q", bad.BookingHorizonDays, bad.LateCheckinUntil))
		_, _, err = s.PutProperty(c, booking.Property{Tenant: "acme", ID: "p2", Name: "H2", Timezone: "UTC", Currency: "EUR",
			BookingHorizonDays: bad.BookingHorizonDays, LateCheckinUntil: bad.LateCheckinUntil})
		mustErrIs(t, err, persistence.ErrInvalidData, "insert with a bad window")
	}
	got, err := s.GetProperty(c, "acme", "p1")
	mustNoErr(t, err, "get property")
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("after refused updates:\n got %+v\nwant %+v", got, p)
	}
	_, err = s.GetProperty(c, "acme", "p2")
	mustErrIs(t, err, persistence.ErrNotFound, "a refused insert")
}

func testTimes(t *testing.T, s persistence.Store) {
	c := ctx(t)
	loc := time.FixedZone("UTC+5", 5*3600)
	in := time.Date(2026, 3, 4, 5, 6, 7, 891234567, loc)
	p := booking.Property{Tenant: "acme", ID: "p1", Name: "H", Timezone: "UTC", Currency: "EUR", CreatedAt: in, UpdatedAt: in}
	_, _, err := s.PutProperty(c, p)
	mustNoErr(t, err, "put property")
	got, err := s.GetProperty(c, "acme", "p1")
	mustNoErr(t, err, "get property")
	want := persistence.StoredTime(in)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at = %v (%v), want %v in UTC", got.CreatedAt, got.CreatedAt.Location(), want)
	}
	if want.Nanosecond() != 891234000 {
		t.Fatalf("StoredTime keeps %d ns, want microseconds", want.Nanosecond())
	}
}

func testRoomTypes(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	rt := booking.RoomType{Tenant: "acme", Property: "p1", ID: "dlx", Name: "Deluxe", Rooms: 10, Price: 12900, CreatedAt: base, UpdatedAt: base}
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 1), At: base, RoomType: &rt})
	got, err := s.GetRoomType(c, "acme", "p1", "dlx")
	mustNoErr(t, err, "get room type")
	if !reflect.DeepEqual(got, rt) {
		t.Fatalf("room type:\n got %+v\nwant %+v", got, rt)
	}

	upd := rt
	upd.Name, upd.Rooms, upd.Price = "Deluxe King", 12, 13900
	upd.CreatedAt, upd.UpdatedAt = base.Add(time.Hour), base.Add(time.Hour)
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 2, Events: events(actor, 2, 1), At: base.Add(time.Hour), RoomType: &upd})
	want := upd
	want.CreatedAt = base // kept
	got, err = s.GetRoomType(c, "acme", "p1", "dlx")
	mustNoErr(t, err, "get updated room type")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("updated room type:\n got %+v\nwant %+v", got, want)
	}

	std := booking.RoomType{Tenant: "acme", Property: "p1", ID: "std", Name: "Standard", Rooms: 20, Price: 9900, CreatedAt: base, UpdatedAt: base}
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p1/std", FirstSeq: 1, Events: events("acme/p1/std", 1, 1), At: base, RoomType: &std})
	other := booking.RoomType{Tenant: "acme", Property: "p2", ID: "aaa", Name: "Other", Rooms: 1, Price: 1, CreatedAt: base, UpdatedAt: base}
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p2/aaa", FirstSeq: 1, Events: events("acme/p2/aaa", 1, 1), At: base, RoomType: &other})
	list, err := s.ListRoomTypes(c, "acme", "p1")
	mustNoErr(t, err, "list room types")
	if wantList := []booking.RoomType{want, std}; !reflect.DeepEqual(list, wantList) {
		t.Fatalf("list room types:\n got %+v\nwant %+v", list, wantList)
	}
	globex := booking.RoomType{Tenant: "globex", Property: "a", ID: "zzz", Name: "Globex", Rooms: 1, Price: 1, CreatedAt: base, UpdatedAt: base}
	mustCommit(t, s, persistence.Batch{ActorID: "globex/a/zzz", FirstSeq: 1, Events: events("globex/a/zzz", 1, 1), At: base, RoomType: &globex})
	all, err := s.AllRoomTypes(c)
	mustNoErr(t, err, "all room types")
	if wantAll := []booking.RoomType{want, std, other, globex}; !reflect.DeepEqual(all, wantAll) {
		t.Fatalf("all room types:\n got %+v\nwant %+v", all, wantAll)
	}
	_, err = s.GetRoomType(c, "globex", "p1", "dlx")
	mustErrIs(t, err, persistence.ErrNotFound, "room type of another tenant")
	_, err = s.GetRoomType(c, "acme", "p1", "nope")
	mustErrIs(t, err, persistence.ErrNotFound, "unknown room type")
}

func testLoadActor(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	st, err := s.LoadActor(c, actor)
	mustNoErr(t, err, "load new actor")
	if st.Snapshot != nil || st.SnapshotSeq != 0 || len(st.Events) != 0 {
		t.Fatalf("new actor: %+v, want nothing", st)
	}
	mustLastSeq(t, s, actor, 0)

	at := func(seq int64) time.Time { return base.Add(time.Duration(seq) * time.Second) }
	// seq 1..3, then 4..5 with a snapshot at 5, then 6..8 with a snapshot
	// at 6 (kept), then 9..10 without one.
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 3), At: at(1)})
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 4, Events: events(actor, 4, 2), At: at(4), Snapshot: []byte(`{"seq":5}`)})
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 6, Events: events(actor, 6, 1), At: at(6), Snapshot: []byte(`{"seq":6}`)})
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 7, Events: events(actor, 7, 4), At: at(7)})
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p1/std", FirstSeq: 1, Events: events("acme/p1/std", 1, 2), At: at(1)})
	mustLastSeq(t, s, actor, 10)
	mustLastSeq(t, s, "acme/p1/std", 2)

	st, err = s.LoadActor(c, actor)
	mustNoErr(t, err, "load actor")
	if string(st.Snapshot) != `{"seq":6}` || st.SnapshotSeq != 6 {
		t.Fatalf("snapshot = %q at %d, want the latest, {\"seq\":6} at 6", st.Snapshot, st.SnapshotSeq)
	}
	if len(st.Events) != 4 {
		t.Fatalf("got %d events after the snapshot, want 4 (seq 7..10)", len(st.Events))
	}
	for i, e := range st.Events {
		seq := int64(7 + i)
		if e.Seq != seq || !bytes.Equal(e.Data, event(actor, seq)) || !e.At.Equal(at(7)) || e.At.Location() != time.UTC {
			t.Fatalf("event %d = {%d %q %v}, want {%d %q %v}", i, e.Seq, e.Data, e.At, seq, event(actor, seq), at(7))
		}
	}

	// Without a snapshot every event comes back.
	st, err = s.LoadActor(c, "acme/p1/std")
	mustNoErr(t, err, "load std")
	if st.Snapshot != nil || len(st.Events) != 2 || st.Events[0].Seq != 1 || st.Events[1].Seq != 2 {
		t.Fatalf("std: %+v, want events 1 and 2 and no snapshot", st)
	}
}

// testTrimJournal: a snapshot batch that trims the journal changes
// nothing a reader sees: the last seq, the fence against a stale batch,
// the snapshot with the events after it, the next batch.
func testTrimJournal(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 5), At: base})
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 6, Events: events(actor, 6, 2), At: base,
		Snapshot: []byte(`{"seq":7}`), TrimJournal: true})
	mustLastSeq(t, s, actor, 7)
	err := s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 6, Events: events(actor, 6, 1), At: base})
	mustErrIs(t, err, persistence.ErrFenced, "a stale batch after a trim")
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 8, Events: events(actor, 8, 2), At: base})
	st, err := s.LoadActor(c, actor)
	mustNoErr(t, err, "load trimmed actor")
	if string(st.Snapshot) != `{"seq":7}` || st.SnapshotSeq != 7 || len(st.Events) != 2 || st.Events[0].Seq != 8 || st.Events[1].Seq != 9 {
		t.Fatalf("trimmed actor: snapshot %q at %d, %d events, want {\"seq\":7} at 7 and events 8, 9", st.Snapshot, st.SnapshotSeq, len(st.Events))
	}
}

func testBatchWithoutEvents(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 2), At: base})
	// A batch with no events but a FirstSeq is fenced against the journal.
	res := reservation("acme", "p1", "r1", date(t, "2026-12-01"), base)
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 3, At: base, Reservations: []booking.Reservation{res}})
	mustReservation(t, s, res)
	stale := reservation("acme", "p1", "r2", date(t, "2026-12-01"), base)
	err := s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 2, At: base, Reservations: []booking.Reservation{stale}})
	mustErrIs(t, err, persistence.ErrFenced, "event-less batch of a stale activation")
	_, err = s.GetReservation(c, "acme", "r2")
	mustErrIs(t, err, persistence.ErrNotFound, "reservation of a fenced batch")
	mustLastSeq(t, s, actor, 2)
}

// fullBatch writes one of everything, with names derived from tag.
func fullBatch(actor string, first int64, n int, tag string) persistence.Batch {
	b := persistence.Batch{
		ActorID: actor, FirstSeq: first, Events: events(actor, first, n), At: base,
		Snapshot: []byte(`{"tag":"` + tag + `"}`),
		RoomType: &booking.RoomType{Tenant: "acme", Property: "p1", ID: "dlx", Name: "Deluxe " + tag, Rooms: 10, Price: 100, CreatedAt: base, UpdatedAt: base},
		PutHolds: []persistence.HoldRow{{Tenant: "acme", ID: "h-" + tag, Property: "p1", RoomType: "dlx", ExpiresAt: base.Add(time.Hour)}},
		Idempotency: []persistence.IdempotencyRecord{{Tenant: "acme", Key: "key-" + tag, RequestHash: "hash", Status: 201,
			Body: []byte(`{"id":"r-` + tag + `"}`), CreatedAt: base, ExpiresAt: time.Now().Add(time.Hour)}},
	}
	for i := range 3 {
		b.Reservations = append(b.Reservations, reservation("acme", "p1", fmt.Sprintf("r-%s-%d", tag, i), booking.Date(20800+i), base))
	}
	return b
}

// mustNothingOf checks that no row of fullBatch(…, tag) exists.
func mustNothingOf(t *testing.T, s persistence.Store, tag string) {
	t.Helper()
	c := ctx(t)
	for i := range 3 {
		_, err := s.GetReservation(c, "acme", fmt.Sprintf("r-%s-%d", tag, i))
		mustErrIs(t, err, persistence.ErrNotFound, "reservation of fenced batch "+tag)
	}
	_, err := s.HoldRows(c, "acme", "h-"+tag)
	mustErrIs(t, err, persistence.ErrNotFound, "hold of fenced batch "+tag)
	_, err = s.GetIdempotency(c, "acme", "key-"+tag)
	mustErrIs(t, err, persistence.ErrNotFound, "idempotency record of fenced batch "+tag)
	if rt, err := s.GetRoomType(c, "acme", "p1", "dlx"); err == nil && rt.Name == "Deluxe "+tag {
		t.Fatalf("room type of fenced batch %s was written", tag)
	}
}

func testFencedWritesNothing(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	mustCommit(t, s, fullBatch(actor, 1, 3, "a"))

	// Same FirstSeq again: the seq is taken.
	mustErrIs(t, s.CommitBatch(c, fullBatch(actor, 1, 2, "b")), persistence.ErrFenced, "same first seq")
	mustNothingOf(t, s, "b")
	// Overlapping: starts inside what is stored.
	mustErrIs(t, s.CommitBatch(c, fullBatch(actor, 3, 2, "c")), persistence.ErrFenced, "overlapping seqs")
	mustNothingOf(t, s, "c")
	// A gap: the journal ends at 3, so 5 cannot follow.
	mustErrIs(t, s.CommitBatch(c, fullBatch(actor, 5, 1, "d")), persistence.ErrFenced, "gap after the journal")
	mustNothingOf(t, s, "d")

	st, err := s.LoadActor(c, actor)
	mustNoErr(t, err, "load actor")
	if string(st.Snapshot) != `{"tag":"a"}` || st.SnapshotSeq != 3 || len(st.Events) != 0 {
		t.Fatalf("after fenced batches: snapshot %q at %d, %d events; want batch a's at 3", st.Snapshot, st.SnapshotSeq, len(st.Events))
	}
	mustLastSeq(t, s, actor, 3)
	// The rightful next batch still commits.
	mustCommit(t, s, fullBatch(actor, 4, 1, "e"))
	mustLastSeq(t, s, actor, 4)
}

func testConcurrentFence(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	const activations, rounds = 6, 5
	next := int64(1)
	for round := range rounds {
		errs := make([]error, activations)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for a := range activations {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[a] = s.CommitBatch(c, fullBatch(actor, next, 1+a%3, fmt.Sprintf("%d-%d", round, a)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for a, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: activations %d and %d both committed seq %d", round, winner, a, next)
				}
				winner = a
			case errors.Is(err, persistence.ErrFenced):
			default:
				t.Fatalf("round %d: activation %d: %v, want nil or ErrFenced", round, a, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no activation committed", round)
		}
		for a := range activations {
			if a != winner {
				mustNothingOf(t, s, fmt.Sprintf("%d-%d", round, a))
			}
		}
		next += int64(1 + winner%3)
		mustLastSeq(t, s, actor, next-1)
		st, err := s.LoadActor(c, actor)
		mustNoErr(t, err, "load actor")
		if st.SnapshotSeq != next-1 || string(st.Snapshot) != fmt.Sprintf(`{"tag":"%d-%d"}`, round, winner) {
			t.Fatalf("round %d: snapshot %q at %d, want the winner's", round, st.Snapshot, st.SnapshotSeq)
		}
		mustReservation(t, s, reservation("acme", "p1", fmt.Sprintf("r-%d-%d-0", round, winner), 20800, base))
	}
}

func testConcurrentActors(t *testing.T, s persistence.Store) {
	c := ctx(t)
	const actors, batches = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, actors)
	for a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := fmt.Sprintf("acme/p1/rt%d", a)
			for i := range batches {
				b := persistence.Batch{ActorID: actor, FirstSeq: int64(1 + 2*i), Events: events(actor, int64(1+2*i), 2), At: base,
					Reservations: []booking.Reservation{reservation("acme", "p1", fmt.Sprintf("r-%d-%d", a, i), 20800, base)},
					Idempotency: []persistence.IdempotencyRecord{{Tenant: "acme", Key: fmt.Sprintf("k-%d-%d", a, i), RequestHash: "h",
						Status: 201, Body: []byte("{}"), CreatedAt: base, ExpiresAt: time.Now().Add(time.Hour)}}}
				if err := s.CommitBatch(c, b); err != nil {
					errs <- fmt.Errorf("actor %s batch %d: %w", actor, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for a := range actors {
		mustLastSeq(t, s, fmt.Sprintf("acme/p1/rt%d", a), 2*batches)
	}
	rs, _, err := s.ListReservations(c, "acme", "p1", persistence.ReservationFilter{Limit: 500})
	mustNoErr(t, err, "list reservations")
	if len(rs) != actors*batches {
		t.Fatalf("%d reservations, want %d", len(rs), actors*batches)
	}
}

func testIdempotencyTakenRollsBack(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 1), At: base})
	done := persistence.IdempotencyRecord{Tenant: "acme", Key: "key-x", RequestHash: "hash", Status: 201, Body: []byte(`{"first":true}`),
		CreatedAt: base, ExpiresAt: time.Now().Add(time.Hour)}
	mustNoErr(t, s.CompleteIdempotency(c, done), "complete key-x")

	// A batch that completes a fresh key and key-x, which is completed.
	b := fullBatch(actor, 2, 2, "x")
	b.Idempotency = append(b.Idempotency, persistence.IdempotencyRecord{Tenant: "acme", Key: "key-x", RequestHash: "hash", Status: 201,
		Body: []byte(`{"second":true}`), CreatedAt: base, ExpiresAt: time.Now().Add(time.Hour)})
	b.Idempotency[0].Key = "key-fresh"
	mustErrIs(t, s.CommitBatch(c, b), persistence.ErrIdempotencyTaken, "batch completing a completed key")
	mustLastSeq(t, s, actor, 1)
	for i := range 3 {
		_, err := s.GetReservation(c, "acme", fmt.Sprintf("r-x-%d", i))
		mustErrIs(t, err, persistence.ErrNotFound, "reservation of the rolled back batch")
	}
	_, err := s.GetIdempotency(c, "acme", "key-fresh")
	mustErrIs(t, err, persistence.ErrNotFound, "other idempotency record of the rolled back batch")
	_, err = s.HoldRows(c, "acme", "h-x")
	mustErrIs(t, err, persistence.ErrNotFound, "hold of the rolled back batch")
	got, err := s.GetIdempotency(c, "acme", "key-x")
	mustNoErr(t, err, "get key-x")
	if string(got.Body) != `{"first":true}` {
		t.Fatalf("key-x body = %s, want the first outcome", got.Body)
	}

	// An in-flight record with another request hash is taken too.
	_, err = s.ClaimIdempotency(c, persistence.IdempotencyRecord{Tenant: "acme", Key: "key-y", RequestHash: "other", ExpiresAt: time.Now().Add(time.Hour)})
	mustNoErr(t, err, "claim key-y")
	b = persistence.Batch{ActorID: actor, FirstSeq: 2, Events: events(actor, 2, 1), At: base,
		Idempotency: []persistence.IdempotencyRecord{{Tenant: "acme", Key: "key-y", RequestHash: "hash", Status: 201, ExpiresAt: time.Now().Add(time.Hour)}}}
	mustErrIs(t, s.CommitBatch(c, b), persistence.ErrIdempotencyTaken, "batch completing another request's claim")
	mustLastSeq(t, s, actor, 1)

	// One key completed twice in one batch: the second finds it taken.
	b.Idempotency = []persistence.IdempotencyRecord{
		{Tenant: "acme", Key: "key-z", RequestHash: "hash", Status: 201, ExpiresAt: time.Now().Add(time.Hour)},
		{Tenant: "acme", Key: "key-z", RequestHash: "hash", Status: 201, ExpiresAt: time.Now().Add(time.Hour)},
	}
	mustErrIs(t, s.CommitBatch(c, b), persistence.ErrIdempotencyTaken, "one key twice in a batch")
	mustLastSeq(t, s, actor, 1)
}

func testBatchCompletesClaim(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	exp := persistence.StoredTime(time.Now().Add(time.Hour))
	claimed, err := s.ClaimIdempotency(c, persistence.IdempotencyRecord{Tenant: "acme", Key: "k1", RequestHash: "h1", CreatedAt: base, ExpiresAt: exp})
	mustNoErr(t, err, "claim")
	if !claimed {
		t.Fatal("claim of a new key: claimed = false")
	}
	rec := persistence.IdempotencyRecord{Tenant: "acme", Key: "k1", RequestHash: "h1", Status: 201, Body: []byte(`{"id":"r1"}`), CreatedAt: base.Add(time.Second), ExpiresAt: exp}
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 1), At: base, Idempotency: []persistence.IdempotencyRecord{rec}})
	got, err := s.GetIdempotency(c, "acme", "k1")
	mustNoErr(t, err, "get k1")
	want := rec
	want.CreatedAt = base // the claim's
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("completed record:\n got %+v\nwant %+v", got, want)
	}
	// A record nobody claimed is inserted completed.
	rec2 := persistence.IdempotencyRecord{Tenant: "acme", Key: "k2", RequestHash: "h2", Status: 409, Body: []byte(`{"error":{}}`), CreatedAt: base, ExpiresAt: exp}
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 2, Events: events(actor, 2, 1), At: base, Idempotency: []persistence.IdempotencyRecord{rec2}})
	got, err = s.GetIdempotency(c, "acme", "k2")
	mustNoErr(t, err, "get k2")
	if !reflect.DeepEqual(got, rec2) {
		t.Fatalf("inserted record:\n got %+v\nwant %+v", got, rec2)
	}
}

func testReservations(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	r1 := reservation("acme", "p1", "r1", date(t, "2026-12-01"), base)
	r2 := reservation("acme", "p1", "r2", date(t, "2026-12-05"), base)
	r2.ExternalRef, r2.Channel = "", ""
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 2), At: base, Reservations: []booking.Reservation{r1, r2}})
	mustReservation(t, s, r1)
	mustReservation(t, s, r2)
	_, err := s.GetReservation(c, "globex", "r1")
	mustErrIs(t, err, persistence.ErrNotFound, "reservation of another tenant")
	_, err = s.GetReservation(c, "acme", "nope")
	mustErrIs(t, err, persistence.ErrNotFound, "unknown reservation")

	// Upsert: a modification then a cancellation in one batch; the last
	// write of a reservation wins and created_at stays.
	mod := r1
	mod.Stays = []booking.Stay{{RoomType: "dlx", Arrival: date(t, "2026-12-02"), Departure: date(t, "2026-12-06"), Quantity: 3}}
	mod.Guest = booking.Guest{Name: "Grace Hopper"}
	mod.Version, mod.TotalPrice = 2, 99000
	mod.CreatedAt, mod.UpdatedAt = base.Add(time.Hour), base.Add(time.Hour)
	cancelled := mod
	cancelled.Status, cancelled.Version = booking.StatusCancelled, 3
	cancelled.UpdatedAt = base.Add(2 * time.Hour)
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 3, Events: events(actor, 3, 2), At: base, Reservations: []booking.Reservation{mod, cancelled}})
	want := cancelled
	want.CreatedAt = base
	mustReservation(t, s, want)
	// The arrival index follows the new stays.
	rs, _, err := s.ListReservations(c, "acme", "p1", persistence.ReservationFilter{ArrivalFrom: date(t, "2026-12-02"), ArrivalTo: date(t, "2026-12-03")})
	mustNoErr(t, err, "list by new arrival")
	if len(rs) != 1 || rs[0].ID != "r1" {
		t.Fatalf("by new arrival: %+v, want r1", rs)
	}
}

func testListReservations(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/dlx"
	d := date(t, "2026-12-01")
	var all []booking.Reservation
	// 9 reservations; r3/r4/r5 share a created_at, so id breaks the tie.
	created := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second}
	for i, off := range created {
		r := reservation("acme", "p1", fmt.Sprintf("r%d", i), d+booking.Date(i), base.Add(off))
		if i%3 == 2 {
			r.Status = booking.StatusCancelled
		}
		all = append(all, r)
	}
	// Insert in a scrambled order, in two batches.
	b1 := []booking.Reservation{all[8], all[3], all[5], all[0]}
	b2 := []booking.Reservation{all[4], all[1], all[7], all[2], all[6]}
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 1, Events: events(actor, 1, 1), At: base, Reservations: b1})
	mustCommit(t, s, persistence.Batch{ActorID: actor, FirstSeq: 2, Events: events(actor, 2, 1), At: base, Reservations: b2})
	// Noise: another property, another tenant.
	other := reservation("acme", "p2", "o1", d, base)
	foreign := reservation("globex", "p1", "g1", d, base)
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p2/dlx", FirstSeq: 1, Events: events("acme/p2/dlx", 1, 1), At: base, Reservations: []booking.Reservation{other}})
	mustCommit(t, s, persistence.Batch{ActorID: "globex/p1/dlx", FirstSeq: 1, Events: events("globex/p1/dlx", 1, 1), At: base, Reservations: []booking.Reservation{foreign}})

	ids := func(rs []booking.Reservation) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	// pages collects every page of f, checking the page sizes.
	pages := func(f persistence.ReservationFilter) []booking.Reservation {
		t.Helper()
		var out []booking.Reservation
		for n := 0; ; n++ {
			rs, next, err := s.ListReservations(c, "acme", "p1", f)
			mustNoErr(t, err, "list page")
			if f.Limit > 0 && len(rs) > f.Limit {
				t.Fatalf("page of %d rows, limit %d", len(rs), f.Limit)
			}
			out = append(out, rs...)
			if next == "" {
				return out
			}
			if n > 20 {
				t.Fatal("paging does not end")
			}
			f.Cursor = next
		}
	}

	got, next, err := s.ListReservations(c, "acme", "p1", persistence.ReservationFilter{})
	mustNoErr(t, err, "list all")
	if !reflect.DeepEqual(got, all) || next != "" {
		t.Fatalf("list all: %v next %q, want %v and no next page", ids(got), next, ids(all))
	}
	if got := pages(persistence.ReservationFilter{Limit: 2}); !reflect.DeepEqual(got, all) {
		t.Fatalf("pages of 2: %v, want %v", ids(got), ids(all))
	}
	if got := pages(persistence.ReservationFilter{Limit: 3}); !reflect.DeepEqual(got, all) {
		t.Fatalf("pages of 3 (last page full): %v, want %v", ids(got), ids(all))
	}
	first, next, err := s.ListReservations(c, "acme", "p1", persistence.ReservationFilter{Limit: 4})
	mustNoErr(t, err, "first page")
	if !reflect.DeepEqual(ids(first), []string{"r0", "r1", "r2", "r3"}) || next == "" {
		t.Fatalf("first page of 4: %v next %q", ids(first), next)
	}

	want := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, x := range idx {
			out[i] = all[x].ID
		}
		return out
	}
	filters := []struct {
		name string
		f    persistence.ReservationFilter
		want []string
	}{
		{"status", persistence.ReservationFilter{Status: booking.StatusCancelled, Limit: 1}, want(2, 5, 8)},
		{"arrival from", persistence.ReservationFilter{ArrivalFrom: d + 6, Limit: 2}, want(6, 7, 8)},
		{"arrival to is exclusive", persistence.ReservationFilter{ArrivalTo: d + 2}, want(0, 1)},
		{"arrival range and status", persistence.ReservationFilter{ArrivalFrom: d + 1, ArrivalTo: d + 8, Status: booking.StatusConfirmed, Limit: 2}, want(1, 3, 4, 6, 7)},
		{"external ref", persistence.ReservationFilter{ExternalRef: "BDC-r4"}, want(4)},
		{"no match", persistence.ReservationFilter{ExternalRef: "nope"}, []string{}},
	}
	for _, tc := range filters {
		if got := ids(pages(tc.f)); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("filter %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	_, _, err = s.ListReservations(c, "acme", "p1", persistence.ReservationFilter{Cursor: "not a cursor"})
	if booking.ErrorCode(err) != booking.CodeInvalid {
		t.Fatalf("bad cursor: %v, want an invalid_request error", err)
	}
	rs, _, err := s.ListReservations(c, "acme", "p9", persistence.ReservationFilter{})
	mustNoErr(t, err, "list empty property")
	if len(rs) != 0 {
		t.Fatalf("empty property lists %v", ids(rs))
	}
}

func testHolds(t *testing.T, s persistence.Store) {
	c := ctx(t)
	exp := base.Add(10 * time.Minute)
	h1dlx := persistence.HoldRow{Tenant: "acme", ID: "h1", Property: "p1", RoomType: "dlx", ExpiresAt: exp}
	h1std := persistence.HoldRow{Tenant: "acme", ID: "h1", Property: "p1", RoomType: "std", ExpiresAt: exp}
	h2 := persistence.HoldRow{Tenant: "acme", ID: "h2", Property: "p1", RoomType: "dlx", ExpiresAt: exp}
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p1/dlx", FirstSeq: 1, Events: events("acme/p1/dlx", 1, 2), At: base, PutHolds: []persistence.HoldRow{h2, h1dlx}})
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p1/std", FirstSeq: 1, Events: events("acme/p1/std", 1, 1), At: base, PutHolds: []persistence.HoldRow{h1std}})

	got, err := s.HoldRows(c, "acme", "h1")
	mustNoErr(t, err, "hold rows h1")
	if want := []persistence.HoldRow{h1dlx, h1std}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hold rows h1:\n got %+v\nwant %+v", got, want)
	}
	_, err = s.HoldRows(c, "globex", "h1")
	mustErrIs(t, err, persistence.ErrNotFound, "hold of another tenant")

	// Release one part of h1; convert h2 (delete). A hold put and deleted in
	// one batch ends deleted.
	h3 := persistence.HoldRow{Tenant: "acme", ID: "h3", Property: "p1", RoomType: "dlx", ExpiresAt: exp}
	mustCommit(t, s, persistence.Batch{ActorID: "acme/p1/dlx", FirstSeq: 3, Events: events("acme/p1/dlx", 3, 2), At: base,
		PutHolds: []persistence.HoldRow{h3}, DeleteHolds: []persistence.HoldRow{h1dlx, h2, h3}})
	got, err = s.HoldRows(c, "acme", "h1")
	mustNoErr(t, err, "hold rows h1 after release of dlx")
	if want := []persistence.HoldRow{h1std}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hold rows h1 after release:\n got %+v\nwant %+v", got, want)
	}
	for _, id := range []string{"h2", "h3", "nope"} {
		_, err = s.HoldRows(c, "acme", id)
		mustErrIs(t, err, persistence.ErrNotFound, "hold "+id)
	}

	// LiveHolds lists every part of every tenant.
	g1 := persistence.HoldRow{Tenant: "globex", ID: "g1", Property: "p1", RoomType: "dlx", ExpiresAt: exp}
	mustCommit(t, s, persistence.Batch{ActorID: "globex/p1/dlx", FirstSeq: 1, Events: events("globex/p1/dlx", 1, 1), At: base, PutHolds: []persistence.HoldRow{g1}})
	live, err := s.LiveHolds(c)
	mustNoErr(t, err, "live holds")
	if want := []persistence.HoldRow{h1std, g1}; !reflect.DeepEqual(live, want) {
		t.Fatalf("live holds:\n got %+v\nwant %+v", live, want)
	}
}

func testIdempotency(t *testing.T, s persistence.Store) {
	c := ctx(t)
	exp := persistence.StoredTime(time.Now().Add(time.Hour))
	claim := persistence.IdempotencyRecord{Tenant: "acme", Key: "k1", RequestHash: "h1", CreatedAt: base, ExpiresAt: exp}
	claimed, err := s.ClaimIdempotency(c, claim)
	mustNoErr(t, err, "claim")
	if !claimed {
		t.Fatal("first claim: claimed = false")
	}
	claimed, err = s.ClaimIdempotency(c, claim)
	mustNoErr(t, err, "claim again")
	if claimed {
		t.Fatal("second claim of a live key: claimed = true")
	}
	// The same key in another tenant is another key.
	claimed, err = s.ClaimIdempotency(c, persistence.IdempotencyRecord{Tenant: "globex", Key: "k1", RequestHash: "x", ExpiresAt: exp})
	mustNoErr(t, err, "claim in another tenant")
	if !claimed {
		t.Fatal("claim of the same key in another tenant: claimed = false")
	}
	got, err := s.GetIdempotency(c, "acme", "k1")
	mustNoErr(t, err, "get in-flight")
	if got.Status != 0 || got.RequestHash != "h1" || len(got.Body) != 0 || !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("in-flight record: %+v", got)
	}

	done := persistence.IdempotencyRecord{Tenant: "acme", Key: "k1", RequestHash: "h2", Status: 201, Body: []byte("x"), CreatedAt: base, ExpiresAt: exp}
	mustErrIs(t, s.CompleteIdempotency(c, done), persistence.ErrIdempotencyTaken, "complete with another hash")
	done.RequestHash = "h1"
	mustNoErr(t, s.CompleteIdempotency(c, done), "complete")
	got, err = s.GetIdempotency(c, "acme", "k1")
	mustNoErr(t, err, "get completed")
	if !reflect.DeepEqual(got, done) {
		t.Fatalf("completed:\n got %+v\nwant %+v", got, done)
	}
	mustErrIs(t, s.CompleteIdempotency(c, done), persistence.ErrIdempotencyTaken, "complete twice")
	// Release only drops in-flight records.
	mustNoErr(t, s.ReleaseIdempotency(c, "acme", "k1"), "release completed")
	if _, err := s.GetIdempotency(c, "acme", "k1"); err != nil {
		t.Fatalf("release removed a completed record: %v", err)
	}

	claim2 := persistence.IdempotencyRecord{Tenant: "acme", Key: "k2", RequestHash: "h", CreatedAt: base, ExpiresAt: exp}
	if claimed, err := s.ClaimIdempotency(c, claim2); err != nil || !claimed {
		t.Fatalf("claim k2: %v %v", claimed, err)
	}
	mustNoErr(t, s.ReleaseIdempotency(c, "acme", "k2"), "release k2")
	_, err = s.GetIdempotency(c, "acme", "k2")
	mustErrIs(t, err, persistence.ErrNotFound, "released key")
	if claimed, err := s.ClaimIdempotency(c, claim2); err != nil || !claimed {
		t.Fatalf("claim k2 after release: %v %v", claimed, err)
	}
	mustNoErr(t, s.ReleaseIdempotency(c, "acme", "nope"), "release unknown key")

	// A completion nobody claimed is inserted.
	fresh := persistence.IdempotencyRecord{Tenant: "acme", Key: "k3", RequestHash: "h", Status: 422, Body: []byte("{}"), CreatedAt: base, ExpiresAt: exp}
	mustNoErr(t, s.CompleteIdempotency(c, fresh), "complete unclaimed")
	got, err = s.GetIdempotency(c, "acme", "k3")
	mustNoErr(t, err, "get k3")
	if !reflect.DeepEqual(got, fresh) {
		t.Fatalf("k3:\n got %+v\nwant %+v", got, fresh)
	}
}

func testIdempotencyExpiry(t *testing.T, s persistence.Store) {
	c := ctx(t)
	now := time.Now()
	past, future := persistence.StoredTime(now.Add(-time.Minute)), persistence.StoredTime(now.Add(time.Hour))
	rec := func(key string, status int, exp time.Time) persistence.IdempotencyRecord {
		return persistence.IdempotencyRecord{Tenant: "acme", Key: key, RequestHash: "h-" + key, Status: status, Body: []byte(key), CreatedAt: base, ExpiresAt: exp}
	}
	mustNoErr(t, s.CompleteIdempotency(c, rec("old-done", 201, past)), "complete old-done")
	mustNoErr(t, s.CompleteIdempotency(c, rec("old-done-2", 201, past)), "complete old-done-2")
	mustNoErr(t, s.CompleteIdempotency(c, rec("live", 201, future)), "complete live")
	if claimed, err := s.ClaimIdempotency(c, rec("old-claim", 0, past)); err != nil || !claimed {
		t.Fatalf("claim old-claim: %v %v", claimed, err)
	}

	for _, k := range []string{"old-done", "old-claim"} {
		_, err := s.GetIdempotency(c, "acme", k)
		mustErrIs(t, err, persistence.ErrNotFound, "expired "+k)
	}
	// Claims and completions replace expired records.
	if claimed, err := s.ClaimIdempotency(c, rec("old-done", 0, future)); err != nil || !claimed {
		t.Fatalf("claim over an expired record: %v %v", claimed, err)
	}
	over := rec("old-claim", 200, future)
	over.RequestHash = "another"
	mustNoErr(t, s.CompleteIdempotency(c, over), "complete over an expired claim")
	got, err := s.GetIdempotency(c, "acme", "old-claim")
	mustNoErr(t, err, "get old-claim")
	if !reflect.DeepEqual(got, over) {
		t.Fatalf("replaced record:\n got %+v\nwant %+v", got, over)
	}

	n, err := s.PurgeIdempotency(c, now)
	mustNoErr(t, err, "purge")
	if n != 1 {
		t.Fatalf("purge removed %d records, want 1 (old-done-2)", n)
	}
	_, err = s.GetIdempotency(c, "acme", "live")
	mustNoErr(t, err, "live record after purge")
	n, err = s.PurgeIdempotency(c, now.Add(2*time.Hour))
	mustNoErr(t, err, "purge later")
	if n != 3 {
		t.Fatalf("later purge removed %d records, want 3", n)
	}
}

// testMaintenance: the maintenance state (a meta row) is off until set,
// reads back as set, is replaced by the next, and each change raises the
// key generation (nodes reload it at their next poll).
func testMaintenance(t *testing.T, s persistence.Store) {
	c := ctx(t)
	_, err := s.GetMeta(c, "maintenance")
	mustErrIs(t, err, persistence.ErrNotFound, "unset meta")
	m, err := persistence.GetMaintenance(c, s)
	mustNoErr(t, err, "get unset maintenance")
	if m.On {
		t.Fatalf("maintenance %+v before any was set, want off", m)
	}
	on := persistence.Maintenance{On: true, RetryAfter: 90, Message: "Upgrading", SecretHash: []byte{1, 2, 3},
		Since: persistence.StoredTime(time.Now())}
	gen1, err := s.SetMaintenance(c, on)
	mustNoErr(t, err, "set maintenance")
	m, err = persistence.GetMaintenance(c, s)
	mustNoErr(t, err, "get maintenance")
	if !m.On || m.RetryAfter != 90 || m.Message != "Upgrading" || string(m.SecretHash) != "\x01\x02\x03" || !m.Since.Equal(on.Since) {
		t.Fatalf("maintenance %+v, want %+v", m, on)
	}
	gen2, err := s.SetMaintenance(c, persistence.Maintenance{})
	mustNoErr(t, err, "end maintenance")
	if m, err = persistence.GetMaintenance(c, s); err != nil || m.On {
		t.Fatalf("maintenance after it ended: %+v, %v", m, err)
	}
	if gen, err := s.KeyGeneration(c); err != nil || gen1 < 1 || gen2 != gen1+1 || gen != gen2 {
		t.Fatalf("key generations %d then %d, now %d (%v): want each change to raise it by one", gen1, gen2, gen, err)
	}
}

// testJobs: a batch's jobs are written in its transaction: a job whose
// (kind, key) was written before is skipped, repeats inside one batch
// count once, and a fenced batch writes none.
func testJobs(t *testing.T, s persistence.Store) {
	c := ctx(t)
	actor := "acme/p1/jobs"
	job := func(key string) persistence.JobRow {
		return persistence.JobRow{Kind: "test_mail", Queue: "mail", Key: key, Args: []byte(`{"to":"ada@example.com"}`), MaxAttempts: 3}
	}
	count := func(want int, what string) {
		t.Helper()
		n, err := s.JobsWritten(c, "test_mail")
		mustNoErr(t, err, "count jobs")
		if n != want {
			t.Fatalf("%s: %d jobs, want %d", what, n, want)
		}
	}
	count(0, "before")
	mustNoErr(t, s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 1, At: base,
		Events: [][]byte{[]byte(`{}`)}, Jobs: []persistence.JobRow{job("r_1.confirmed.v1"), job("r_2.confirmed.v1"), job("r_1.confirmed.v1")}}), "batch 1")
	count(2, "after batch 1 (a repeat inside the batch counts once)")
	mustNoErr(t, s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 2, At: base,
		Events: [][]byte{[]byte(`{}`)}, Jobs: []persistence.JobRow{job("r_1.confirmed.v1"), job("r_1.modified.v2")}}), "batch 2")
	count(3, "after batch 2 (r_1.confirmed.v1 was written before)")
	mustNoErr(t, s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 3, At: base,
		Events: [][]byte{[]byte(`{}`)}, Jobs: []persistence.JobRow{job("r_10.confirmed.v1")}}), "batch 3")
	count(4, "after batch 3")
	jobs, err := s.ReservationJobs(c, "r_1")
	mustNoErr(t, err, "reservation jobs")
	if len(jobs) != 2 || jobs[0].Key != "r_1.confirmed.v1" || jobs[1].Key != "r_1.modified.v2" ||
		jobs[0].Kind != "test_mail" || jobs[0].State != "available" || jobs[0].CreatedAt.IsZero() {
		t.Fatalf("jobs of r_1 (not r_10): %+v", jobs)
	}
	err = s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 2, At: base,
		Events: [][]byte{[]byte(`{}`)}, Jobs: []persistence.JobRow{job("r_3.confirmed.v1")}})
	mustErrIs(t, err, persistence.ErrFenced, "fenced batch")
	count(4, "after a fenced batch")
	err = s.CommitBatch(c, persistence.Batch{ActorID: actor, FirstSeq: 4, At: base, Jobs: []persistence.JobRow{{Kind: "test_mail"}}})
	if err == nil {
		t.Fatal("a job without a key was accepted")
	}
	count(4, "after a refused batch")
}

// testWebhooks: endpoints are upserted per tenant (an update keeps the
// secret and created_at), listed by id, deleted once; deliveries are logged
// newest first per endpoint.
func testWebhooks(t *testing.T, s persistence.Store) {
	c := ctx(t)
	_, err := s.EnsureTenant(c, "acme")
	mustNoErr(t, err, "tenant")
	_, err = s.EnsureTenant(c, "other")
	mustNoErr(t, err, "tenant")
	e := persistence.WebhookEndpoint{Tenant: "acme", ID: "crm", URL: "https://crm.example.com/hook",
		Events: []string{"reservation.cancelled", "reservation.confirmed"}, Secret: "whsec_first"}
	got, created, err := s.PutWebhook(c, e)
	mustNoErr(t, err, "put")
	if !created || got.Secret != "whsec_first" || got.CreatedAt.IsZero() {
		t.Fatalf("put: %+v created=%v", got, created)
	}
	e.URL, e.Secret = "https://crm.example.com/v2", "whsec_ignored"
	got2, created, err := s.PutWebhook(c, e)
	mustNoErr(t, err, "update")
	if created || got2.Secret != "whsec_first" || !got2.CreatedAt.Equal(got.CreatedAt) || got2.URL != e.URL {
		t.Fatalf("update: %+v created=%v (first %+v)", got2, created, got)
	}
	_, _, err = s.PutWebhook(c, persistence.WebhookEndpoint{Tenant: "other", ID: "crm", URL: "https://x.example", Events: []string{"reservation.confirmed"}, Secret: "whsec_o"})
	mustNoErr(t, err, "other tenant")
	list, err := s.ListWebhooks(c, "acme")
	mustNoErr(t, err, "list")
	if len(list) != 1 || list[0].URL != e.URL || !list[0].Subscribes("reservation.confirmed") || list[0].Subscribes("availability.changed") {
		t.Fatalf("list: %+v", list)
	}
	for i := 1; i <= 3; i++ {
		_, err := s.RecordDelivery(c, persistence.WebhookDelivery{Tenant: "acme", Endpoint: "crm", MessageID: "msg_1",
			Event: "reservation.confirmed", Attempt: i, StatusCode: 500 + i, LatencyMS: 1.5, Payload: "{}", At: base.Add(time.Duration(i) * time.Second)})
		mustNoErr(t, err, "record")
	}
	ds, err := s.ListDeliveries(c, "acme", "crm", 2)
	mustNoErr(t, err, "deliveries")
	if len(ds) != 2 || ds[0].Attempt != 3 || ds[1].Attempt != 2 || ds[0].StatusCode != 503 || ds[0].LatencyMS != 1.5 || !ds[0].At.Equal(base.Add(3*time.Second)) {
		t.Fatalf("deliveries: %+v", ds)
	}
	if ds, _ := s.ListDeliveries(c, "other", "crm", 10); len(ds) != 0 {
		t.Fatalf("another tenant's deliveries: %+v", ds)
	}
	one, err := s.GetDelivery(c, "acme", "crm", ds[1].ID)
	mustNoErr(t, err, "get delivery")
	if one.ID != ds[1].ID || one.Attempt != 2 || one.MessageID != "msg_1" || one.Payload != "{}" {
		t.Fatalf("get delivery %d: %+v", ds[1].ID, one)
	}
	_, err = s.GetDelivery(c, "other", "crm", ds[1].ID)
	mustErrIs(t, err, persistence.ErrNotFound, "another tenant's delivery")
	_, err = s.GetDelivery(c, "acme", "crm", ds[0].ID+100)
	mustErrIs(t, err, persistence.ErrNotFound, "an unknown delivery")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	mustNoErr(t, s.RotateWebhookSecret(c, "acme", "crm", "whsec_second", until), "rotate")
	list, err = s.ListWebhooks(c, "acme")
	mustNoErr(t, err, "list after rotate")
	if r := list[0]; r.Secret != "whsec_second" || r.PreviousSecret != "whsec_first" || !r.PreviousUntil.Equal(until) ||
		len(r.SigningSecrets(time.Now())) != 2 || len(r.SigningSecrets(until.Add(time.Second))) != 1 || r.SigningSecrets(until)[0] != "whsec_second" {
		t.Fatalf("after rotation: %+v", r)
	}
	mustErrIs(t, s.RotateWebhookSecret(c, "acme", "nope", "whsec_x", until), persistence.ErrNotFound, "rotate unknown")
	mustNoErr(t, s.DeleteWebhook(c, "acme", "crm"), "delete")
	mustErrIs(t, s.DeleteWebhook(c, "acme", "crm"), persistence.ErrNotFound, "delete again")
}
