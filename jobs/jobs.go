// Package jobs is Staylock's background work on River
// (github.com/riverqueue/river): the reservation emails written by the
// actors in their own commits (Outbox), the workers that send them, and the
// periodic jobs of the scheduler. Jobs live in the booking database (River's
// tables on Postgres, or on the embedded SQLite file).
package jobs

import (
	"fmt"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/persistence"
)

// Job kinds and queues.
const (
	KindReservationMail  = "reservation_mail"
	KindPurgeIdempotency = "purge_idempotency"
	KindSweepHolds       = "sweep_holds"
	KindPruneHistory     = "prune_history"
	KindOccupancyReport  = "occupancy_report"

	QueueMail        = "mail"
	QueueMaintenance = "maintenance"
	// QueueEngine holds the jobs only a serving node can run (its actors).
	QueueEngine = "engine"
)

// MailArgs are a reservation email's job arguments, as persistence.JobRow
// writes them: {"key":…, "args":{…}}.
type MailArgs struct {
	Key  string  `json:"key"`
	Args MailJob `json:"args"`
}

// Kind is River's job kind.
func (MailArgs) Kind() string { return KindReservationMail }

// MailJob names the reservation and the event. The worker reads the
// reservation when it sends, so the queue (and its UI) holds no guest data
// and each insert stays small; a mail shows the reservation as it is then.
type MailJob struct {
	Tenant      string `json:"tenant"`
	Reservation string `json:"reservation"`
	Event       string `json:"event"`
	Version     int32  `json:"version"`
}

// PurgeArgs are the arguments of the periodic idempotency purge.
type PurgeArgs struct{}

// Kind is River's job kind.
func (PurgeArgs) Kind() string { return KindPurgeIdempotency }

// EventOf tells which email a committed reservation row calls for:
// confirmed (version 1), modified (a later version) or cancelled.
func EventOf(r booking.Reservation) string {
	switch {
	case r.Status == booking.StatusCancelled:
		return mail.EventCancelled
	case r.Version > 1:
		return mail.EventModified
	default:
		return mail.EventConfirmed
	}
}

// MailKey identifies the email of a reservation at a version: the job's
// unique key and, with "@staylock", its Message-ID.
func MailKey(r booking.Reservation, event string) string {
	return fmt.Sprintf("%s.%s.v%d", r.ID, event, r.Version)
}

// Outbox returns the hook the actors call with each batch they commit:
// one email job per reservation row whose guest has an address, written in
// the same transaction; one webhook fan-out job per row (it finds the
// tenant's endpoints when it runs); and one availability.changed fan-out
// per batch that changes nights. A row carried by several batches (a
// reservation over room types, a retried commit) makes one job of each.
//
// hooks, when set, says which tenants have endpoints: the fan-out jobs are
// written for those only (nil: for every tenant).
func Outbox(maxAttempts int, hooks *WebhookTenants) func(b persistence.OutboxBatch) []persistence.JobRow {
	return func(b persistence.OutboxBatch) []persistence.JobRow {
		var out []persistence.JobRow
		webhooks := hooks.Has(b.Tenant)
		if webhooks && b.Availability != nil {
			if f, ok := availabilityRow(b); ok {
				out = append(out, f)
			}
		}
		for _, r := range b.Reservations {
			event := EventOf(r)
			if webhooks {
				if f, err := fanoutRow(r.Tenant, r, event); err == nil {
					out = append(out, f)
				}
			}
			if r.Guest.Email == "" {
				continue
			}
			args, err := jsonMarshal(MailJob{Tenant: r.Tenant, Reservation: r.ID, Event: event, Version: r.Version})
			if err != nil {
				continue // plain values always encode
			}
			out = append(out, persistence.JobRow{Kind: KindReservationMail, Queue: QueueMail,
				Key: MailKey(r, event), Args: args, MaxAttempts: maxAttempts})
		}
		return out
	}
}
