package booking_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
)

// base is the first night most tests book.
var base = mustDay("2026-12-01")

// t0 is a fixed instant for hold expiries.
var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func dlx(arrival, departure booking.Date, quantity int32) booking.Stay {
	return booking.Stay{RoomType: "dlx", Arrival: arrival, Departure: departure, Quantity: quantity}
}

func ptr[T any](v T) *T { return &v }

// mustInventory returns a configured "dlx" room type.
func mustInventory(t testing.TB, rooms int32, price int64) *booking.Inventory {
	t.Helper()
	inv := booking.NewInventory()
	e, err := inv.DecideRoomType("dlx", "Deluxe", rooms, price)
	mustApply(t, inv, e, err)
	return inv
}

// mustApply applies a decision that must have succeeded.
func mustApply(t testing.TB, inv *booking.Inventory, e booking.Event, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("decision failed: %v", err)
	}
	inv.Apply(e)
}

func mustBook(t testing.TB, inv *booking.Inventory, res string, stays ...booking.Stay) {
	t.Helper()
	e, err := inv.DecideBook("dlx", res, stays)
	mustApply(t, inv, e, err)
}

func mustHold(t testing.TB, inv *booking.Inventory, hold string, expires time.Time, stays ...booking.Stay) {
	t.Helper()
	e, err := inv.DecideHold("dlx", hold, stays, expires, "")
	mustApply(t, inv, e, err)
}

func mustSet(t testing.TB, inv *booking.Inventory, updates ...booking.InventoryUpdate) {
	t.Helper()
	e, _, err := inv.DecideInventory("dlx", updates)
	mustApply(t, inv, e, err)
}

// refused runs a decision that must fail with code and must not change the
// inventory; it returns the error for further checks.
func refused(t testing.TB, inv *booking.Inventory, code booking.Code, decide func() error) *booking.Error {
	t.Helper()
	before := inv.Clone()
	err := decide()
	if !reflect.DeepEqual(before, inv) {
		t.Fatal("a refused decision changed the inventory")
	}
	var e *booking.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *booking.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code %s (%v), want %s", e.Code, e, code)
	}
	return e
}

// wantCounts checks booked and held of consecutive nights from `from`.
func wantCounts(t testing.TB, inv *booking.Inventory, from booking.Date, booked, held []int32) {
	t.Helper()
	for i := range booked {
		v := inv.View(from + booking.Date(i))
		if v.Booked != booked[i] || v.Held != held[i] {
			t.Fatalf("night %s: booked %d held %d, want booked %d held %d", v.Date, v.Booked, v.Held, booked[i], held[i])
		}
	}
}

func wantNightsDetail(t testing.TB, e *booking.Error, nights ...string) {
	t.Helper()
	got, ok := e.Details["nights"].([]string)
	if !ok {
		t.Fatalf("details %v: no nights list", e.Details)
	}
	if !slices.Equal(got, nights) {
		t.Fatalf("details nights %v, want %v", got, nights)
	}
	if e.Details["room_type"] != "dlx" {
		t.Fatalf("details room_type %v, want dlx", e.Details["room_type"])
	}
}

func TestAvailable(t *testing.T) {
	tests := []struct {
		name                string
		total, booked, held int32
		stopSell            bool
		want                int32
	}{
		{"free rooms", 10, 3, 1, false, 6},
		{"nothing taken", 10, 0, 0, false, 10},
		{"exactly full", 10, 7, 3, false, 0},
		{"over-taken is zero, never negative", 5, 4, 3, false, 0},
		{"zero total", 0, 0, 0, false, 0},
		{"stop-sell is zero", 10, 0, 0, true, 0},
		{"stop-sell over-taken is zero", 1, 3, 0, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := booking.Available(tc.total, tc.booked, tc.held, tc.stopSell); got != tc.want {
				t.Fatalf("Available(%d, %d, %d, %v) = %d, want %d", tc.total, tc.booked, tc.held, tc.stopSell, got, tc.want)
			}
		})
	}
}

