package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// maxInventoryUpdates bounds the updates of one inventory request.
const maxInventoryUpdates = 1000

// setupHandler serves properties, room types, inventory and availability.
type setupHandler struct {
	responder
	store  persistence.Store
	engine Engine
	idem   *idempotency
	clock  clock
}

type propertyBody struct {
	Name               string  `json:"name"`
	Timezone           string  `json:"timezone"`
	Currency           string  `json:"currency"`
	BookingHorizonDays *int    `json:"booking_horizon_days"`
	LateCheckinUntil   *string `json:"late_checkin_until"`
}

// putProperty: PUT /v1/properties/{property} → 201 created / 200 updated.
func (h *setupHandler) putProperty(c *gin.Context) {
	ids, ok := h.pathIDs(c, "property")
	if !ok {
		return
	}
	var body propertyBody
	if _, ok := h.decode(c, &body, false); !ok {
		return
	}
	p := booking.Property{Tenant: tenantOf(c), ID: ids[0], Name: body.Name, Timezone: body.Timezone, Currency: body.Currency}
	// The window settings are optional: an update that leaves one out
	// keeps its stored value (so a client that predates them does not reset
	// them), a new property takes the default.
	old, err := h.store.GetProperty(c.Request.Context(), p.Tenant, p.ID)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
	case err != nil:
		h.fail(c, err)
		return
	default:
		p.BookingHorizonDays, p.LateCheckinUntil = old.BookingHorizonDays, old.LateCheckinUntil
	}
	if body.BookingHorizonDays != nil {
		p.BookingHorizonDays = *body.BookingHorizonDays
	} else if p.BookingHorizonDays == 0 {
		p.BookingHorizonDays = booking.DefaultBookingHorizonDays
	}
	if body.LateCheckinUntil != nil {
		p.LateCheckinUntil = *body.LateCheckinUntil
	} else if p.LateCheckinUntil == "" {
		p.LateCheckinUntil = booking.DefaultLateCheckinUntil
	}
	if err := p.Validate(); err != nil {
		h.fail(c, err)
		return
	}
	stored, created, err := h.store.PutProperty(c.Request.Context(), p)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.ok(c, createdStatus(created), stored)
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// getProperty: GET /v1/properties/{property}.
func (h *setupHandler) getProperty(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	h.ok(c, http.StatusOK, p)
}

