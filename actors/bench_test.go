package actors_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/staylock/staylock/persistence/pgtest"
)

// BenchmarkInventoryBook measures durable one-night bookings per second on
// one hot room type, many callers at once, on each store, with group commit
// on and off. ns/op is per booking; "rooms/commit" is the mean batch size.
func BenchmarkInventoryBook(b *testing.B) {
	for _, backend := range []string{"postgres", "sqlite"} {
		for _, group := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/group=%v", backend, group), func(b *testing.B) {
				url := ""
				if backend == "postgres" {
					url = pgtest.NewDatabase(b)
				}
				store := MustOpen(b, url)
				fs := &failingStore{Store: store}
				o := opts()
				o.GroupCommit, o.SnapshotEvery = group, 1000
				a := MustSpawn(b, fs, o)
				if r, err := a.ask(b, putRoomType("Deluxe", 100000000, 100)); err != nil || r.Code != "" {
					b.Fatalf("room type: %v %v", r, err)
				}
				var n atomic.Int64
				b.SetParallelism(32) // 32 × GOMAXPROCS concurrent callers
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						r, err := a.ask(b, bookCmd(fmt.Sprintf("r_%d", i), "2026-12-01", 1))
						if err != nil || r.Code != "" {
							b.Errorf("book: %v %v", r, err)
							return
						}
					}
				})
				b.StopTimer()
				if c := fs.calls.Load(); c > 0 {
					b.ReportMetric(float64(n.Load())/float64(c), "rooms/commit")
				}
			})
		}
	}
}
