package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/jobs/webhook"
)

// access is what a route requires of the caller.
type access int

const (
	accessPublic access = iota // no key (operations endpoints)
	accessRead                 // any role
	accessBook                 // admin or channel: availability, holds, reservations
	accessAdmin                // admin only: setup
	accessGuests               // admin or channel: reads that carry guests' personal data (reservations)
	accessStream               // any role, by bearer key or stream token, from an allowed Origin
)

// route is one entry of the declared route table.
type route struct {
	method string
	path   string
	access access
	handle gin.HandlerFunc
}

// routes is the one table of everything the API serves.
func (s *Server) routes() []route {
	r := responder{log: s.log, debug: s.opts.Debug, limit: s.opts.BodyLimit}
	clk := clock{now: s.opts.now, zones: &zones{}}
	setup := &setupHandler{responder: r, store: s.store, engine: s.engine, idem: s.idem, clock: clk}
	res := &reservationHandler{responder: r, store: s.store, engine: s.engine, idem: s.idem, metrics: s.metrics, clock: clk}
	holds := &holdHandler{responder: r, store: s.store, engine: s.engine, idem: s.idem, clock: clk}
	ops := &opsHandler{server: s}
	dash := &dashboardHandler{}
	hooks := &webhookHandler{responder: r, store: s.store, idem: s.idem, onChange: s.opts.WebhooksChanged,
		policy:      webhook.URLPolicy{AllowPrivate: s.opts.Local},
		maxAttempts: s.opts.WebhookMaxAttempts}
	return []route{
		{http.MethodGet, "/livez", accessPublic, ops.livez},
		{http.MethodGet, "/readyz", accessPublic, ops.readyz},
		{http.MethodGet, "/health", accessPublic, ops.health},
		{http.MethodGet, "/metrics", accessPublic, ops.metrics},
		{http.MethodGet, "/", accessPublic, dash.index},
		{http.MethodGet, "/assets/*file", accessPublic, dash.asset},

		{http.MethodGet, "/v1/properties", accessRead, setup.listProperties},
		{http.MethodPut, "/v1/properties/:property", accessAdmin, setup.putProperty},
		{http.MethodGet, "/v1/properties/:property", accessRead, setup.getProperty},
		{http.MethodGet, "/v1/properties/:property/room-types", accessRead, setup.listRoomTypes},
		{http.MethodPut, "/v1/properties/:property/room-types/:room_type", accessAdmin, setup.putRoomType},
		{http.MethodGet, "/v1/properties/:property/room-types/:room_type", accessRead, setup.getRoomType},
		{http.MethodPost, "/v1/properties/:property/inventory", accessAdmin, setup.updateInventory},
		{http.MethodGet, "/v1/properties/:property/availability", accessRead, setup.availability},

		{http.MethodPost, "/v1/properties/:property/reservations", accessBook, res.create},
		{http.MethodGet, "/v1/properties/:property/reservations", accessGuests, res.list},
		{http.MethodGet, "/v1/reservations/:reservation", accessGuests, res.get},
		{http.MethodGet, "/v1/reservations/:reservation/notifications", accessGuests, res.notifications},
		{http.MethodPatch, "/v1/reservations/:reservation", accessBook, res.modify},
		{http.MethodPost, "/v1/reservations/:reservation/cancel", accessBook, res.cancel},

		{http.MethodPost, "/v1/properties/:property/holds", accessBook, holds.create},
		{http.MethodDelete, "/v1/holds/:hold", accessBook, holds.release},

		{http.MethodGet, "/v1/webhooks", accessAdmin, hooks.list},
		{http.MethodPut, "/v1/webhooks/:webhook", accessAdmin, hooks.put},
		{http.MethodGet, "/v1/webhooks/:webhook", accessAdmin, hooks.get},
		{http.MethodDelete, "/v1/webhooks/:webhook", accessAdmin, hooks.delete},
		{http.MethodPost, "/v1/webhooks/:webhook/rotate-secret", accessAdmin, hooks.rotateSecret},
		{http.MethodGet, "/v1/webhooks/:webhook/deliveries", accessAdmin, hooks.deliveries},
		{http.MethodPost, "/v1/webhooks/:webhook/deliveries/:delivery/retry", accessAdmin, hooks.retry},

		{http.MethodPost, "/v1/stream-tokens", accessRead, s.hub.createToken},
		{http.MethodGet, "/v1/stream", accessStream, s.hub.serve},
	}
}

func (s *Server) buildRouter() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.HandleMethodNotAllowed = true
	g.RedirectTrailingSlash = false
	g.RedirectFixedPath = false
	_ = g.SetTrustedProxies(nil) // nil cannot fail; client IPs come from the socket

	g.Use(s.requestID, s.observe, s.recover, securityHeaders, s.corsHandler(s.opts.Stream.AllowedOrigins))
	g.NoRoute(func(c *gin.Context) {
		writeError(c, s.log, s.opts.Debug, errNoRoute(c))
	})
	g.NoMethod(func(c *gin.Context) {
		writeError(c, s.log, s.opts.Debug, errNoMethod(c))
	})
	limit := s.rateLimitKey()
	for _, rt := range s.routes() {
		chain := []gin.HandlerFunc{}
		switch rt.access {
		case accessPublic:
		case accessStream:
			chain = append(chain, s.maintenanceGate, s.streamAuth, limit, authorize(rt.access))
		default:
			chain = append(chain, s.maintenanceGate, s.authenticate, limit, authorize(rt.access))
		}
		chain = append(chain, rt.handle)
		g.Handle(rt.method, rt.path, chain...)
	}
	s.mountAdmin(g)
	return g
}