func TestViewAndAvailability(t *testing.T) {
	inv := mustInventory(t, 10, 12900)
	mustSet(t, inv,
		booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, Total: ptr[int32](12)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 1, To: base + 2, Price: ptr[int64](13900)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 2, To: base + 3, StopSell: ptr(true)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 3, To: base + 4, MinStay: ptr[int32](3)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 4, To: base + 5, Total: ptr[int32](0)},
	)
	mustBook(t, inv, "r1", dlx(base, base+2, 2))
	mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))

	want := []booking.NightView{
		{Date: base, Total: 12, Booked: 2, Held: 1, Available: 9, Price: 12900, MinStay: 1},
		{Date: base + 1, Total: 10, Booked: 2, Held: 0, Available: 8, Price: 13900, MinStay: 1},
		{Date: base + 2, Total: 10, Available: 0, Price: 12900, StopSell: true, MinStay: 1},
		{Date: base + 3, Total: 10, Available: 10, Price: 12900, MinStay: 3},
		{Date: base + 4, Total: 0, Available: 0, Price: 12900, MinStay: 1},
		{Date: base + 5, Total: 10, Available: 10, Price: 12900, MinStay: 1}, // never touched
	}
	for _, w := range want {
		if got := inv.View(w.Date); got != w {
			t.Errorf("View(%s) = %+v, want %+v", w.Date, got, w)
		}
	}
	if got := inv.Availability(base, base+6); !slices.Equal(got, want) {
		t.Errorf("Availability = %+v, want %+v", got, want)
	}

	t.Run("31 nights come in order", func(t *testing.T) {
		got := inv.Availability(base, base+31)
		if len(got) != 31 {
			t.Fatalf("%d nights", len(got))
		}
		for i, v := range got {
			if v.Date != base+booking.Date(i) {
				t.Fatalf("night %d is %s", i, v.Date)
			}
		}
	})
	t.Run("an empty range is an empty list, not null", func(t *testing.T) {
		for _, to := range []booking.Date{base, base - 5} {
			got := inv.Availability(base, to)
			if got == nil || len(got) != 0 {
				t.Fatalf("Availability(%s, %s) = %#v", base, to, got)
			}
			if b, _ := json.Marshal(got); string(b) != "[]" {
				t.Fatalf("JSON %s", b)
			}
		}
	})
	t.Run("the room type's default follows changes of rooms and price", func(t *testing.T) {
		e, err := inv.DecideRoomType("dlx", "Deluxe", 20, 15000)
		mustApply(t, inv, e, err)
		if v := inv.View(base + 1); v.Total != 20 || v.Price != 13900 || v.Available != 18 {
			t.Fatalf("View = %+v: default total must follow, price override must stay", v)
		}
		if v := inv.View(base); v.Total != 12 || v.Price != 15000 {
			t.Fatalf("View = %+v: total override must stay, default price must follow", v)
		}
	})
	t.Run("a night over its total shows zero available, never negative", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		inv.Nights[base] = &booking.Night{Total: 1, HasTotal: true, Booked: 3, Held: 1}
		if v := inv.View(base); v.Available != 0 {
			t.Fatalf("Available = %d", v.Available)
		}
	})
	t.Run("NightView JSON has the API's fields", func(t *testing.T) {
		b, _ := json.Marshal(inv.View(base + 3))
		const want = `{"date":"2026-12-04","total":20,"booked":0,"held":0,"available":20,"price":15000,"stop_sell":false,"min_stay":3}`
		if string(b) != want {
			t.Fatalf("JSON %s\nwant %s", b, want)
		}
	})
}

func TestDecideBook(t *testing.T) {
	t.Run("unknown room type is not found", func(t *testing.T) {
		inv := booking.NewInventory()
		refused(t, inv, booking.CodeNotFound, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+1, 1)})
			return err
		})
	})
	t.Run("booked rooms take the nights arrival to departure-1", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		seq := inv.Seq
		e, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base+1, base+3, 2)})
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != booking.EventBooked || e.Reservation != "r1" {
			t.Fatalf("event %+v", e)
		}
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{0, 2, 2, 0}, []int32{0, 0, 0, 0})
		if inv.Seq != seq+1 {
			t.Fatalf("seq %d, want %d", inv.Seq, seq+1)
		}
		if got := inv.Allocations["r1"]; !slices.Equal(got, []booking.Stay{dlx(base+1, base+3, 2)}) {
			t.Fatalf("allocation %v", got)
		}
	})
	t.Run("the last room can be booked", func(t *testing.T) {
		inv := mustInventory(t, 3, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 1))
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		mustBook(t, inv, "r2", dlx(base, base+1, 1))
		if v := inv.View(base); v.Available != 0 {
			t.Fatalf("available %d", v.Available)
		}
	})
	t.Run("the same reservation twice is a conflict", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 1))
		refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base+5, base+6, 1)})
			return err
		})
	})
	t.Run("sold out lists exactly the short nights", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustBook(t, inv, "r1", dlx(base+1, base+2, 2))     // night 1 full
		mustBook(t, inv, "r2", dlx(base+3, base+4, 1))     // night 3 has one left
		mustHold(t, inv, "h1", t0, dlx(base+4, base+5, 2)) // night 4 full by a hold
		e := refused(t, inv, booking.CodeSoldOut, func() error {
			_, err := inv.DecideBook("dlx", "r3", []booking.Stay{dlx(base, base+6, 1)})
			return err
		})
		wantNightsDetail(t, e, "2026-12-02", "2026-12-05")
		e = refused(t, inv, booking.CodeSoldOut, func() error {
			_, err := inv.DecideBook("dlx", "r3", []booking.Stay{dlx(base, base+6, 2)})
			return err
		})
		wantNightsDetail(t, e, "2026-12-02", "2026-12-04", "2026-12-05")
	})
	t.Run("stays of one request add up", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		e := refused(t, inv, booking.CodeSoldOut, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+3, 1), dlx(base+2, base+4, 2)})
			return err
		})
		wantNightsDetail(t, e, "2026-12-03")
	})
	t.Run("zero rooms is sold out", func(t *testing.T) {
		inv := mustInventory(t, 0, 100)
		refused(t, inv, booking.CodeSoldOut, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+1, 1)})
			return err
		})
	})
	t.Run("min stay counts on the arrival night only", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, MinStay: ptr[int32](3)})
		e := refused(t, inv, booking.CodeRestricted, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+2, 1)})
			return err
		})
		if e.Details["reason"] != "min_stay" || e.Details["min_stay"] != int32(3) {
			t.Fatalf("details %v", e.Details)
		}
		wantNightsDetail(t, e, "2026-12-01")
		// Three nights from the arrival pass; so does a short stay that only
		// passes through the min-stay night.
		mustBook(t, inv, "r1", dlx(base, base+3, 1))
		mustBook(t, inv, "r2", dlx(base-1, base+1, 1))
	})
	t.Run("stop-sell on any occupied night restricts", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base + 1, To: base + 3, StopSell: ptr(true)})
		e := refused(t, inv, booking.CodeRestricted, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+4, 1)})
			return err
		})
		if e.Details["reason"] != "stop_sell" {
			t.Fatalf("details %v", e.Details)
		}
		wantNightsDetail(t, e, "2026-12-02", "2026-12-03")
		// Departing on a stop-sell night is fine: that night is not occupied.
		mustBook(t, inv, "r2", dlx(base, base+1, 1))
		// Lifting the stop-sell opens the nights again.
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base + 1, To: base + 2, StopSell: ptr(false)})
		mustBook(t, inv, "r3", dlx(base+1, base+2, 1))
	})
	t.Run("restrictions come before sold out", func(t *testing.T) {
		inv := mustInventory(t, 0, 100)
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, StopSell: ptr(true)})
		refused(t, inv, booking.CodeRestricted, func() error {
			_, err := inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base, base+1, 1)})
			return err
		})
	})
}

