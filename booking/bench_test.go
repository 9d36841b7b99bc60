package booking_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
)

// BenchmarkDecideBook is the actor's hot path: decide and apply one
// one-night booking of one room. The total is large so it never sells out;
// bookings spread over a year, as on a busy room type.
func BenchmarkDecideBook(b *testing.B) {
	inv := mustInventory(b, 1<<30, 12900)
	mustSet(b, inv, booking.InventoryUpdate{RoomType: "dlx", From: base, To: base + 365, Price: ptr[int64](13900)})
	stays := make([][]booking.Stay, 365)
	for i := range stays {
		stays[i] = []booking.Stay{dlx(base+booking.Date(i), base+booking.Date(i)+1, 1)}
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "r" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e, err := inv.DecideBook("dlx", ids[i], stays[i%365])
		if err != nil {
			b.Fatal(err)
		}
		inv.Apply(e)
	}
}

// BenchmarkAvailability reads a month of nights, some overridden and taken.
func BenchmarkAvailability(b *testing.B) {
	inv := mustInventory(b, 50, 12900)
	mustHold(b, inv, "h1", time.Unix(0, 0), dlx(base, base+31, 1))
	mustSet(b, inv,
		booking.InventoryUpdate{RoomType: "dlx", From: base + 10, To: base + 20, Price: ptr[int64](15900), MinStay: ptr[int32](2)},
		booking.InventoryUpdate{RoomType: "dlx", From: base + 24, To: base + 26, StopSell: ptr(true)})
	for i := range 30 {
		d := base + booking.Date(i%20)
		mustBook(b, inv, "r"+strconv.Itoa(i), dlx(d, d+2, 1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if nights := inv.Availability(base, base+31); len(nights) != 31 {
			b.Fatal(len(nights))
		}
	}
}
