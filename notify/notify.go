// Package notify tells the world what committed: live availability deltas
// over a bus (in-process for one node, Redis pub/sub across nodes). Deltas
// are best effort: Publish never blocks the actor that calls it, a full
// queue or a Redis outage drops and counts, and receivers detect what they
// missed by the prev_seq/seq chain of each room type.
package notify

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/staylock/staylock/booking"
)

// Handler receives what a bus delivers, on the bus's own goroutine; neither
// function may block. Deltas of one room type arrive in the order one node
// published them; a receiver still checks the seq chain.
type Handler struct {
	// Deltas gets a batch; the slice is reused after the call returns (keep
	// the Delta values, not the slice).
	Deltas func(batch []booking.AvailabilityDelta)
	// Lost, when set, is called when deltas may have been missed (the bus
	// reconnected to Redis): receivers should re-read what they show.
	Lost func()
}

// Bus carries deltas from the actors that commit them to the stream hubs of
// every node.
type Bus interface {
	// Publish queues d for every subscriber. It never blocks: deltas of a
	// room type still queued are coalesced, and when the queue is full d is
	// dropped and counted.
	Publish(d booking.AvailabilityDelta)
	// Subscribe registers h until cancel is called.
	Subscribe(h Handler) (cancel func())
	// Check reports whether the bus works (for /readyz and /health).
	Check(ctx context.Context) error
	// Stats returns counters since the bus started.
	Stats() Stats
	// Close stops the bus's goroutines; Publish after Close drops.
	Close() error
}

// Stats are a bus's counters since it started.
type Stats struct {
	Published uint64 // deltas given to Publish
	Coalesced uint64 // deltas merged into one still queued for the same room type
	Dropped   uint64 // deltas lost: a full queue, a closed bus or a failed Redis publish
	Delivered uint64 // deltas handed to this node's subscribers
	Sent      uint64 // deltas published to Redis
	Received  uint64 // deltas received from other nodes through Redis
}

type counters struct {
	published, coalesced, dropped, delivered, sent, received atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{Published: c.published.Load(), Coalesced: c.coalesced.Load(), Dropped: c.dropped.Load(),
		Delivered: c.delivered.Load(), Sent: c.sent.Load(), Received: c.received.Load()}
}

// DefaultQueueLimit bounds the distinct pending deltas of a queue.
const DefaultQueueLimit = 65536

// queue is a bounded, coalescing FIFO of deltas. A delta that continues the
// chain of one still queued for its room type merges into it (latest
// counts win, PrevSeq stays); anything else is appended, so a gap is never
// hidden.
type queue struct {
	mu    sync.Mutex
	items []booking.AvailabilityDelta
	index map[string]int // room type key → index of its last item
	limit int
	lost  bool
	wake  chan struct{}
}

func newQueue(limit int) *queue {
	if limit <= 0 {
		limit = DefaultQueueLimit
	}
	return &queue{index: map[string]int{}, limit: limit, wake: make(chan struct{}, 1)}
}

// push adds d; it reports whether d was kept and whether it was merged.
func (q *queue) push(d booking.AvailabilityDelta) (kept, merged bool) {
	key := d.Key()
	q.mu.Lock()
	if i, ok := q.index[key]; ok && q.items[i].Seq == d.PrevSeq {
		p := &q.items[i]
		p.Seq = d.Seq
		p.Nights = MergeNights(p.Nights, d.Nights)
		p.AllNights = p.AllNights || d.AllNights
		q.mu.Unlock()
		return true, true
	}
	if len(q.items) >= q.limit {
		q.mu.Unlock()
		return false, false
	}
	q.items = append(q.items, d)
	q.index[key] = len(q.items) - 1
	q.mu.Unlock()
	q.signal()
	return true, false
}

// markLost records that deltas may have been missed; the next take says so.
func (q *queue) markLost() {
	q.mu.Lock()
	q.lost = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take moves everything queued into buf (reset) and returns it, with the
// lost flag, which it clears.
func (q *queue) take(buf []booking.AvailabilityDelta) ([]booking.AvailabilityDelta, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf = append(buf[:0], q.items...)
	clear(q.items) // drop references to nights
	q.items = q.items[:0]
	clear(q.index)
	lost := q.lost
	q.lost = false
	return buf, lost
}

// MergeNights returns the union of two date-sorted night lists, b's view
// winning on a date both have. Neither input is modified.
func MergeNights(a, b []booking.NightView) []booking.NightView {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]booking.NightView, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Date < b[j].Date:
			out = append(out, a[i])
			i++
		case a[i].Date > b[j].Date:
			out = append(out, b[j])
			j++
		default:
			out = append(out, b[j])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