func TestDecideModify(t *testing.T) {
	modify := func(inv *booking.Inventory, res string, stays ...booking.Stay) (booking.Event, error) {
		return inv.DecideModify("dlx", res, stays)
	}
	t.Run("unknown room type is not found", func(t *testing.T) {
		inv := booking.NewInventory()
		refused(t, inv, booking.CodeNotFound, func() error { _, err := modify(inv, "r1", dlx(base, base+1, 1)); return err })
	})
	t.Run("moving onto its own full nights swaps atomically", func(t *testing.T) {
		inv := mustInventory(t, 1, 100)
		mustBook(t, inv, "r1", dlx(base, base+2, 1))
		e, err := modify(inv, "r1", dlx(base+1, base+3, 1))
		if e.Kind != booking.EventModified {
			t.Fatalf("event %+v", e)
		}
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{0, 1, 1, 0}, []int32{0, 0, 0, 0})
		if got := inv.Allocations["r1"]; !slices.Equal(got, []booking.Stay{dlx(base+1, base+3, 1)}) {
			t.Fatalf("allocation %v", got)
		}
	})
	t.Run("growing an overlapping stay over a night another booking filled", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustBook(t, inv, "r1", dlx(base, base+2, 1))
		mustBook(t, inv, "r2", dlx(base+1, base+2, 1)) // night 1 is full now
		// Longer: night 1 is already r1's, night 2 is free.
		e, err := modify(inv, "r1", dlx(base, base+3, 1))
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{1, 2, 1, 0}, []int32{0, 0, 0, 0})
		// More rooms: night 1 has none left, the others do.
		before := inv.Clone()
		serr := refused(t, inv, booking.CodeSoldOut, func() error { _, err := modify(inv, "r1", dlx(base, base+3, 2)); return err })
		wantNightsDetail(t, serr, "2026-12-02")
		if !reflect.DeepEqual(before, inv) {
			t.Fatal("a refused modification changed the reservation")
		}
	})
	t.Run("shrinking always fits, even on an over-full calendar", func(t *testing.T) {
		inv := mustInventory(t, 3, 100)
		mustBook(t, inv, "r1", dlx(base, base+3, 3))
		e, err := modify(inv, "r1", dlx(base, base+1, 1))
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{1, 0, 0}, []int32{0, 0, 0})
	})
	t.Run("into a stop-sell night is restricted", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustBook(t, inv, "r1", dlx(base, base+2, 1))
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base + 1, To: base + 4, StopSell: ptr(true)})
		e := refused(t, inv, booking.CodeRestricted, func() error {
			_, err := modify(inv, "r1", dlx(base, base+2, 1), dlx(base+3, base+4, 1))
			return err
		})
		wantNightsDetail(t, e, "2026-12-04")
		// A stay it already has is not checked again: adding an open night
		// next to a kept stay that crosses stop-sell works.
		e2, err := modify(inv, "r1", dlx(base, base+2, 1), dlx(base+5, base+6, 1))
		mustApply(t, inv, e2, err)
	})
	t.Run("a changed stay must respect min stay", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 1))
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 10, MinStay: ptr[int32](2)})
		refused(t, inv, booking.CodeRestricted, func() error { _, err := modify(inv, "r1", dlx(base+1, base+2, 1)); return err })
		e, err := modify(inv, "r1", dlx(base+1, base+3, 1))
		mustApply(t, inv, e, err)
	})
	t.Run("empty stays give the rooms back", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustBook(t, inv, "r1", dlx(base, base+2, 2))
		e, err := modify(inv, "r1")
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{0, 0}, []int32{0, 0})
		if _, ok := inv.Allocations["r1"]; ok {
			t.Fatal("empty allocation kept")
		}
		if _, ok := inv.DecideCancel("r1"); ok {
			t.Fatal("cancel after giving everything back would release twice")
		}
	})
	t.Run("a reservation new to this room type takes rooms like a booking", func(t *testing.T) {
		inv := mustInventory(t, 1, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 1))
		refused(t, inv, booking.CodeSoldOut, func() error { _, err := modify(inv, "r2", dlx(base, base+1, 1)); return err })
		e, err := modify(inv, "r2", dlx(base+1, base+2, 1))
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{1, 1}, []int32{0, 0})
	})
}