// listProperties: GET /v1/properties → {"properties":[…]}.
func (h *setupHandler) listProperties(c *gin.Context) {
	ps, err := h.store.ListProperties(c.Request.Context(), tenantOf(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	if ps == nil {
		ps = []booking.Property{}
	}
	h.ok(c, http.StatusOK, gin.H{"properties": ps})
}

type roomTypeBody struct {
	Name  string `json:"name"`
	Rooms *int32 `json:"rooms"`
	Price *int64 `json:"price"`
}

// putRoomType: PUT /v1/properties/{property}/room-types/{room_type} → 201/200.
// It goes through the engine: lowering rooms is checked against bookings.
func (h *setupHandler) putRoomType(c *gin.Context) {
	ids, ok := h.pathIDs(c, "property", "room_type")
	if !ok {
		return
	}
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	var body roomTypeBody
	if _, ok := h.decode(c, &body, false); !ok {
		return
	}
	fe := booking.FieldErrors{}
	if body.Rooms == nil {
		fe.Add("rooms", "is required")
	}
	if body.Price == nil {
		fe.Add("price", "is required")
	}
	rt := booking.RoomType{Tenant: p.Tenant, Property: p.ID, ID: ids[1], Name: body.Name,
		Rooms: deref(body.Rooms), Price: deref(body.Price)}
	if err := mergeFields(fe, rt.Validate()); err != nil {
		h.fail(c, err)
		return
	}
	if err := fe.Err(); err != nil {
		h.fail(c, err)
		return
	}
	stored, created, err := h.engine.PutRoomType(c.Request.Context(), rt)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.ok(c, createdStatus(created), stored)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// getRoomType: GET /v1/properties/{property}/room-types/{room_type}.
func (h *setupHandler) getRoomType(c *gin.Context) {
	ids, ok := h.pathIDs(c, "property", "room_type")
	if !ok {
		return
	}
	rt, err := h.store.GetRoomType(c.Request.Context(), tenantOf(c), ids[0], ids[1])
	if errors.Is(err, persistence.ErrNotFound) {
		// Name what is missing: the property, or only its room type.
		err = booking.NotFound(booking.KindRoomType, ids[1])
		if _, perr := h.store.GetProperty(c.Request.Context(), tenantOf(c), ids[0]); errors.Is(perr, persistence.ErrNotFound) {
			err = booking.NotFound(booking.KindProperty, ids[0])
		}
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.ok(c, http.StatusOK, rt)
}

// listRoomTypes: GET /v1/properties/{property}/room-types → {"room_types":[…]}.
func (h *setupHandler) listRoomTypes(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	rts, err := h.store.ListRoomTypes(c.Request.Context(), p.Tenant, p.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if rts == nil {
		rts = []booking.RoomType{}
	}
	h.ok(c, http.StatusOK, gin.H{"room_types": rts})
}

type inventoryBody struct {
	Updates []json.RawMessage `json:"updates"`
}

type updateWire struct {
	RoomType string `json:"room_type"`
	From     string `json:"from"`
	To       string `json:"to"`
	Total    *int32 `json:"total"`
	Price    *int64 `json:"price"`
	StopSell *bool  `json:"stop_sell"`
	MinStay  *int32 `json:"min_stay"`
}

// updateInventory: POST /v1/properties/{property}/inventory, all or nothing
// → 200 {"updated_nights":N}.
func (h *setupHandler) updateInventory(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	var body inventoryBody
	raw, ok := h.decode(c, &body, false)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	updates := decodeUpdates(fe, body.Updates)
	if !h.checkInWindow(c, h.clock, p, fe, func(w booking.Window, fe booking.FieldErrors) { w.CheckUpdates(fe, updates) }) {
		return
	}
	rts, err := h.store.ListRoomTypes(c.Request.Context(), p.Tenant, p.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	known := make(map[string]bool, len(rts))
	for _, rt := range rts {
		known[rt.ID] = true
	}
	for i, u := range updates {
		if !known[u.RoomType] {
			e := booking.NotFound(booking.KindRoomType, u.RoomType)
			e.Details["field"] = fmt.Sprintf("updates[%d].room_type", i)
			h.fail(c, e)
			return
		}
	}
	call, ok := h.newCall(c, raw, true, http.StatusOK)
	if !ok {
		return
	}
	h.idem.serve(c, h.responder, call, func(ctx context.Context, idem *booking.Idempotency) (any, error) {
		n, err := h.engine.UpdateInventory(ctx, p.Tenant, p.ID, updates, idem)
		if err != nil {
			return nil, err
		}
		return booking.InventoryResult{UpdatedNights: n}, nil
	})
}

func decodeUpdates(fe booking.FieldErrors, raws []json.RawMessage) []booking.InventoryUpdate {
	switch {
	case len(raws) == 0:
		fe.Add("updates", "at least one update is required")
		return nil
	case len(raws) > maxInventoryUpdates:
		fe.Add("updates", fmt.Sprintf("at most %d updates per request", maxInventoryUpdates))
		return nil
	}
	out := make([]booking.InventoryUpdate, len(raws))
	for i, raw := range raws {
		p := fmt.Sprintf("updates[%d].", i)
		if isNull(raw) {
			fe.Add(fmt.Sprintf("updates[%d]", i), "must be an object")
			continue
		}
		var w updateWire
		decodeStrict(fe, p, raw, &w)
		u := booking.InventoryUpdate{
			RoomType: w.RoomType,
			From:     parseDateField(fe, p+"from", w.From),
			To:       parseDateField(fe, p+"to", w.To),
			Total:    w.Total, Price: w.Price, StopSell: w.StopSell, MinStay: w.MinStay,
		}
		u.Validate(fe, p)
		out[i] = u
	}
	return out
}

// availabilityResponse is the body of GET …/availability.
type availabilityResponse struct {
	Property  string                         `json:"property"`
	From      booking.Date                   `json:"from"`
	To        booking.Date                   `json:"to"`
	RoomTypes []booking.RoomTypeAvailability `json:"room_types"`
}

// availability: GET /v1/properties/{property}/availability?from=&to=[&room_type=].
func (h *setupHandler) availability(c *gin.Context) {
	p, ok := h.property(c, h.store)
	if !ok {
		return
	}
	fe := booking.FieldErrors{}
	from := parseDateField(fe, "from", c.Query("from"))
	to := parseDateField(fe, "to", c.Query("to"))
	if from != 0 && to != 0 {
		booking.ValidateRange(fe, "from", "to", from, to)
	}
	roomType, filtered := c.GetQuery("room_type")
	if filtered {
		validPathID(fe, "room_type", roomType)
	}
	if err := fe.Err(); err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	var roomTypes []string
	if filtered {
		roomTypes = []string{roomType}
	} else {
		rts, err := h.store.ListRoomTypes(ctx, p.Tenant, p.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		for _, rt := range rts {
			roomTypes = append(roomTypes, rt.ID)
		}
	}
	out := availabilityResponse{Property: p.ID, From: from, To: to, RoomTypes: []booking.RoomTypeAvailability{}}
	if len(roomTypes) > 0 {
		av, err := h.engine.Availability(ctx, p.Tenant, p.ID, roomTypes, from, to)
		if err != nil {
			h.fail(c, err)
			return
		}
		if av != nil {
			out.RoomTypes = av
		}
	}
	h.ok(c, http.StatusOK, out)
}
