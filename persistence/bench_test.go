package persistence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

const benchBatchSize = 32

// benchBatch is a hot-path group commit: 32 booked events, their 32
// reservations and 32 idempotency records.
func benchBatch(actor string, first int64, n *atomic.Int64) persistence.Batch {
	now := time.Now()
	b := persistence.Batch{ActorID: actor, FirstSeq: first, At: now}
	for i := range benchBatchSize {
		id := fmt.Sprintf("res-%012d", n.Add(1))
		stays := []booking.Stay{{RoomType: "dlx", Arrival: 20800 + booking.Date(i%30), Departure: 20802 + booking.Date(i%30), Quantity: 1}}
		ev, _ := json.Marshal(booking.Event{Kind: booking.EventBooked, Reservation: id, Stays: stays})
		b.Events = append(b.Events, ev)
		r := booking.Reservation{Tenant: "acme", ID: id, Property: "p1", Status: booking.StatusConfirmed, Stays: stays,
			Guest: booking.Guest{Name: "Ada Lovelace", Email: "ada@example.com"}, Channel: "booking.com", ExternalRef: "BDC-" + id,
			TotalPrice: 25800, Currency: "EUR", Version: 1, CreatedAt: now, UpdatedAt: now, Primary: "dlx"}
		b.Reservations = append(b.Reservations, r)
		body, _ := json.Marshal(r)
		b.Idempotency = append(b.Idempotency, persistence.IdempotencyRecord{Tenant: "acme", Key: "idem-" + id,
			RequestHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Status: 201, Body: body,
			CreatedAt: now, ExpiresAt: now.Add(persistence.DefaultIdempotencyTTL)})
	}
	return b
}

// BenchmarkCommitBatch measures group commits of 32 bookings: one actor
// committing batch after batch (serial), and one actor per goroutine
// (parallel, GOMAXPROCS goroutines).
func BenchmarkCommitBatch(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) persistence.Store
	}{
		{"postgres", func(b *testing.B) persistence.Store { s, _ := newPostgres(b); return s }},
		{"sqlite", func(b *testing.B) persistence.Store { return newSQLite(b) }},
	}
	for _, be := range backends {
		b.Run(be.name+"/serial", func(b *testing.B) {
			s := be.open(b)
			var n atomic.Int64
			seq := int64(1)
			for b.Loop() {
				if err := s.CommitBatch(context.Background(), benchBatch("acme/p1/dlx", seq, &n)); err != nil {
					b.Fatal(err)
				}
				seq += benchBatchSize
			}
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "bookings/s")
		})
		b.Run(be.name+"/parallel", func(b *testing.B) {
			s := be.open(b)
			var n, actors atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				actor := fmt.Sprintf("acme/p1/rt%d", actors.Add(1))
				seq := int64(1)
				for pb.Next() {
					if err := s.CommitBatch(context.Background(), benchBatch(actor, seq, &n)); err != nil {
						b.Error(err)
						return
					}
					seq += benchBatchSize
				}
			})
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "bookings/s")
		})
	}
}
