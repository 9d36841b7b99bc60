package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs/webhook"
	"github.com/staylock/staylock/persistence"
)

// Webhook job kinds and their queue.
const (
	KindWebhookFanout   = "webhook_fanout"
	KindWebhookDelivery = "webhook_delivery"
	QueueWebhooks       = "webhooks"
)

// FanoutArgs: a reservation event to hand to the tenant's endpoints.
type FanoutArgs struct {
	Key  string    `json:"key"`
	Args FanoutJob `json:"args"`
}

// Kind is River's job kind.
func (FanoutArgs) Kind() string { return KindWebhookFanout }

// FanoutJob names the reservation and the event (the worker reads the
// reservation, as the mail worker does), or carries an availability change.
type FanoutJob struct {
	Tenant      string `json:"tenant"`
	Reservation string `json:"reservation,omitempty"`
	Event       string `json:"event"` // confirmed, modified, cancelled; availability.changed
	Version     int32  `json:"version,omitempty"`
	// Availability is the change of an availability.changed event: the
	// counts as they were committed (the worker has no actors to ask).
	Availability *AvailabilityChange `json:"availability,omitempty"`
}

// AvailabilityChange is the data of an availability.changed event: the
// nights one commit of a room type changed, with their counts after it.
// Seq orders the changes of a room type (deliveries may arrive out of
// order: a receiver keeps the highest seq per night).
type AvailabilityChange struct {
	Property string              `json:"property"`
	RoomType string              `json:"room_type"`
	Seq      int64               `json:"seq"`
	Nights   []booking.NightView `json:"nights"`
	// AllNights: the room type's defaults changed (rooms, price): every
	// night may have changed; a receiver re-reads the range it shows.
	AllNights bool `json:"all_nights,omitempty"`
	// CommittedAt is when the change was decided (the batch's commit).
	CommittedAt time.Time `json:"committed_at"`
}

// DeliveryArgs: one message to one endpoint.
type DeliveryArgs struct {
	Key  string      `json:"key"`
	Args DeliveryJob `json:"args"`
}

// Kind is River's job kind.
func (DeliveryArgs) Kind() string { return KindWebhookDelivery }

// DeliveryJob is what to post where.
type DeliveryJob struct {
	Tenant    string          `json:"tenant"`
	Endpoint  string          `json:"endpoint"`
	MessageID string          `json:"message_id"`
	Event     string          `json:"event"`
	Payload   json.RawMessage `json:"payload"`
}

// WebhookPayload is the body an endpoint receives (Standard Webhooks
// form); Data is a booking.Reservation for reservation.* events and an
// AvailabilityChange for availability.changed.
type WebhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// availabilityRow is the outbox row of a batch's availability.changed
// event; none when the batch changes no night.
func availabilityRow(b persistence.OutboxBatch) (persistence.JobRow, bool) {
	nights, all := b.Availability()
	if len(nights) == 0 && !all {
		return persistence.JobRow{}, false
	}
	args, err := json.Marshal(FanoutJob{Tenant: b.Tenant, Event: webhook.EventAvailabilityChanged,
		Availability: &AvailabilityChange{Property: b.Property, RoomType: b.RoomType, Seq: b.Seq, Nights: nights, AllNights: all, CommittedAt: b.At.UTC()}})
	if err != nil {
		return persistence.JobRow{}, false // plain values always encode
	}
	key := fmt.Sprintf("availability.%s.%s.%s.s%d", b.Tenant, b.Property, b.RoomType, b.Seq)
	return persistence.JobRow{Kind: KindWebhookFanout, Queue: QueueWebhooks, Key: key, Args: args, MaxAttempts: 10}, true
}

// fanoutRow is the outbox row that hands a reservation event to webhooks.
func fanoutRow(tenant string, r booking.Reservation, event string) (persistence.JobRow, error) {
	args, err := json.Marshal(FanoutJob{Tenant: tenant, Reservation: r.ID, Event: event, Version: r.Version})
	if err != nil {
		return persistence.JobRow{}, err
	}
	return persistence.JobRow{Kind: KindWebhookFanout, Queue: QueueWebhooks, Key: MailKey(r, event), Args: args, MaxAttempts: 10}, nil
}

// DeliveryRow is the job of one message to one endpoint; replay makes a
// new job of a message delivered before (POST …/deliveries/{id}/retry).
func DeliveryRow(d DeliveryJob, maxAttempts int, replay string) (persistence.JobRow, error) {
	args, err := json.Marshal(d)
	if err != nil {
		return persistence.JobRow{}, err
	}
	key := d.MessageID + "." + d.Endpoint
	if replay != "" {
		key += ".replay." + replay
	}
	return persistence.JobRow{Kind: KindWebhookDelivery, Queue: QueueWebhooks, Key: key, Args: args, MaxAttempts: maxAttempts}, nil
}

// webhookLister lists a tenant's endpoints.
type webhookLister interface {
	ListWebhooks(ctx context.Context, tenant string) ([]persistence.WebhookEndpoint, error)
}

// WebhookTenantSource lists the tenants with at least one endpoint (the
// store); WebhookTenants reads its set from it.
type WebhookTenantSource interface {
	TenantsWithWebhooks(ctx context.Context) ([]string, error)
}

