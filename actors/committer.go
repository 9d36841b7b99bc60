package actors

import (
	"context"
	"sync"
	"time"

	"github.com/staylock/staylock/persistence"
)

// committer is a node's: the inventory actors spawned from one Props hand
// it their ready batches, and it joins the batches waiting into one
// transaction (Store.CommitBatches). Group commit makes a hot room type's
// requests share a transaction; joining makes the room types of a node
// share one too, which is what spread load (about one request per actor
// batch) needs. A batch is sent at once when a transaction slot is free,
// and otherwise waits for the next one: joining adds no delay of its own.
// The store gives each batch its own outcome, so a fenced or refused actor
// fails alone, and each actor answers its callers only once the
// transaction that holds its batch has committed.
type committer struct {
	store   Store
	timeout time.Duration
	join    int // most batches in one transaction
	slots   int // most transactions in flight

	mu      sync.Mutex
	queue   []submission
	running int
}

type submission struct {
	batch persistence.Batch
	done  func(error) // called once, off the actor's goroutine
}

func newCommitter(store Store, opts Options) *committer {
	return &committer{store: store, timeout: opts.CommitTimeout, join: opts.JoinCommits, slots: opts.CommitSlots}
}

// submit queues b; done gets its outcome.
func (c *committer) submit(b persistence.Batch, done func(error)) {
	c.mu.Lock()
	c.queue = append(c.queue, submission{batch: b, done: done})
	start := c.running < c.slots
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go c.run()
	}
}

// run commits what waits, a transaction at a time, until nothing does.
func (c *committer) run() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), c.join)
		if n == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		taken := make([]submission, n)
		copy(taken, c.queue)
		c.queue = c.queue[n:]
		c.mu.Unlock()

		batches := make([]persistence.Batch, n)
		for i, s := range taken {
			batches[i] = s.batch
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		errs := c.store.CommitBatches(ctx, batches)
		cancel()
		for i, s := range taken {
			s.done(errs[i])
		}
	}
}
