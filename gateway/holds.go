package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// defaultHoldTTL applies when a hold request names no ttl_seconds.
const defaultHoldTTL = 600

// holdHandler serves holds.
type holdHandler struct {
	responder
	store  persistence.Store
	engine Engine
	idem   *idempotency
	clock  clock
}

type createHoldBody struct {
	Stays      []json.RawMessage `json:"stays"`
	TTLSeconds *int              `json:"ttl_seconds"`
}

// create: POST /v1/properties/{property}/holds {"stays","ttl_seconds"} → 201 hold.
func (h *holdHandler) create(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	var body createHoldBody
	raw, ok := h.decode(c, &body, false)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	stays := decodeStays(fe, body.Stays)
	ttl := defaultHoldTTL
	if body.TTLSeconds != nil {
		ttl = *body.TTLSeconds
	}
	if ttl < booking.MinHoldTTL || ttl > booking.MaxHoldTTL {
		fe.Add("ttl_seconds", fmt.Sprintf("must be between %d and %d", booking.MinHoldTTL, booking.MaxHoldTTL))
	}
	if !h.checkInWindow(c, h.clock, p, fe, func(w booking.Window, fe booking.FieldErrors) { w.CheckStays(fe, stays) }) {
		return
	}
	call, ok := h.newCall(c, raw, false, http.StatusCreated)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		hold, err := h.engine.CreateHold(ctx, p.Tenant, p.ID, stays, time.Duration(ttl)*time.Second, idem)
		if err != nil {
			return nil, err
		}
		return hold, nil
	})
}

// release: DELETE /v1/holds/{id} → 204.
func (h *holdHandler) release(c *gin.Context) {
	id, ok := h.opaquePathID(c, "hold", booking.KindHold, "h_")
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
	tenant := tenantOf(c)
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		return nil, h.engine.ReleaseHold(ctx, tenant, id, idem)
	})
}