// fanoutWorker makes one delivery job per endpoint of the tenant that
// subscribes to the event. The deliveries are unique per (message,
// endpoint): a fan-out that runs twice makes each once.
type fanoutWorker struct {
	river.WorkerDefaults[FanoutArgs]
	store interface {
		webhookLister
		reservationReader
		CommitBatch(ctx context.Context, b persistence.Batch) error
	}
	maxAttempts int
}

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[FanoutArgs]) error {
	f := job.Args.Args
	endpoints, err := w.store.ListWebhooks(ctx, f.Tenant)
	if err != nil {
		return err
	}
	var event string
	var body WebhookPayload
	if a := f.Availability; a != nil {
		event = webhook.EventAvailabilityChanged
		body = WebhookPayload{Type: event, Timestamp: a.CommittedAt, Data: a}
	} else {
		r, err := w.store.GetReservation(ctx, f.Tenant, f.Reservation)
		if errors.Is(err, persistence.ErrNotFound) {
			return river.JobCancel(fmt.Errorf("reservation %s is gone", f.Reservation))
		}
		if err != nil {
			return err
		}
		event = "reservation." + f.Event
		body = WebhookPayload{Type: event, Timestamp: r.UpdatedAt.UTC(), Data: r}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return river.JobCancel(err)
	}
	var rows []persistence.JobRow
	for _, e := range endpoints {
		if !e.Subscribes(event) {
			continue
		}
		row, err := DeliveryRow(DeliveryJob{Tenant: f.Tenant, Endpoint: e.ID, MessageID: "msg_" + job.Args.Key,
			Event: event, Payload: payload}, w.maxAttempts, "")
		if err != nil {
			return river.JobCancel(err)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	// A batch without events commits only its jobs (no journal, no fence).
	return w.store.CommitBatch(ctx, persistence.Batch{ActorID: "webhooks/" + f.Tenant, Jobs: rows})
}

// deliveryWorker posts one message, logs the attempt, and leaves retries
// (exponential backoff with jitter) and the dead-letter state to River.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	store interface {
		webhookLister
		RecordDelivery(ctx context.Context, d persistence.WebhookDelivery) (int64, error)
	}
	sender    *webhook.Sender
	retryBase time.Duration
	log       *zap.Logger
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	d := job.Args.Args
	endpoints, err := w.store.ListWebhooks(ctx, d.Tenant)
	if err != nil {
		return err
	}
	var ep *persistence.WebhookEndpoint
	for i := range endpoints {
		if endpoints[i].ID == d.Endpoint {
			ep = &endpoints[i]
		}
	}
	if ep == nil {
		return river.JobCancel(fmt.Errorf("webhook %s was deleted", d.Endpoint))
	}
	a := w.sender.Send(ctx, ep.URL, d.MessageID, d.Payload, ep.SigningSecrets(time.Now())...)
	rec := persistence.WebhookDelivery{Tenant: d.Tenant, Endpoint: d.Endpoint, MessageID: d.MessageID, Event: d.Event,
		Attempt: job.Attempt, StatusCode: a.StatusCode, LatencyMS: float64(a.Latency.Microseconds()) / 1000, Payload: string(d.Payload)}
	if a.Err != nil {
		rec.Error = a.Err.Error()
	}
	if _, err := w.store.RecordDelivery(context.WithoutCancel(ctx), rec); err != nil {
		w.log.Warn("record webhook delivery", zap.Error(err))
	}
	return a.Err
}

// NextRetry is exponential backoff with ±20 % jitter: base, 2×base, 4×base,
// … capped at an hour.
func (w *deliveryWorker) NextRetry(job *river.Job[DeliveryArgs]) time.Time {
	return time.Now().Add(Backoff(w.retryBase, job.Attempt))
}

// Backoff is the wait before the attempt after attempt (1-based).
func Backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(max(attempt-1, 0), 20)
	if d <= 0 || d > time.Hour {
		d = time.Hour
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// WebhookTenants is the set of tenants that have webhook endpoints, as a
// node last read it: the outbox writes fan-out jobs for those only, so that
// a tenant without webhooks pays nothing for them. An endpoint receives the
// events committed from its tenant's next refresh on (Run: every few
// seconds). Safe for concurrent use; a nil set, or one not read yet, has
// every tenant.
type WebhookTenants struct {
	set atomic.Pointer[map[string]bool]
}

// Has tells whether tenant may have endpoints.
func (w *WebhookTenants) Has(tenant string) bool {
	if w == nil {
		return true
	}
	m := w.set.Load()
	return m == nil || (*m)[tenant]
}

// Refresh reads the set from the store.
func (w *WebhookTenants) Refresh(ctx context.Context, store WebhookTenantSource) error {
	ts, err := store.TenantsWithWebhooks(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(ts))
	for _, t := range ts {
		m[t] = true
	}
	w.set.Store(&m)
	return nil
}

// Run refreshes the set every interval until ctx ends; while the store does
// not answer, the last set stays.
func (w *WebhookTenants) Run(ctx context.Context, store WebhookTenantSource, every time.Duration, log *zap.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Refresh(ctx, store); err != nil && ctx.Err() == nil {
			log.Warn("webhook tenants: cannot refresh", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
