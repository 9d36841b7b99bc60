// Package clustertest records what clients saw of bookings (call, return,
// outcome) and checks the history for linearizability against a model of
// per-night capacity, with porcupine. A history is linearizable when the
// bookings can be put in one order, each taking effect at one instant
// between its call and its return, such that every confirmation fits the
// rooms left and every "sold out" did not: exactly what an oversold night
// or a lost acknowledged booking breaks.
package clustertest

import (
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// MaxNights is the largest night index a booking may touch (exclusive).
const MaxNights = 64

// Booking is one client request: qty rooms of one room type for the nights
// [First, First+Nights).
type Booking struct {
	RoomType      string
	First, Nights int
	Qty           int
}

// Outcome is what the client learned.
type Outcome int

const (
	// Unknown: no definite answer (the client gave up); it may or may not
	// have taken effect, at any time after its call.
	Unknown Outcome = iota
	Confirmed
	SoldOut
)

func (o Outcome) String() string {
	switch o {
	case Confirmed:
		return "confirmed"
	case SoldOut:
		return "sold_out"
	}
	return "unknown"
}

// Recorder collects operations from many goroutines.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

// NewRecorder starts a history now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

func (r *Recorder) now() int64 { return int64(time.Since(r.start)) }

// Call records that client starts b, and returns the function that records
// its outcome (call it exactly once).
func (r *Recorder) Call(client int, b Booking) func(Outcome) {
	call := r.now()
	return func(o Outcome) {
		ret := r.now()
		r.mu.Lock()
		r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: b, Call: call, Output: o, Return: ret})
		r.mu.Unlock()
	}
}

// Operations returns a copy of the history.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Counts tallies the outcomes.
func (r *Recorder) Counts() map[Outcome]int {
	out := map[Outcome]int{}
	for _, op := range r.Operations() {
		out[op.Output.(Outcome)]++
	}
	return out
}

type nights [MaxNights]int32

// Model is the per-night capacity model: rooms[room type] rooms each night.
// It is nondeterministic in one way only: an Unknown booking may or may not
// have happened.
func Model(rooms map[string]int) porcupine.Model {
	fits := func(s nights, b Booking) bool {
		for d := b.First; d < b.First+b.Nights; d++ {
			if int(s[d])+b.Qty > rooms[b.RoomType] {
				return false
			}
		}
		return true
	}
	take := func(s nights, b Booking) nights {
		for d := b.First; d < b.First+b.Nights; d++ {
			s[d] += int32(b.Qty)
		}
		return s
	}
	nm := porcupine.NondeterministicModel{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				rt := op.Input.(Booking).RoomType
				if _, ok := by[rt]; !ok {
					keys = append(keys, rt)
				}
				by[rt] = append(by[rt], op)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, by[k])
			}
			return out
		},
		Init: func() []any { return []any{nights{}} },
		Step: func(state, input, output any) []any {
			s, b := state.(nights), input.(Booking)
			switch output.(Outcome) {
			case Confirmed:
				if fits(s, b) {
					return []any{take(s, b)}
				}
				return nil
			case SoldOut:
				if !fits(s, b) {
					return []any{s}
				}
				return nil
			default:
				if fits(s, b) {
					return []any{s, take(s, b)}
				}
				return []any{s}
			}
		},
		Equal: func(a, b any) bool { return a.(nights) == b.(nights) },
		DescribeOperation: func(input, output any) string {
			b := input.(Booking)
			return fmt.Sprintf("book %s nights %d..%d ×%d → %v", b.RoomType, b.First, b.First+b.Nights-1, b.Qty, output)
		},
	}
	return nm.ToModel()
}

// Result of a check.
type Result struct {
	Verdict porcupine.CheckResult
	Ops     int
	Unknown int
	Took    time.Duration
	info    porcupine.LinearizationInfo
	model   porcupine.Model
}

// Check checks ops against the model within timeout. An Unknown operation
// may take effect at any time after its call, so its return is moved past
// the end of the history.
func Check(ops []porcupine.Operation, rooms map[string]int, timeout time.Duration) Result {
	var end int64
	for _, op := range ops {
		end = max(end, op.Return)
	}
	unknown := 0
	fixed := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		if op.Output.(Outcome) == Unknown {
			op.Return = min(end+1, math.MaxInt64)
			unknown++
		}
		fixed[i] = op
	}
	m := Model(rooms)
	start := time.Now()
	verdict, info := porcupine.CheckOperationsVerbose(m, fixed, timeout)
	return Result{Verdict: verdict, Ops: len(ops), Unknown: unknown, Took: time.Since(start), info: info, model: m}
}

// Visualize writes porcupine's HTML view of the checked history to path
// (for a failing test to leave behind).
func (r Result) Visualize(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return porcupine.Visualize(r.model, r.info, f)
}

func (r Result) String() string {
	return fmt.Sprintf("%s (%d operations, %d unknown, checked in %s)", r.Verdict, r.Ops, r.Unknown, r.Took.Round(time.Millisecond))
}