func TestDecideCancel(t *testing.T) {
	inv := mustInventory(t, 5, 100)
	mustBook(t, inv, "r1", dlx(base, base+2, 2))
	mustBook(t, inv, "r2", dlx(base, base+1, 1))
	e, ok := inv.DecideCancel("r1")
	if !ok || e.Kind != booking.EventCancelled || e.Reservation != "r1" {
		t.Fatalf("DecideCancel = %+v, %v", e, ok)
	}
	inv.Apply(e)
	wantCounts(t, inv, base, []int32{1, 0}, []int32{0, 0})

	t.Run("cancelling again releases nothing", func(t *testing.T) {
		if e, ok := inv.DecideCancel("r1"); ok {
			t.Fatalf("second DecideCancel = %+v, true", e)
		}
		// Even a replayed cancel event gives nothing back twice.
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{1, 0}, []int32{0, 0})
	})
	t.Run("an unknown reservation has nothing to cancel", func(t *testing.T) {
		if _, ok := inv.DecideCancel("nope"); ok {
			t.Fatal("DecideCancel(unknown) = true")
		}
	})
	t.Run("the freed rooms can be booked again", func(t *testing.T) {
		mustBook(t, inv, "r3", dlx(base, base+2, 4))
		wantCounts(t, inv, base, []int32{5, 4}, []int32{0, 0})
	})
}

