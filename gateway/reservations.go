package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Reservation request limits and defaults.
const (
	defaultChannel     = "direct"
	defaultListLimit   = 50
	maxListLimit       = 500
	maxCursor          = 1024
	channelRuleMessage = "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
)

var channelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// reservationHandler serves reservations.
type reservationHandler struct {
	responder
	store   persistence.Store
	engine  Engine
	idem    *idempotency
	metrics *metrics
	clock   clock
}

type createReservationBody struct {
	Stays       []json.RawMessage `json:"stays"`
	Guest       json.RawMessage   `json:"guest"`
	Channel     string            `json:"channel"`
	ExternalRef string            `json:"external_ref"`
	HoldID      *string           `json:"hold_id"`
}

// create: POST /v1/properties/{property}/reservations → 201 reservation.
func (h *reservationHandler) create(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	var body createReservationBody
	raw, ok := h.decode(c, &body, false)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	stays := decodeStays(fe, body.Stays)
	guest := decodeGuest(fe, body.Guest)
	if body.Channel == "" {
		body.Channel = defaultChannel
	} else if booking.ValidateText(fe, "channel", body.Channel, booking.ChannelRule); !channelPattern.MatchString(body.Channel) {
		fe.Add("channel", channelRuleMessage)
	}
	booking.ValidateText(fe, "external_ref", body.ExternalRef, booking.ExternalRefRule)
	holdID := deref(body.HoldID)
	if holdID != "" && !validOpaqueID(holdID) {
		fe.Add("hold_id", opaqueIDRule)
	}
	if !h.checkInWindow(c, h.clock, p, fe, func(w booking.Window, fe booking.FieldErrors) { w.CheckStays(fe, stays) }) {
		return
	}
	nr := booking.NewReservation{
		Tenant: p.Tenant, Property: p.ID, Currency: p.Currency,
		Stays: stays, Guest: guest, Channel: body.Channel, ExternalRef: body.ExternalRef, HoldID: holdID,
	}
	call, ok := h.newCall(c, raw, false, http.StatusCreated)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		r, err := h.engine.CreateReservation(ctx, nr, idem)
		h.count(nr.Channel, outcomeConfirmed, err)
		if err != nil {
			return nil, err
		}
		return r, nil
	})
}

// count records a booking decision: success as outcome, a refusal for lack
// of rooms or by a restriction as sold_out or restricted.
func (h *reservationHandler) count(channel, success string, err error) {
	switch {
	case err == nil:
		h.metrics.booking(channel, success)
	case booking.ErrorCode(err) == booking.CodeSoldOut:
		h.metrics.booking(channel, outcomeSoldOut)
	case booking.ErrorCode(err) == booking.CodeRestricted:
		h.metrics.booking(channel, outcomeRestricted)
	}
}

// printable reports whether s has at most n bytes, is valid UTF-8 and has
// no control characters.
func printable(s string, n int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	if len(s) > n {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// reservationID reads {reservation} from the path (see opaquePathID).
func (h *reservationHandler) reservationID(c *gin.Context) (string, bool) {
	return h.opaquePathID(c, "reservation", booking.KindReservation, "r_")
}

// lookup loads a reservation of the caller's tenant.
func (h *reservationHandler) lookup(c *gin.Context, id string) (booking.Reservation, bool) {
	r, err := h.store.GetReservation(c.Request.Context(), tenantOf(c), id)
	if errors.Is(err, persistence.ErrNotFound) {
		err = booking.NotFound(booking.KindReservation, id)
	}
	if err != nil {
		h.fail(c, err)
		return r, false
	}
	return r, true
}

// get: GET /v1/reservations/{id}.
func (h *reservationHandler) get(c *gin.Context) {
	id, ok := h.reservationID(c)
	if !ok {
		return
	}
	r, ok := h.lookup(c, id)
	if !ok {
		return
	}
	h.ok(c, http.StatusOK, r)
}

type listReservationsResponse struct {
	Reservations []booking.Reservation `json:"reservations"`
	NextCursor   *string               `json:"next_cursor"`
}

// list: GET /v1/properties/{property}/reservations?status=&arrival_from=&arrival_to=&external_ref=&limit=&cursor=.
func (h *reservationHandler) list(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	f := persistence.ReservationFilter{Limit: defaultListLimit}
	switch st := c.Query("status"); st {
	case "", booking.StatusConfirmed, booking.StatusCancelled:
		f.Status = st
	default:
		fe.Add("status", "must be confirmed or cancelled")
	}
	if s := c.Query("arrival_from"); s != "" {
		f.ArrivalFrom = parseDateField(fe, "arrival_from", s)
	}
	if s := c.Query("arrival_to"); s != "" {
		f.ArrivalTo = parseDateField(fe, "arrival_to", s)
	}
	if f.ArrivalFrom != 0 && f.ArrivalTo != 0 && f.ArrivalTo <= f.ArrivalFrom {
		fe.Add("arrival_to", "must be after arrival_from")
	}
	f.ExternalRef = c.Query("external_ref")
	booking.ValidateText(fe, "external_ref", f.ExternalRef, booking.ExternalRefRule)
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			fe.Add("limit", fmt.Sprintf("must be an integer between 1 and %d", maxListLimit))
		}
		f.Limit = n
	}
	f.Cursor = c.Query("cursor")
	if len(f.Cursor) > maxCursor || !printable(f.Cursor, maxCursor) {
		fe.Add("cursor", "is not a cursor from a previous page")
	}
	if err := fe.Err(); err != nil {
		h.fail(c, err)
		return
	}
	rs, next, err := h.store.ListReservations(c.Request.Context(), p.Tenant, p.ID, f)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := listReservationsResponse{Reservations: rs}
	if out.Reservations == nil {
		out.Reservations = []booking.Reservation{}
	}
	if next != "" {
		out.NextCursor = &next
	}
	h.ok(c, http.StatusOK, out)
}

