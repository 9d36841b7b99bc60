package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/jobs/webhook"
	"github.com/staylock/staylock/persistence"
)

// webhookHandler serves the tenant's webhook endpoints and their delivery
// logs (admin keys).
type webhookHandler struct {
	responder
	store       persistence.Store
	idem        *idempotency
	policy      webhook.URLPolicy
	onChange    func(ctx context.Context) error
	maxAttempts int
}

type webhookBody struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

type webhookView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"` // on creation only: it is shown once
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewOf(e persistence.WebhookEndpoint) webhookView {
	return webhookView{ID: e.ID, URL: e.URL, Events: e.Events, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// find loads :webhook of the caller's tenant, or answers 404.
func (h *webhookHandler) find(c *gin.Context) (persistence.WebhookEndpoint, bool) {
	ids, ok := h.pathIDs(c, "webhook")
	if !ok {
		return persistence.WebhookEndpoint{}, false
	}
	list, err := h.store.ListWebhooks(c.Request.Context(), tenantOf(c))
	if err != nil {
		h.fail(c, err)
		return persistence.WebhookEndpoint{}, false
	}
	for _, e := range list {
		if e.ID == ids[0] {
			return e, true
		}
	}
	h.fail(c, booking.NotFound(booking.KindWebhook, ids[0]))
	return persistence.WebhookEndpoint{}, false
}

// put: PUT /v1/webhooks/{id} → 201 with the secret (once), 200 on update.
func (h *webhookHandler) put(c *gin.Context) {
	ids, ok := h.pathIDs(c, "webhook")
	if !ok {
		return
	}
	var body webhookBody
	if _, ok := h.decode(c, &body, false); !ok {
		return
	}
	fe := booking.FieldErrors{}
	if err := h.policy.Check(body.URL); err != nil {
		fe.Add("url", err.Error())
	}
	events, err := webhook.ValidEvents(body.Events)
	if err != nil {
		fe.Add("events", err.Error())
	}
	if err := fe.Err(); err != nil {
		var be *booking.Error
		if errors.As(err, &be) {
			be.Code = booking.CodeUnprocessable
		}
		h.fail(c, err)
		return
	}
	stored, created, err := h.store.PutWebhook(c.Request.Context(), persistence.WebhookEndpoint{Tenant: tenantOf(c), ID: ids[0],
		URL: body.URL, Events: events, Secret: webhook.NewSecret()})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.changed(c)
	v, status := viewOf(stored), http.StatusOK
	if created {
		v.Secret, status = stored.Secret, http.StatusCreated
	}
	h.ok(c, status, v)
}

// get: GET /v1/webhooks/{id} (never the secret).
func (h *webhookHandler) get(c *gin.Context) {
	if e, ok := h.find(c); ok {
		h.ok(c, http.StatusOK, viewOf(e))
	}
}

// list: GET /v1/webhooks.
func (h *webhookHandler) list(c *gin.Context) {
	list, err := h.store.ListWebhooks(c.Request.Context(), tenantOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	out := struct {
		Webhooks []webhookView `json:"webhooks"`
	}{Webhooks: []webhookView{}}
	for _, e := range list {
		out.Webhooks = append(out.Webhooks, viewOf(e))
	}
	h.ok(c, http.StatusOK, out)
}

// delete: DELETE /v1/webhooks/{id} → 204; pending deliveries to it are
// dropped when they come up.
func (h *webhookHandler) delete(c *gin.Context) {
	e, ok := h.find(c)
	if !ok {
		return
	}
	var body struct{}
	raw, ok := h.decode(c, &body, true)
	if !ok {
		return
	}
	call, ok := h.newCall(c, raw, true, http.StatusNoContent)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, _ *booking.Idempotency) (any, error) {
		err := h.store.DeleteWebhook(ctx, e.Tenant, e.ID)
		if err == nil {
			h.changed(c)
		}
		return nil, err
	})
}

// changed tells the node's outbox that the tenant's endpoints changed.
func (h *webhookHandler) changed(c *gin.Context) {
	if h.onChange == nil {
		return
	}
	if err := h.onChange(c.Request.Context()); err != nil {
		h.log.Warn("refresh webhook tenants", zap.Error(err))
	}
}

// maxRotationWindow bounds how long a rotated-out secret keeps signing.
const maxRotationWindow = 7 * 24 * 3600

// rotateSecret: POST /v1/webhooks/{id}/rotate-secret
// {"previous_valid_seconds": N} → 200 with the new secret (shown once; a
// retry with the same Idempotency-Key shows the same one). The previous
// secret keeps signing for N seconds (default a day): each delivery then
// carries both signatures, so the receiver can switch whenever it likes.
func (h *webhookHandler) rotateSecret(c *gin.Context) {
	e, ok := h.find(c)
	if !ok {
		return
	}
	var body struct {
		PreviousValidSeconds *int `json:"previous_valid_seconds"`
	}
	raw, ok := h.decode(c, &body, true)
	if !ok {
		return
	}
	window := 86400
	if body.PreviousValidSeconds != nil {
		window = *body.PreviousValidSeconds
	}
	if window < 0 || window > maxRotationWindow {
		fe := booking.FieldErrors{}
		fe.Add("previous_valid_seconds", "must be from 0 to 604800 (7 days)")
		h.fail(c, fe.Err())
		return
	}
	call, ok := h.newCall(c, raw, true, http.StatusOK)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, _ *booking.Idempotency) (any, error) {
		secret, until := webhook.NewSecret(), time.Now().Add(time.Duration(window)*time.Second).UTC()
		if err := h.store.RotateWebhookSecret(ctx, e.Tenant, e.ID, secret, until); err != nil {
			return nil, err
		}
		return rotatedView{ID: e.ID, Secret: secret, PreviousValidUntil: until}, nil
	})
}

