package loadtest

import (
	"math/rand/v2"
	"sync"
)

// cancelState is what the load tester knows about cancelling an entry.
type cancelState int8

const (
	notCancelled   cancelState = iota
	maybeCancelled             // the cancel's outcome is unknown (timeout, 5xx)
	cancelled                  // the server acknowledged the cancel
)

// entry is one reservation the server acknowledged with a 201.
type entry struct {
	id, property, ref string
	// stays are the last acknowledged stays.
	stays []stay
	// uncertain: a modification's outcome is unknown, so stays may be
	// either the old or the new ones.
	uncertain bool
	cancel    cancelState
}

// ledger is what the load tester knows the server acknowledged. Workers
// take an entry to modify or cancel it, so no two work on one entry, and
// give it back.
type ledger struct {
	mu      sync.Mutex
	byID    map[string]*entry
	order   []*entry
	free    []*entry
	unknown int64 // creates whose outcome is unknown
}

func newLedger() *ledger { return &ledger{byID: map[string]*entry{}} }

// add records an acknowledged reservation; a known id (an idempotent
// replay) returns the existing entry.
func (l *ledger) add(property, ref string, r reservation) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if en, ok := l.byID[r.ID]; ok {
		return en
	}
	en := &entry{id: r.ID, property: property, ref: ref, stays: r.Stays}
	l.byID[r.ID] = en
	l.order = append(l.order, en)
	l.free = append(l.free, en)
	return en
}

func (l *ledger) unknownCreate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown++
}

// take removes a random confirmed entry from the free list; nil when none.
func (l *ledger) take(r *rand.Rand) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) == 0 {
		return nil
	}
	i := r.IntN(len(l.free))
	en := l.free[i]
	l.free[i] = l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return en
}

// give puts a taken entry back, unless it is (maybe) cancelled.
func (l *ledger) give(en *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if en.cancel == notCancelled {
		l.free = append(l.free, en)
	}
}

func (l *ledger) modified(en *entry, res result, r reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case res.ok():
		en.stays = r.Stays
	case res.ambiguous():
		en.uncertain = true
	}
}

func (l *ledger) cancelled(en *entry, res result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case res.ok():
		en.cancel = cancelled
	case res.ambiguous():
		en.cancel = maybeCancelled
	}
}

// entries returns every entry in the order they were acknowledged.
func (l *ledger) entries() []*entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*entry(nil), l.order...)
}