type modifyReservationBody struct {
	Stays []json.RawMessage `json:"stays"`
	Guest json.RawMessage   `json:"guest"`
}

// modify: PATCH /v1/reservations/{id} {"stays":[…],"guest"?} → 200, version+1.
func (h *reservationHandler) modify(c *gin.Context) {
	id, ok := h.reservationID(c)
	if !ok {
		return
	}
	var body modifyReservationBody
	raw, ok := h.decode(c, &body, false)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	stays := decodeStays(fe, body.Stays)
	var guest *booking.Guest
	if !isNull(body.Guest) {
		g := decodeGuest(fe, body.Guest)
		guest = &g
	}
	if err := fe.Err(); err != nil {
		h.fail(c, err)
		return
	}
	if !h.checkModifyWindow(c, id, stays) {
		return
	}
	call, ok := h.newCall(c, raw, true, http.StatusOK)
	if !ok {
		return
	}
	tenant := tenantOf(c)
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		r, err := h.engine.ModifyReservation(ctx, tenant, id, stays, guest, idem)
		if err != nil {
			if code := booking.ErrorCode(err); code == booking.CodeSoldOut || code == booking.CodeRestricted {
				// The label needs the channel, which only the stored
				// reservation knows.
				if old, gerr := h.store.GetReservation(ctx, tenant, id); gerr == nil {
					h.count(old.Channel, outcomeModified, err)
				}
			}
			return nil, err
		}
		h.count(r.Channel, outcomeModified, nil)
		return r, nil
	})
}

// checkModifyWindow applies the property's booking window to a
// modification: the new stays against the reservation's current ones (the
// past cannot change; new stays end within the horizon). It answers and
// returns false when the request cannot go on. The engine reads the
// reservation again and checks its version, so a change in between is
// caught there.
func (h *reservationHandler) checkModifyWindow(c *gin.Context, id string, stays []booking.Stay) bool {
	cur, ok := h.lookup(c, id)
	if !ok {
		return false
	}
	p, err := h.store.GetProperty(c.Request.Context(), cur.Tenant, cur.Property)
	if err == nil {
		var w booking.Window
		if w, err = h.clock.window(p); err == nil {
			fe := booking.FieldErrors{}
			w.CheckModify(fe, cur.Stays, stays)
			err = fe.Err()
		}
	}
	if err != nil {
		h.fail(c, err)
		return false
	}
	return true
}

// cancel: POST /v1/reservations/{id}/cancel → 200 with "status":"cancelled";
// cancelling again answers 200 and releases nothing.
func (h *reservationHandler) cancel(c *gin.Context) {
	id, ok := h.reservationID(c)
	if !ok {
		return
	}
	var body struct{}
	raw, ok := h.decode(c, &body, true)
	if !ok {
		return
	}
	call, ok := h.newCall(c, raw, true, http.StatusOK)
	if !ok {
		return
	}
	tenant := tenantOf(c)
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		before, err := h.store.GetReservation(ctx, tenant, id)
		if errors.Is(err, persistence.ErrNotFound) {
			return nil, booking.NotFound(booking.KindReservation, id)
		}
		if err != nil {
			return nil, err
		}
		r, err := h.engine.CancelReservation(ctx, tenant, id, idem)
		if err != nil {
			return nil, err
		}
		if before.Status != booking.StatusCancelled {
			h.count(r.Channel, outcomeCancelled, nil)
		}
		return r, nil
	})
}
