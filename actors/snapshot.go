package actors

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/staylock/staylock/booking"
)

// load reads the snapshot and the journal after it.
func (a *inventoryActor) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
	defer cancel()
	inv, since, err := loadInventory(ctx, a.store, a.id)
	if err != nil {
		return err
	}
	a.committed, a.tentative, a.sinceSnapshot = inv, inv.Clone(), since
	return nil
}

// loadInventory rebuilds an actor's state from its snapshot and journal,
// and tells how many events follow the snapshot.
func loadInventory(ctx context.Context, store Store, actorID string) (*booking.Inventory, int64, error) {
	st, err := store.LoadActor(ctx, actorID)
	if err != nil {
		return nil, 0, fmt.Errorf("load actor %s: %w", actorID, err)
	}
	inv := booking.NewInventory()
	if st.Snapshot != nil {
		if err := json.Unmarshal(st.Snapshot, inv); err != nil {
			return nil, 0, fmt.Errorf("decode snapshot of %s: %w", actorID, err)
		}
		if inv.Seq != st.SnapshotSeq {
			return nil, 0, fmt.Errorf("snapshot of %s says seq %d, stored as %d", actorID, inv.Seq, st.SnapshotSeq)
		}
	}
	for _, je := range st.Events {
		var e booking.Event
		if err := json.Unmarshal(je.Data, &e); err != nil {
			return nil, 0, fmt.Errorf("decode event %d of %s: %w", je.Seq, actorID, err)
		}
		if je.Seq != inv.Seq+1 {
			return nil, 0, fmt.Errorf("journal of %s jumps from %d to %d", actorID, inv.Seq, je.Seq)
		}
		inv.Apply(e)
	}
	return inv, int64(len(st.Events)), nil
}

// snapshotDue tells whether a batch of events new events must write a
// snapshot: when it prunes history (compact), or when the events since the
// last snapshot reach the threshold, which grows with the state so that a
// snapshot costs O(1) per event.
func (a *inventoryActor) snapshotDue(events int, compact bool) bool {
	threshold := max(a.opts.SnapshotEvery, int64(len(a.tentative.Allocations)+len(a.tentative.Holds)))
	return compact || a.sinceSnapshot+int64(events) >= threshold
}