type rotatedView struct {
	ID                 string    `json:"id"`
	Secret             string    `json:"secret"`
	PreviousValidUntil time.Time `json:"previous_valid_until"`
}

type deliveryView struct {
	ID         int64     `json:"id"`
	MessageID  string    `json:"message_id"`
	Event      string    `json:"event"`
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
}

// deliveries: GET /v1/webhooks/{id}/deliveries?limit=N → the attempts,
// newest first.
func (h *webhookHandler) deliveries(c *gin.Context) {
	e, ok := h.find(c)
	if !ok {
		return
	}
	limit := 100
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 1000 {
			fe := booking.FieldErrors{}
			fe.Add("limit", "must be a number from 1 to 1000")
			h.fail(c, fe.Err())
			return
		}
		limit = n
	}
	ds, err := h.store.ListDeliveries(c.Request.Context(), e.Tenant, e.ID, limit)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := struct {
		Deliveries []deliveryView `json:"deliveries"`
	}{Deliveries: []deliveryView{}}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, deliveryView{ID: d.ID, MessageID: d.MessageID, Event: d.Event, Attempt: d.Attempt,
			StatusCode: d.StatusCode, LatencyMS: d.LatencyMS, Error: d.Error, At: d.At})
	}
	h.ok(c, http.StatusOK, out)
}

// retry: POST /v1/webhooks/{id}/deliveries/{delivery}/retry → 202: the
// message of that attempt is queued again (a new job, with its own
// attempts), signed anew with the endpoint's secret.
func (h *webhookHandler) retry(c *gin.Context) {
	e, ok := h.find(c)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil || id < 1 {
		fe := booking.FieldErrors{}
		fe.Add("delivery", "must be a delivery id from GET …/deliveries")
		h.fail(c, fe.Err())
		return
	}
	var body struct{}
	raw, ok := h.decode(c, &body, true)
	if !ok {
		return
	}
	call, ok := h.newCall(c, raw, true, http.StatusAccepted)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, _ *booking.Idempotency) (any, error) {
		d, err := h.store.GetDelivery(ctx, e.Tenant, e.ID, id)
		if errors.Is(err, persistence.ErrNotFound) {
			return nil, booking.NotFound(booking.KindDelivery, c.Param("delivery"))
		}
		if err != nil {
			return nil, err
		}
		var nonce [6]byte
		_, _ = rand.Read(nonce[:])
		row, err := jobs.DeliveryRow(jobs.DeliveryJob{Tenant: e.Tenant, Endpoint: e.ID, MessageID: d.MessageID, Event: d.Event,
			Payload: []byte(d.Payload)}, h.maxAttempts, hex.EncodeToString(nonce[:]))
		if err == nil {
			err = h.store.CommitBatch(ctx, persistence.Batch{ActorID: "webhooks/" + e.Tenant, Jobs: []persistence.JobRow{row}})
		}
		if err != nil {
			return nil, err
		}
		return retryView{MessageID: d.MessageID, Queued: true}, nil
	})
}

type retryView struct {
	MessageID string `json:"message_id"`
	Queued    bool   `json:"queued"`
}
