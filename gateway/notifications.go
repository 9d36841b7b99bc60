package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
)

// notification is one message sent (or to be sent) about a reservation.
type notification struct {
	Channel   string    `json:"channel"` // email, webhooks
	Event     string    `json:"event"`   // confirmed, modified, cancelled
	Version   int       `json:"version"`
	State     string    `json:"state"` // River's job state: available, running, retryable, completed, cancelled, discarded, …
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"` // admin keys only: it may name internal hosts
	CreatedAt time.Time `json:"created_at"`
}

type notificationsResponse struct {
	Notifications []notification `json:"notifications"`
}

// notifications: GET /v1/reservations/{id}/notifications → the emails of a
// reservation and where each stands (support's "was it sent?", the smoke
// test's proof that the queue runs).
func (h *reservationHandler) notifications(c *gin.Context) {
	id, ok := h.reservationID(c)
	if !ok {
		return
	}
	if _, ok := h.lookup(c, id); !ok { // the tenant owns it, or 404
		return
	}
	jobs, err := h.store.ReservationJobs(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	key, _ := apiKeyOf(c)
	out := notificationsResponse{Notifications: []notification{}}
	for _, j := range jobs {
		rest := strings.TrimPrefix(j.Key, id+".")
		event, ver, _ := strings.Cut(rest, ".v")
		v, _ := strconv.Atoi(ver)
		channel := "email"
		if j.Kind == "webhook_fanout" {
			channel = "webhooks" // handed to the tenant's endpoints: see GET /v1/webhooks/{id}/deliveries
		}
		n := notification{Channel: channel, Event: event, Version: v, State: j.State, Attempts: j.Attempts, CreatedAt: j.CreatedAt}
		if key.Role == booking.RoleAdmin {
			n.LastError = j.LastError
		}
		out.Notifications = append(out.Notifications, n)
	}
	h.ok(c, http.StatusOK, out)
}