func TestHolds(t *testing.T) {
	t.Run("a hold counts in held and is kept with its expiry", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		e, err := inv.DecideHold("dlx", "h1", []booking.Stay{dlx(base, base+2, 2)}, t0.Add(10*time.Minute), "r9")
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != booking.EventHeld || e.Hold != "h1" || e.Reservation != "r9" || !e.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("event %+v", e)
		}
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{0, 0, 0}, []int32{2, 2, 0})
		if v := inv.View(base); v.Available != 3 {
			t.Fatalf("available %d", v.Available)
		}
		h := inv.Holds["h1"]
		if h.Reservation != "r9" || !h.ExpiresAt.Equal(t0.Add(10*time.Minute)) || !slices.Equal(h.Stays, []booking.Stay{dlx(base, base+2, 2)}) {
			t.Fatalf("hold %+v", h)
		}
	})
	t.Run("unknown room type is not found", func(t *testing.T) {
		inv := booking.NewInventory()
		refused(t, inv, booking.CodeNotFound, func() error {
			_, err := inv.DecideHold("dlx", "h1", []booking.Stay{dlx(base, base+1, 1)}, t0, "")
			return err
		})
	})
	t.Run("the same hold id twice is a conflict", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideHold("dlx", "h1", []booking.Stay{dlx(base+3, base+4, 1)}, t0, "")
			return err
		})
	})
	t.Run("a hold needs free rooms", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustBook(t, inv, "r1", dlx(base+1, base+2, 1))
		mustHold(t, inv, "h1", t0, dlx(base+1, base+2, 1))
		e := refused(t, inv, booking.CodeSoldOut, func() error {
			_, err := inv.DecideHold("dlx", "h2", []booking.Stay{dlx(base, base+3, 1)}, t0, "")
			return err
		})
		wantNightsDetail(t, e, "2026-12-02")
	})
	t.Run("a hold respects restrictions", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, StopSell: ptr(true)})
		refused(t, inv, booking.CodeRestricted, func() error {
			_, err := inv.DecideHold("dlx", "h1", []booking.Stay{dlx(base, base+1, 1)}, t0, "")
			return err
		})
	})
	t.Run("release gives the rooms back once", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustHold(t, inv, "h1", t0, dlx(base, base+2, 2))
		mustHold(t, inv, "h2", t0, dlx(base, base+1, 1))
		e, ok := inv.DecideReleaseHold("h1", "expired")
		if !ok || e.Kind != booking.EventHoldReleased || e.Hold != "h1" || e.Reason != "expired" {
			t.Fatalf("DecideReleaseHold = %+v, %v", e, ok)
		}
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{0, 0}, []int32{1, 0})
		if _, ok := inv.DecideReleaseHold("h1", "again"); ok {
			t.Fatal("second release = true")
		}
		inv.Apply(e) // a replayed release changes nothing
		wantCounts(t, inv, base, []int32{0, 0}, []int32{1, 0})
		if _, ok := inv.Holds["h1"]; ok {
			t.Fatal("released hold kept")
		}
	})
	t.Run("convert turns held rooms into booked rooms, even when full", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustHold(t, inv, "h1", t0, dlx(base, base+3, 2)) // everything is held
		// The same rooms split differently are the same stays.
		e, err := inv.DecideConvertHold("dlx", "h1", "r1", []booking.Stay{dlx(base, base+1, 2), dlx(base+1, base+3, 1), dlx(base+1, base+3, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != booking.EventHoldConverted || e.Hold != "h1" || e.Reservation != "r1" {
			t.Fatalf("event %+v", e)
		}
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{2, 2, 2, 0}, []int32{0, 0, 0, 0})
		if got := inv.Allocations["r1"]; !slices.Equal(got, []booking.Stay{dlx(base, base+3, 2)}) {
			t.Fatalf("allocation %v: the hold's stays become the reservation's", got)
		}
		if _, ok := inv.Holds["h1"]; ok {
			t.Fatal("converted hold kept")
		}
		// Converted holds are gone: converting again is a conflict.
		refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideConvertHold("dlx", "h1", "r1", nil)
			return err
		})
		// And the reservation cancels like any other.
		e, ok := inv.DecideCancel("r1")
		if !ok {
			t.Fatal("converted reservation cannot be cancelled")
		}
		inv.Apply(e)
		wantCounts(t, inv, base, []int32{0, 0, 0}, []int32{0, 0, 0})
	})
	t.Run("convert without stays takes the hold as it is", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		e, err := inv.DecideConvertHold("dlx", "h1", "r1", nil)
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{1}, []int32{0})
	})
	t.Run("convert replaces what the reservation had here", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustBook(t, inv, "r1", dlx(base+5, base+6, 1))
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		e, err := inv.DecideConvertHold("dlx", "h1", "r1", nil)
		mustApply(t, inv, e, err)
		wantCounts(t, inv, base, []int32{1, 0, 0, 0, 0, 0}, []int32{0, 0, 0, 0, 0, 0})
		if got := inv.Allocations["r1"]; !slices.Equal(got, []booking.Stay{dlx(base, base+1, 1)}) {
			t.Fatalf("allocation %v", got)
		}
	})
	t.Run("convert with other stays is a conflict and changes nothing", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		mustHold(t, inv, "h1", t0, dlx(base, base+2, 1))
		for _, stays := range [][]booking.Stay{
			{dlx(base, base+3, 1)},
			{dlx(base, base+2, 2)},
			{dlx(base+1, base+3, 1)},
			{{RoomType: "std", Arrival: base, Departure: base + 2, Quantity: 1}},
			{},
		} {
			e := refused(t, inv, booking.CodeConflict, func() error {
				_, err := inv.DecideConvertHold("dlx", "h1", "r1", stays)
				return err
			})
			if e.Details["kind"] != "hold" || e.Details["id"] != "h1" || e.Details["room_type"] != "dlx" {
				t.Fatalf("details %v", e.Details)
			}
		}
		wantCounts(t, inv, base, []int32{0, 0}, []int32{1, 1})
	})
	t.Run("convert of an unknown or released hold is a conflict", func(t *testing.T) {
		inv := mustInventory(t, 2, 100)
		refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideConvertHold("dlx", "nope", "r1", nil)
			return err
		})
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		e, _ := inv.DecideReleaseHold("h1", "client")
		inv.Apply(e)
		refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideConvertHold("dlx", "h1", "r1", nil)
			return err
		})
	})
}

