package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/persistence"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// reservationReader reads the row a job is about, as committed.
type reservationReader interface {
	GetReservation(ctx context.Context, tenant, id string) (booking.Reservation, error)
}

// mailWorker sends a reservation email. A refusal for good (an SMTP 5xx, an
// unusable address) cancels the job: retrying would only repeat it. Anything
// else is retried with River's backoff until the job's attempts are used up,
// then the job is discarded (River's dead-letter state).
type mailWorker struct {
	river.WorkerDefaults[MailArgs]
	store  reservationReader
	sender mail.Sender
	from   string
	log    *zap.Logger
}

func (w *mailWorker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	a := job.Args.Args
	r, err := w.store.GetReservation(ctx, a.Tenant, a.Reservation)
	if errors.Is(err, persistence.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("reservation %s is gone", a.Reservation))
	}
	if err != nil {
		return err
	}
	m, err := mail.Render(a.Event, r, w.from)
	if err != nil {
		return river.JobCancel(err)
	}
	m.ID = job.Args.Key + "@staylock" // one Message-ID per (reservation, event, version)
	if err := send(ctx, w.sender, m, w.log); err != nil {
		return err
	}
	w.log.Debug("mail sent", zap.String("message_id", m.ID), zap.Int("attempt", job.Attempt))
	return nil
}

// send hands m to the sender. A refusal for good (an SMTP 5xx, an unusable
// address) cancels the job, since retrying would only repeat it; anything
// else is returned for River to retry.
func send(ctx context.Context, sender mail.Sender, m mail.Message, log *zap.Logger) error {
	err := sender.Send(ctx, m)
	var perm *mail.PermanentError
	if errors.As(err, &perm) {
		log.Warn("mail refused for good", zap.String("message_id", m.ID), zap.Error(err))
		return river.JobCancel(err)
	}
	return err
}

// purgeWorker deletes expired idempotency records (periodic).
type purgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	store interface {
		PurgeIdempotency(ctx context.Context, now time.Time) (int64, error)
	}
	log *zap.Logger
}

func (w *purgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	n, err := w.store.PurgeIdempotency(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("purge idempotency: %w", err)
	}
	if n > 0 {
		w.log.Info("purged expired idempotency keys", zap.Int64("deleted", n))
	}
	return nil
}

// Engine is what the engine queue's jobs ask of the node that runs them.
type Engine interface {
	// SweepExpiredHolds wakes the room types with holds due by now.
	SweepExpiredHolds(ctx context.Context, now time.Time) (int, error)
	// PruneHistory drops every room type's history before the night
	// before (EventPruned); it counts the room types that dropped
	// something and the nights and allocations they dropped.
	PruneHistory(ctx context.Context, before booking.Date) (roomTypes, nights, allocations int, err error)
	// Occupancy reads every property's occupancy for nights nights from
	// its today at now.
	Occupancy(ctx context.Context, now time.Time, nights int) ([]booking.PropertyOccupancy, error)
}

// ReportNights is how many nights the occupancy report shows, from each
// property's today.
const ReportNights = 7

// ReportArgs are the arguments of the daily occupancy report.
type ReportArgs struct{}

// Kind is River's job kind.
func (ReportArgs) Kind() string { return KindOccupancyReport }

// reportWorker mails the occupancy report. It runs on a serving node (the
// engine queue): the counts come from the actors, overrides and holds
// included. Its Message-ID names the day, so a retry after the SMTP server
// accepted is recognisably the same mail.
type reportWorker struct {
	river.WorkerDefaults[ReportArgs]
	engine   Engine
	sender   mail.Sender
	from, to string
	log      *zap.Logger
}

func (w *reportWorker) Work(ctx context.Context, job *river.Job[ReportArgs]) error {
	if w.engine == nil {
		return errors.New("occupancy report: this process runs no actors (the engine queue is for serve)")
	}
	if w.to == "" {
		return river.JobCancel(errors.New("occupancy report: OCCUPANCY_REPORT_TO is not set"))
	}
	now := job.CreatedAt // the tick's day, whenever the job runs
	props, err := w.engine.Occupancy(ctx, now, ReportNights)
	if err != nil {
		return fmt.Errorf("occupancy report: %w", err)
	}
	m, err := mail.RenderOccupancy(booking.DateOf(now), props, w.from, w.to)
	if err != nil {
		return river.JobCancel(err)
	}
	if err := send(ctx, w.sender, m, w.log); err != nil {
		return err
	}
	w.log.Info("occupancy report sent", zap.String("message_id", m.ID), zap.Int("properties", len(props)))
	return nil
}

// PruneArgs are the arguments of the periodic history pruning.
type PruneArgs struct{}

// Kind is River's job kind.
func (PruneArgs) Kind() string { return KindPruneHistory }

// pruneWorker makes the actors' state stop growing with history: it runs
// on a serving node (the engine queue) and asks every room type to drop
// the nights more than keep days past, with the allocations that ended by
// then; each writes a snapshot and trims its journal.
type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	engine  Engine
	keep    int
	timeout time.Duration
	log     *zap.Logger
}

// Timeout: the walk over every room type may take longer than one email,
// and stays under the rescue window so that it is not run twice at once.
func (w *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return w.timeout }

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	if w.engine == nil {
		return errors.New("history pruning: this process runs no actors (the engine queue is for serve)")
	}
	// A day more than kept: every property's today is at most a day ahead
	// of or behind UTC's.
	before := booking.DateOf(time.Now()) - booking.Date(w.keep) - 1
	roomTypes, nights, allocations, err := w.engine.PruneHistory(ctx, before)
	if err != nil {
		return fmt.Errorf("history pruning: %w", err)
	}
	w.log.Info("pruned the actors' history", zap.Stringer("before", before), zap.Int("room_types", roomTypes),
		zap.Int("nights", nights), zap.Int("allocations", allocations))
	return nil
}

// SweepArgs are the arguments of the periodic hold sweep.
type SweepArgs struct{}

// Kind is River's job kind.
func (SweepArgs) Kind() string { return KindSweepHolds }

// sweepWorker is the backstop for expiry timers: it runs on a serving node
// (the engine queue), where the actors live.
type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	engine Engine
	log    *zap.Logger
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	if w.engine == nil {
		return errors.New("hold sweep: this process runs no actors (the engine queue is for serve)")
	}
	n, err := w.engine.SweepExpiredHolds(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("hold sweep: %w", err)
	}
	if n > 0 {
		w.log.Warn("hold sweep woke room types with overdue holds (their timers had not released them)", zap.Int("room_types", n))
	}
	return nil
}
