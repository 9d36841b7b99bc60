package gateway

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Path parameters: ids the client chose (properties, room types, webhooks)
// and ids this API issued (reservations, holds), validated before anyone
// is asked; a malformed one is answered 400 naming the parameter and is
// never echoed back.

// pathIDs validates the client-chosen ids of the path, named by field.
func (r responder) pathIDs(c *gin.Context, fields ...string) ([]string, bool) {
	fe := booking.FieldErrors{}
	ids := make([]string, len(fields))
	for i, f := range fields {
		ids[i] = c.Param(f)
		validPathID(fe, f, ids[i])
	}
	if err := fe.Err(); err != nil {
		r.fail(c, err)
		return nil, false
	}
	return ids, true
}

// property validates :property and loads it from the caller's tenant; a
// property of another tenant is not found.
func (r responder) property(c *gin.Context, store persistence.Store) (booking.Property, bool) {
	ids, ok := r.pathIDs(c, "property")
	if !ok {
		return booking.Property{}, false
	}
	p, err := store.GetProperty(c.Request.Context(), tenantOf(c), ids[0])
	if errors.Is(err, persistence.ErrNotFound) {
		err = booking.NotFound(booking.KindProperty, ids[0])
	}
	if err != nil {
		r.fail(c, err)
		return booking.Property{}, false
	}
	return p, true
}

// validPathID checks a client-chosen id from the path, recording field.
func validPathID(fe booking.FieldErrors, field, id string) {
	if !booking.ValidID(id) {
		fe.Add(field, booking.IDRule)
	}
}

// opaqueIDRule explains validOpaqueID, for error messages.
const opaqueIDRule = "must be an id this API issued: ^[A-Za-z0-9_-]{1,80}$"

// validOpaqueID tells whether a server-made id (r_…, h_…) is well formed:
// a malformed one is refused (400) before anyone is asked and is never
// echoed back.
func validOpaqueID(id string) bool {
	if id == "" || len(id) > 80 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// opaquePathID reads the server-made id of path parameter field: a
// malformed one is answered 400 naming the field; one of another kind
// (its prefix is not prefix) cannot exist and is answered 404.
func (r responder) opaquePathID(c *gin.Context, field, kind, prefix string) (string, bool) {
	id := c.Param(field)
	if !validOpaqueID(id) {
		fe := booking.FieldErrors{}
		fe.Add(field, opaqueIDRule)
		r.fail(c, fe.Err())
		return "", false
	}
	if !strings.HasPrefix(id, prefix) {
		r.fail(c, booking.NotFound(kind, id))
		return "", false
	}
	return id, true
}