func TestExpiredHolds(t *testing.T) {
	inv := mustInventory(t, 10, 100)
	if got := inv.ExpiredHolds(t0); len(got) != 0 {
		t.Fatalf("ExpiredHolds of nothing = %v", got)
	}
	if got := inv.NextExpiry(); !got.IsZero() {
		t.Fatalf("NextExpiry of nothing = %v", got)
	}
	mustHold(t, inv, "d", t0.Add(10*time.Second), dlx(base, base+1, 1))
	mustHold(t, inv, "c", t0.Add(3*time.Second), dlx(base, base+1, 1))
	mustHold(t, inv, "b", t0.Add(1*time.Second), dlx(base, base+1, 1))
	mustHold(t, inv, "a", t0.Add(1*time.Second), dlx(base, base+1, 1))
	mustHold(t, inv, "e", t0.Add(-time.Hour), dlx(base, base+1, 1))
	tests := []struct {
		now  time.Time
		want []string
	}{
		{t0.Add(-2 * time.Hour), nil},
		{t0, []string{"e"}},
		{t0.Add(time.Second), []string{"e", "a", "b"}},                                       // equal expiry: by id; expiring now counts
		{t0.Add(3*time.Second - 1), []string{"e", "a", "b"}},                                 // not yet c
		{t0.Add(3 * time.Second), []string{"e", "a", "b", "c"}},                              // c expires exactly now
		{t0.Add(time.Hour), []string{"e", "a", "b", "c", "d"}},                               // all, oldest first
		{t0.Add(time.Hour).In(time.FixedZone("x", 3600)), []string{"e", "a", "b", "c", "d"}}, // zones do not matter
	}
	for _, tc := range tests {
		if got := inv.ExpiredHolds(tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("ExpiredHolds(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
	if got := inv.NextExpiry(); !got.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("NextExpiry = %v", got)
	}
}

func TestDecideRoomType(t *testing.T) {
	t.Run("creates the room type", func(t *testing.T) {
		inv := booking.NewInventory()
		e, err := inv.DecideRoomType("dlx", "Deluxe", 10, 12900)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != booking.EventRoomTypeSet || e.Name != "Deluxe" || e.Rooms != 10 || e.Price != 12900 {
			t.Fatalf("event %+v", e)
		}
		inv.Apply(e)
		if !inv.Exists || inv.Name != "Deluxe" || inv.Rooms != 10 || inv.Price != 12900 || inv.Seq != 1 {
			t.Fatalf("inventory %+v", inv)
		}
	})
	t.Run("rooms below booked+held on a default night is a conflict", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 2))
		mustHold(t, inv, "h1", t0, dlx(base, base+1, 1))
		mustBook(t, inv, "r2", dlx(base+3, base+5, 3))
		mustBook(t, inv, "r3", dlx(base+1, base+2, 1))
		e := refused(t, inv, booking.CodeConflict, func() error {
			_, err := inv.DecideRoomType("dlx", "Deluxe", 2, 100)
			return err
		})
		wantNightsDetail(t, e, "2026-12-01", "2026-12-04", "2026-12-05")
		// Down to exactly what is taken is fine.
		e2, err := inv.DecideRoomType("dlx", "Deluxe", 3, 200)
		mustApply(t, inv, e2, err)
		if v := inv.View(base); v.Total != 3 || v.Available != 0 || v.Price != 200 {
			t.Fatalf("view %+v", v)
		}
	})
	t.Run("nights with their own total do not follow the default", func(t *testing.T) {
		inv := mustInventory(t, 5, 100)
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, Total: ptr[int32](5)})
		mustBook(t, inv, "r1", dlx(base, base+1, 5))
		e, err := inv.DecideRoomType("dlx", "Deluxe", 0, 100)
		mustApply(t, inv, e, err)
		if v := inv.View(base); v.Total != 5 || v.Booked != 5 {
			t.Fatalf("view %+v", v)
		}
		if v := inv.View(base + 1); v.Total != 0 {
			t.Fatalf("view %+v", v)
		}
	})
}

func TestDecideInventory(t *testing.T) {
	t.Run("unknown room type is not found", func(t *testing.T) {
		inv := booking.NewInventory()
		refused(t, inv, booking.CodeNotFound, func() error {
			_, _, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{{RoomType: "dlx", From: base, To: base + 1, Total: ptr[int32](1)}})
			return err
		})
	})
	t.Run("counts the nights and sets only the given fields", func(t *testing.T) {
		inv := mustInventory(t, 10, 12900)
		e, n, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{
			{RoomType: "dlx", From: base, To: base + 30, Total: ptr[int32](12), Price: ptr[int64](13900), StopSell: ptr(false), MinStay: ptr[int32](2)},
			{RoomType: "dlx", From: base + 40, To: base + 42, StopSell: ptr(true)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 32 || e.Kind != booking.EventInventorySet || len(e.Updates) != 2 {
			t.Fatalf("nights %d, event %+v", n, e)
		}
		inv.Apply(e)
		want := booking.NightView{Date: base + 29, Total: 12, Available: 12, Price: 13900, MinStay: 2}
		if v := inv.View(base + 29); v != want {
			t.Fatalf("view %+v, want %+v", v, want)
		}
		if v := inv.View(base + 30); v.Total != 10 || v.Price != 12900 || v.MinStay != 1 {
			t.Fatalf("the night after the range changed: %+v", v)
		}
		// A later update of one field keeps the others.
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, StopSell: ptr(true)})
		want = booking.NightView{Date: base, Total: 12, Available: 0, Price: 13900, StopSell: true, MinStay: 2}
		if v := inv.View(base); v != want {
			t.Fatalf("view %+v, want %+v", v, want)
		}
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base + 40, To: base + 41, StopSell: ptr(false)})
		if v := inv.View(base + 40); v.StopSell || v.Available != 10 {
			t.Fatalf("stop-sell lifted: %+v", v)
		}
	})
	t.Run("total below booked+held is a conflict and nothing changes", func(t *testing.T) {
		inv := mustInventory(t, 10, 100)
		mustBook(t, inv, "r1", dlx(base+1, base+3, 3))
		mustHold(t, inv, "h1", t0, dlx(base+2, base+3, 2))
		e := refused(t, inv, booking.CodeConflict, func() error {
			_, _, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{
				{RoomType: "dlx", From: base + 10, To: base + 20, Total: ptr[int32](0), Price: ptr[int64](1)}, // fine alone
				{RoomType: "dlx", From: base, To: base + 5, Total: ptr[int32](3)},                             // night 2 has 5 taken
			})
			return err
		})
		wantNightsDetail(t, e, "2026-12-03")
		if v := inv.View(base + 10); v.Total != 10 || v.Price != 100 {
			t.Fatalf("all or nothing: %+v", v)
		}
		e = refused(t, inv, booking.CodeConflict, func() error {
			_, _, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{{RoomType: "dlx", From: base, To: base + 5, Total: ptr[int32](0)}})
			return err
		})
		wantNightsDetail(t, e, "2026-12-02", "2026-12-03")
		// Down to exactly what is taken is fine, and so are raises.
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 5, Total: ptr[int32](5)})
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, Total: ptr[int32](0)})
		if v := inv.View(base + 2); v.Total != 5 || v.Available != 0 {
			t.Fatalf("view %+v", v)
		}
	})
	t.Run("stop-sell and prices may change on full nights", func(t *testing.T) {
		inv := mustInventory(t, 1, 100)
		mustBook(t, inv, "r1", dlx(base, base+1, 1))
		mustSet(t, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 1, StopSell: ptr(true), Price: ptr[int64](5), MinStay: ptr[int32](4)})
		if v := inv.View(base); v.Booked != 1 || v.Available != 0 || v.Price != 5 {
			t.Fatalf("view %+v", v)
		}
	})
}

