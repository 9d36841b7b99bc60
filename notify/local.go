package notify

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/staylock/staylock/booking"
)

// LocalOptions tune an in-process bus.
type LocalOptions struct {
	// QueueLimit bounds the distinct deltas waiting for delivery
	// (default DefaultQueueLimit).
	QueueLimit int
}

// Local is the in-process bus of a single node: one goroutine delivers
// queued deltas, in batches, to every subscriber.
type Local struct {
	q     *queue
	count *counters
	subs  atomic.Pointer[[]*subscriber]

	mu     sync.Mutex // serialises Subscribe and cancel
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
}

type subscriber struct{ h Handler }

// NewLocal starts an in-process bus; Close stops it.
func NewLocal(opts LocalOptions) *Local {
	l := newLocal(opts, &counters{})
	go l.run()
	return l
}

func newLocal(opts LocalOptions, c *counters) *Local {
	l := &Local{q: newQueue(opts.QueueLimit), count: c, stop: make(chan struct{}), done: make(chan struct{})}
	l.subs.Store(&[]*subscriber{})
	return l
}

// Publish queues d for delivery; it never blocks.
func (l *Local) Publish(d booking.AvailabilityDelta) {
	l.count.published.Add(1)
	l.deliver(d)
}

// deliver queues d for this node's subscribers.
func (l *Local) deliver(d booking.AvailabilityDelta) {
	if l.closed.Load() {
		l.count.dropped.Add(1)
		return
	}
	kept, merged := l.q.push(d)
	switch {
	case !kept:
		l.count.dropped.Add(1)
	case merged:
		l.count.coalesced.Add(1)
	}
}

// lost tells the subscribers, in order with the deltas, that some may
// have been missed.
func (l *Local) lost() { l.q.markLost() }

// Subscribe registers h; cancel unregisters it (a batch already being
// delivered may still reach h once).
func (l *Local) Subscribe(h Handler) (cancel func()) {
	s := &subscriber{h: h}
	l.mu.Lock()
	subs := append(append([]*subscriber(nil), *l.subs.Load()...), s)
	l.subs.Store(&subs)
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			old := *l.subs.Load()
			subs := make([]*subscriber, 0, len(old))
			for _, o := range old {
				if o != s {
					subs = append(subs, o)
				}
			}
			l.subs.Store(&subs)
		})
	}
}

// Check reports whether the delivery goroutine runs.
func (l *Local) Check(context.Context) error {
	if l.closed.Load() {
		return errors.New("bus closed")
	}
	return nil
}

// Stats returns the bus's counters.
func (l *Local) Stats() Stats { return l.count.stats() }

// Close stops delivery; what is still queued is dropped.
func (l *Local) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.stop)
	<-l.done
	return nil
}

func (l *Local) run() {
	defer close(l.done)
	var batch []booking.AvailabilityDelta
	for {
		select {
		case <-l.stop:
			return
		case <-l.q.wake:
		}
		var lost bool
		batch, lost = l.q.take(batch)
		subs := *l.subs.Load()
		for _, s := range subs {
			if lost && s.h.Lost != nil {
				s.h.Lost()
			}
			if len(batch) > 0 && s.h.Deltas != nil {
				s.h.Deltas(batch)
			}
		}
		l.count.delivered.Add(uint64(len(batch)))
		clear(batch)
	}
}
