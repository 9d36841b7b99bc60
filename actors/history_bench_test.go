package actors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/pgtest"
)

// What a room type costs as its history grows, and what pruning gives
// back (issue 9, item 6). `make bench-go` runs them; the figures are in
// docs/benchmarks.md.

// historyStart is the first night of the benchmarks' year of history; the
// cut after it (prune) is historyStart+365.
var historyStart = date("2025-01-01")

// history decides events bookings of one night each over the 365 nights
// from historyStart (rooms per night: enough for all), preceded by the
// room type: the journal of a room type that sold for a year.
func history(b *testing.B, events int) [][]byte {
	b.Helper()
	inv := booking.NewInventory()
	out := make([][]byte, 0, events+1)
	add := func(ev booking.Event) {
		inv.Apply(ev)
		data, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	ev, err := inv.DecideRoomType(roomType, "Deluxe", int32(events/365+1), 100)
	if err != nil {
		b.Fatal(err)
	}
	add(ev)
	for i := range events {
		night := historyStart + booking.Date(i%365)
		ev, err := inv.DecideBook(roomType, fmt.Sprintf("r_%d", i), []booking.Stay{{RoomType: roomType, Arrival: night, Departure: night + 1, Quantity: 1}})
		if err != nil {
			b.Fatal(err)
		}
		add(ev)
	}
	return out
}

// writeJournal stores events as the actor's journal, in batches of 1,000.
func writeJournal(b *testing.B, store persistence.Store, events [][]byte) {
	b.Helper()
	for first := 0; first < len(events); first += 1000 {
		chunk := events[first:min(first+1000, len(events))]
		if err := store.CommitBatch(context.Background(), persistence.Batch{ActorID: identity, FirstSeq: int64(first) + 1, Events: chunk, At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// reportActivations loads the actor's state b.N times and reports the
// p50 and p99 of one activation's load.
func reportActivations(b *testing.B, store persistence.Store) {
	b.Helper()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := actors.LoadInventory(context.Background(), store, identity); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkActivation is the load of a room type whose journal holds
// 100,000 bookings of a past year: replayed from the journal alone, from a
// snapshot of them all, and after the prune (the snapshot keeps none of
// the past and the journal is trimmed). ns/op is one activation.
func BenchmarkActivation(b *testing.B) {
	const events = 100_000
	journal := history(b, events)
	for _, backend := range []string{"postgres", "sqlite"} {
		url := ""
		if backend == "postgres" {
			url = pgtest.NewDatabase(b)
		}
		store := MustOpen(b, url)
		writeJournal(b, store, journal)
		b.Run(backend+"/journal=100000", func(b *testing.B) { reportActivations(b, store) })

		a := MustSpawn(b, store, actors.Options{GroupCommit: true, SnapshotEvery: events * 2})
		r := a.MustAsk(b, prune(historyStart+365)) // the scheduler's daily job, a year on
		if r.NightsChanged != 365 || r.Allocations != events {
			b.Fatalf("prune dropped %d nights and %d allocations, want 365 and %d", r.NightsChanged, r.Allocations, events)
		}
		b.Run(backend+"/pruned", func(b *testing.B) { reportActivations(b, store) })
	}
}

// BenchmarkMemoryPerRoomType is the heap one room type's state keeps when
// its 365 nights of 10 rooms are sold through twice (every room booked,
// cancelled and booked again), before and after the prune of that past
// year. bytes/roomtype is the figure; ns/op is the time to build one.
func BenchmarkMemoryPerRoomType(b *testing.B) {
	for _, pruned := range []bool{false, true} {
		b.Run(fmt.Sprintf("pruned=%v", pruned), func(b *testing.B) {
			const n = 200 // room types held at once, to measure their sum
			keep := make([]*booking.Inventory, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := range max(b.N, n) {
				keep[i%n] = soldThroughTwice(b, pruned)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/n, "bytes/roomtype")
			runtime.KeepAlive(keep)
		})
	}
}

func soldThroughTwice(b *testing.B, pruned bool) *booking.Inventory {
	inv := booking.NewInventory()
	apply := func(ev booking.Event, err error) {
		if err != nil {
			b.Fatal(err)
		}
		inv.Apply(ev)
	}
	apply(inv.DecideRoomType(roomType, "Deluxe", 10, 100))
	for pass := range 2 {
		for night := range 365 {
			for room := range 10 {
				id := "r_" + strconv.Itoa(pass) + "_" + strconv.Itoa(night) + "_" + strconv.Itoa(room)
				d := historyStart + booking.Date(night)
				apply(inv.DecideBook(roomType, id, []booking.Stay{{RoomType: roomType, Arrival: d, Departure: d + 1, Quantity: 1}}))
				if pass == 0 {
					ev, _ := inv.DecideCancel(id)
					inv.Apply(ev)
				}
			}
		}
	}
	if pruned {
		if ev, _, _, ok := inv.DecidePrune(historyStart + 365); ok {
			inv.Apply(ev)
		}
	}
	return inv
}

// BenchmarkResidentRoomTypes is the resident memory of one process that
// keeps 10,000 room types' actors active, each with a room type and ten
// bookings committed (on the in-memory store, so that the figure is the
// actors' and not a database driver's). The RSS and heap growth per room
// type are the figures; ns/op is the time to activate them all.
func BenchmarkResidentRoomTypes(b *testing.B) {
	const roomTypes = 10_000
	for range b.N {
		store := MustOpen(b, persistence.MemoryURL)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rss0 := residentBytes(b)
		sys := MustSpawn(b, store, opts()).sys // one actor system for all
		for i := range roomTypes {
			pid, err := sys.Root.SpawnNamed(actors.Props(store, opts()), actors.Identity(tenant, property, fmt.Sprintf("rt%05d", i)))
			if err != nil {
				b.Fatal(err)
			}
			one := activation{sys, pid}
			one.MustAsk(b, putRoomType("Deluxe", 10, 100))
			for k := range 10 {
				r := booking.Reservation{ID: fmt.Sprintf("r_%05d_%d", i, k), Status: booking.StatusConfirmed, Version: 1, Currency: "EUR",
					Stays: []booking.Stay{{RoomType: fmt.Sprintf("rt%05d", i), Arrival: date("2027-01-01") + booking.Date(k), Departure: date("2027-01-02") + booking.Date(k), Quantity: 1}},
					Guest: booking.Guest{Name: "Ada"}, Channel: "test"}
				one.MustAsk(b, book(r))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(residentBytes(b)-rss0)/roomTypes, "rss-bytes/roomtype")
		b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/roomTypes, "heap-bytes/roomtype")
		b.ReportMetric(float64(residentBytes(b))/(1<<20), "rss-MiB")
	}
}

// residentBytes reads this process's resident set from /proc (Linux).
func residentBytes(b *testing.B) uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatalf("resident memory: %v", err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}