func TestPriceOf(t *testing.T) {
	inv := mustInventory(t, 10, 10000)
	mustSet(t, inv,
		booking.InventoryUpdate{RoomType: "dlx", From: base + 1, To: base + 3, Price: ptr[int64](15000)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 2, To: base + 3, Price: ptr[int64](0)}, // a free night
	)
	tests := []struct {
		name  string
		stays []booking.Stay
		want  int64
	}{
		{"nothing is free", nil, 0},
		{"one default night", []booking.Stay{dlx(base, base+1, 1)}, 10000},
		{"quantity multiplies", []booking.Stay{dlx(base, base+1, 3)}, 30000},
		{"overridden nights", []booking.Stay{dlx(base, base+4, 1)}, 10000 + 15000 + 0 + 10000},
		{"several stays add up", []booking.Stay{dlx(base, base+2, 2), dlx(base+3, base+4, 1)}, 2*(10000+15000) + 10000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := inv.PriceOf(tc.stays); got != tc.want {
				t.Fatalf("PriceOf = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("a new default price applies to nights not overridden", func(t *testing.T) {
		e, err := inv.DecideRoomType("dlx", "Deluxe", 10, 20000)
		mustApply(t, inv, e, err)
		if got := inv.PriceOf([]booking.Stay{dlx(base, base+4, 1)}); got != 20000+15000+0+20000 {
			t.Fatalf("PriceOf = %d", got)
		}
	})
}

// busyInventory builds a state that uses every kind of event.
func busyInventory(t testing.TB) (*booking.Inventory, []booking.Event) {
	t.Helper()
	inv := booking.NewInventory()
	var events []booking.Event
	do := func(e booking.Event, err error) {
		t.Helper()
		mustApply(t, inv, e, err)
		events = append(events, e)
	}
	do(inv.DecideRoomType("dlx", "Deluxe", 10, 12900))
	e, _, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{
		{RoomType: "dlx", From: base, To: base + 3, Total: ptr[int32](0)},
		{RoomType: "dlx", From: base + 3, To: base + 10, Total: ptr[int32](12), Price: ptr[int64](0), StopSell: ptr(false), MinStay: ptr[int32](1)},
		{RoomType: "dlx", From: base + 12, To: base + 13, StopSell: ptr(true), MinStay: ptr[int32](2)},
	})
	do(e, err)
	do(inv.DecideBook("dlx", "r1", []booking.Stay{dlx(base+3, base+6, 2), dlx(base+4, base+5, 1)}))
	do(inv.DecideBook("dlx", "r2", []booking.Stay{dlx(base+20, base+22, 1)}))
	do(inv.DecideModify("dlx", "r2", []booking.Stay{dlx(base+21, base+24, 3)}))
	do(inv.DecideBook("dlx", "r3", []booking.Stay{dlx(base+30, base+31, 1)}))
	c, _ := inv.DecideCancel("r3")
	do(c, nil)
	do(inv.DecideHold("dlx", "h1", []booking.Stay{dlx(base+5, base+7, 4)}, t0.Add(time.Minute), ""))
	do(inv.DecideHold("dlx", "h2", []booking.Stay{dlx(base+8, base+9, 1)}, t0.Add(2*time.Minute), "r9"))
	do(inv.DecideHold("dlx", "h3", []booking.Stay{dlx(base+40, base+41, 1)}, t0.Add(3*time.Minute), ""))
	do(inv.DecideConvertHold("dlx", "h2", "r4", nil))
	r, _ := inv.DecideReleaseHold("h3", "expired")
	do(r, nil)
	return inv, events
}

func TestApplyReplaysTheJournal(t *testing.T) {
	inv, events := busyInventory(t)
	// The actor reloads from the journal: JSON events applied in order to a
	// new inventory give the same state.
	replay := booking.NewInventory()
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back booking.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("event %s: %v", b, err)
		}
		replay.Apply(back)
	}
	if !reflect.DeepEqual(inv, replay) {
		t.Fatalf("replay differs:\n got %+v\nwant %+v", replay, inv)
	}
	if inv.Seq != int64(len(events)) {
		t.Fatalf("seq %d after %d events", inv.Seq, len(events))
	}
}

