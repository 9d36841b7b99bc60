//go:build !race

package cluster_test

import (
	"context"
	"testing"
)

// TestCluster_PruneHistoryWalksEveryRoomType: the scheduler's compaction
// reaches every room type through the cluster, wherever it is activated,
// counts what each dropped, keeps what is after the cut, and a second
// walk drops nothing.
func TestCluster_PruneHistoryWalksEveryRoomType(t *testing.T) {
	tc := MustStartCluster(t, 2)
	n := tc.nodes[0]
	ctx := context.Background()
	for _, rt := range []string{"dlx", "std", "idle"} {
		MustPutRoomType(t, n, rt, 4)
	}
	for _, b := range []struct {
		rt, arrival string
		nights      int
	}{{"dlx", "2026-10-01", 2}, {"dlx", "2026-10-30", 3}, {"std", "2026-10-05", 1}, {"std", "2026-11-15", 1}} {
		if _, err := book(ctx, n, b.rt, b.arrival, b.nights, ""); err != nil {
			t.Fatalf("book %s %s: %v", b.rt, b.arrival, err)
		}
	}
	roomTypes, nights, allocations, err := tc.nodes[1].engine.PruneHistory(ctx, date("2026-11-01"))
	if err != nil {
		t.Fatal(err)
	}
	// dlx: 10-01, 10-02, 10-30, 10-31 and one ended allocation; std: 10-05
	// and one; idle has nothing.
	if roomTypes != 2 || nights != 5 || allocations != 2 {
		t.Errorf("pruned %d room types, %d nights, %d allocations; want 2, 5, 2", roomTypes, nights, allocations)
	}
	if got := bookedOn(t, n, "dlx", "2026-11-01"); got != 1 {
		t.Errorf("dlx 2026-11-01 (after the cut, straddling) booked %d, want 1", got)
	}
	if got := bookedOn(t, n, "std", "2026-11-15"); got != 1 {
		t.Errorf("std 2026-11-15 booked %d, want 1", got)
	}
	if rts, ns, as, err := n.engine.PruneHistory(ctx, date("2026-11-01")); err != nil || rts+ns+as != 0 {
		t.Errorf("second walk: %d room types, %d nights, %d allocations (%v); want nothing", rts, ns, as, err)
	}
}