func TestInventoryJSONRoundTrip(t *testing.T) {
	inv, _ := busyInventory(t)
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	back := booking.NewInventory()
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatalf("snapshot %s: %v", b, err)
	}
	if !reflect.DeepEqual(inv, back) {
		t.Fatalf("snapshot round trip differs:\n got %+v\nwant %+v\njson %s", back, inv, b)
	}
	// Decoding into a zero value (no NewInventory) works as well.
	var zero booking.Inventory
	if err := json.Unmarshal(b, &zero); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inv, &zero) {
		t.Fatal("snapshot decoded into a zero Inventory differs")
	}
	// The restored state goes on deciding exactly like the original.
	for _, x := range []*booking.Inventory{inv, back} {
		mustBook(t, x, "r5", dlx(base+3, base+10, 1))
		e, _ := x.DecideReleaseHold("h1", "client")
		x.Apply(e)
	}
	if !reflect.DeepEqual(inv, back) {
		t.Fatal("the restored state diverged")
	}
	var again booking.Inventory
	b2, _ := json.Marshal(back)
	if err := json.Unmarshal(b2, &again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, &again) {
		t.Fatal("second round trip differs")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	inv, _ := busyInventory(t)
	snapshot := func(x *booking.Inventory) string {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	orig := snapshot(inv)
	c := inv.Clone()
	if !reflect.DeepEqual(inv, c) {
		t.Fatal("clone differs")
	}

	// Deep changes to the clone leave the original alone…
	c.Nights[base+3].Booked = 99
	c.Nights[base+50] = &booking.Night{Booked: 1}
	c.Allocations["r1"][0].Quantity = 99
	c.Allocations["r7"] = []booking.Stay{dlx(base, base+1, 1)}
	c.Holds["h1"].Stays[0].Quantity = 99
	c.Holds["h9"] = booking.HeldStays{}
	c.Seq, c.Rooms, c.Name = 1000, 1, "changed"
	mustBook(t, c, "r8", dlx(base+60, base+61, 1))
	if got := snapshot(inv); got != orig {
		t.Fatalf("changing the clone changed the original:\n got %s\nwant %s", got, orig)
	}

	// …and the other way round.
	c = inv.Clone()
	cs := snapshot(c)
	inv.Nights[base+3].Held = 77
	inv.Allocations["r1"][1].Quantity = 77
	inv.Holds["h1"].Stays[0].Arrival = base
	e, _ := inv.DecideCancel("r2")
	inv.Apply(e)
	if got := snapshot(c); got != cs {
		t.Fatal("changing the original changed the clone")
	}
}

// TestDecidePrune: pruning drops the nights before the cut and the
// allocations that ended by then, keeps a straddling one whose later
// cancellation gives back only the kept nights, reads the pruned nights as
// the defaults, does nothing twice, and replays to the same state.
func TestDecidePrune(t *testing.T) {
	inv := mustInventory(t, 5, 10000)
	var events []booking.Event
	record := func(e booking.Event, err error) {
		t.Helper()
		mustApply(t, inv, e, err)
		events = append(events, e)
	}
	const cut = booking.Date(20100)
	for i, s := range []booking.Stay{dlx(cut-10, cut-8, 1), dlx(cut-3, cut, 2), dlx(cut-1, cut+2, 1), dlx(cut+5, cut+6, 1)} {
		record(inv.DecideBook("dlx", fmt.Sprintf("r%d", i), []booking.Stay{s}))
	}
	e, _, err := inv.DecideInventory("dlx", []booking.InventoryUpdate{{RoomType: "dlx", From: cut - 20, To: cut + 1, Price: ptr[int64](9000)}})
	record(e, err)

	e, nights, allocs, ok := inv.DecidePrune(cut)
	if !ok || nights != 20 || allocs != 2 {
		t.Fatalf("prune: %d nights, %d allocations, ok %v; want 20 nights (the price override), 2 allocations", nights, allocs, ok)
	}
	record(e, nil)
	if len(inv.Nights) != 3 || len(inv.Allocations) != 2 || inv.PrunedBefore != cut {
		t.Errorf("after prune: %d nights, allocations %v, pruned before %s", len(inv.Nights), inv.Allocations, inv.PrunedBefore)
	}
	if v := inv.View(cut - 1); v.Booked != 0 || v.Price != 10000 {
		t.Errorf("a pruned night reads %+v, want the defaults", v)
	}
	if _, _, _, ok := inv.DecidePrune(cut); ok {
		t.Error("pruning twice at the same cut writes again")
	}
	// The straddling r2 (cut-1 .. cut+2) gives back its kept nights only.
	c, ok := inv.DecideCancel("r2")
	if !ok {
		t.Fatal("the straddling reservation was dropped")
	}
	record(c, nil)
	for d := cut - 1; d < cut+3; d++ {
		if v := inv.View(d); v.Booked != 0 || v.Available != 5 {
			t.Errorf("night %s after cancelling r2: %+v", d, v)
		}
	}
	if _, ok := inv.DecideCancel("r0"); ok {
		t.Error("a reservation that ended before the cut still has an allocation")
	}
	// Replaying the journal gives the same state.
	replay := booking.NewInventory()
	e0, err := replay.DecideRoomType("dlx", "Deluxe", 5, 10000)
	mustApply(t, replay, e0, err)
	for _, e := range events {
		replay.Apply(e)
	}
	if !reflect.DeepEqual(replay, inv) {
		t.Errorf("replay differs:\n%+v\n%+v", replay, inv)
	}
}
