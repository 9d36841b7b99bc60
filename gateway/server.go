// Package gateway is Staylock's HTTP API (gin): authentication and roles,
// request decoding and validation, idempotency keys, the calls into the
// engine and the store, one JSON error shape, and the operational endpoints
// (liveness, readiness, health, metrics).
//
// Every route is declared once in Server.routes with the access it needs, so
// that tests can enumerate them all (Server.Routes): each is guarded, and
// the table is docs/openapi.yaml's list of operations, in both directions.
package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/jobs/webhook"
	"github.com/staylock/staylock/persistence"
)

// DefaultBodyLimit is Options.BodyLimit's default (BODY_LIMIT): 1 MiB.
const DefaultBodyLimit = 1 << 20

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// BodyLimit is the largest request body in bytes (default 1 MiB).
	BodyLimit int64
	// IdempotencyTTL is how long an Idempotency-Key's outcome is kept
	// (default persistence.DefaultIdempotencyTTL, never under
	// persistence.MinIdempotencyTTL).
	IdempotencyTTL time.Duration
	// Version is reported by /health.
	Version string
	// Debug puts the text of internal errors into responses. Never in
	// production.
	Debug bool
	// Local is for a developer's console: successful probes of the
	// operational endpoints are not logged at all (elsewhere they are
	// logged at debug level).
	Local bool
	// Registry receives the gateway's metrics and is served on /metrics;
	// nil makes a new one with the Go and process collectors.
	Registry *prometheus.Registry
	// Stream configures the live availability stream and its tokens.
	Stream StreamOptions
	// RateLimit is the per-API-key limit (429 rate_limited); off when zero.
	RateLimit RateLimitOptions
	// AdminJobs, when set with AdminTenant, is the operators' job UI
	// (River's), served under /admin/jobs to admin keys of AdminTenant only.
	AdminJobs   http.Handler
	AdminTenant string
	// WebhooksChanged, when set, is called after an endpoint is created or
	// deleted, so that this node's outbox starts (or stops) handing its
	// tenant's events to webhooks at once; other nodes follow at their next
	// refresh.
	WebhooksChanged func(ctx context.Context) error
	// WebhookMaxAttempts is the attempts of a delivery replayed through
	// the API (default 8, as WEBHOOK_MAX_ATTEMPTS).
	WebhookMaxAttempts int
	// KeyPoll is how often Watch reads the key generation
	// (default 250 ms): a revoked key stops working on this node within it.
	KeyPoll time.Duration
	// Now is the clock of the booking window: which nights a property
	// sells (from its local today, within its horizon). nil is time.Now;
	// tests set a fixed instant so that their dates stay bookable.
	Now func() time.Time
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	store  persistence.Store
	engine Engine
	log    *zap.Logger
	opts   Options

	router   *gin.Engine
	keys     *keyCache
	idem     *idempotency
	metrics  *metrics
	hub      *hub
	limiter  *rateLimiter // nil: no rate limit
	draining atomic.Bool
	// maintenance is the maintenance state, reloaded by Watch when the
	// key generation moves; nil until the first poll (off).
	maintenance atomic.Pointer[persistence.Maintenance]

	checksMu sync.RWMutex
	checks   []namedCheck
}

type namedCheck struct {
	name  string
	check func(ctx context.Context) error
	soft  bool // failing degrades, never fails, readiness
	// info, when set instead of check, also reports what it found.
	info func(ctx context.Context) (map[string]any, error)
}

// New builds a Server over its store and engine.
func New(store persistence.Store, engine Engine, log *zap.Logger, opts Options) *Server {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = persistence.DefaultIdempotencyTTL
	}
	opts.IdempotencyTTL = max(opts.IdempotencyTTL, persistence.MinIdempotencyTTL)
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WebhookMaxAttempts <= 0 {
		opts.WebhookMaxAttempts = jobs.DefaultWebhookMaxAttempts
	}
	if opts.KeyPoll <= 0 {
		opts.KeyPoll = DefaultKeyPoll
	}
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Registry == nil {
		opts.Registry = metricsreg.NewRegistry()
	}
	s := &Server{
		store:   newPropertyCache(store),
		engine:  engine,
		log:     log,
		opts:    opts,
		keys:    newKeyCache(store, keyCacheTTL),
		metrics: newMetrics(opts.Registry),
	}
	s.idem = &idempotency{store: store, ttl: opts.IdempotencyTTL, wait: idempotencyWait, poll: idempotencyPoll}
	s.hub = newHub(store, engine, log, opts.Debug, opts.Stream, opts.Registry)
	s.limiter = newRateLimiter(opts.RateLimit, opts.Registry, log)
	s.router = s.buildRouter()
	return s
}

// Handler is the http.Handler of the whole API.
func (s *Server) Handler() http.Handler { return s.router }

// Routes lists every route the API serves (method and path template).
func (s *Server) Routes() gin.RoutesInfo { return s.router.Routes() }

// Close ends every stream connection (close code 1001) and waits for their
// goroutines; call it after the HTTP server has stopped taking requests.
// Hijacked WebSocket connections are not closed by http.Server.Shutdown.
func (s *Server) Close() { s.hub.close() }

// SetDraining makes /readyz answer 503 {"status":"draining"} while set, so a
// load balancer stops sending new requests before shutdown.
func (s *Server) SetDraining(draining bool) { s.draining.Store(draining) }

// AddCheck adds a named hard check (queue, cluster membership): while it
// fails /readyz answers 503 and /health "failing", taking the node out of
// rotation. A check with the same name replaces the earlier one.
func (s *Server) AddCheck(name string, check func(ctx context.Context) error) {
	s.addCheck(namedCheck{name: name, check: check})
}

// AddSoftCheck adds a named check of a dependency the node serves without
// (the Redis bus: bookings go on, only other nodes' live deltas wait). While
// it fails the check reads "degraded" and so do /readyz's and /health's
// status, but /readyz stays 200: a Redis outage must not take every node
// out of the load balancer at once.
func (s *Server) AddSoftCheck(name string, check func(ctx context.Context) error) {
	s.addCheck(namedCheck{name: name, check: check, soft: true})
}

// AddQueueCheck adds the soft "queue" check: the jobs waiting per queue,
// the age of the oldest, the dead (discarded) ones; degraded while a job
// has waited longer than maxWait (no worker runs, or they cannot keep up).
func (s *Server) AddQueueCheck(maxWait time.Duration) {
	s.addCheck(namedCheck{name: "queue", soft: true, info: func(ctx context.Context) (map[string]any, error) {
		st, err := s.store.JobQueueStats(ctx)
		if err != nil {
			return nil, err
		}
		available, discarded, oldest := 0, 0, time.Duration(0)
		for _, n := range st.Available {
			available += n
		}
		for _, n := range st.Discarded {
			discarded += n
		}
		for _, d := range st.OldestAvailable {
			oldest = max(oldest, d)
		}
		info := map[string]any{"available": available, "oldest_available_seconds": math.Round(oldest.Seconds()*10) / 10,
			"discarded": discarded}
		if oldest > maxWait {
			return info, fmt.Errorf("a job has waited %s (more than %s): are the workers running?", oldest.Round(time.Second), maxWait)
		}
		return info, nil
	}})
}

func (s *Server) addCheck(c namedCheck) {
	s.checksMu.Lock()
	defer s.checksMu.Unlock()
	for i := range s.checks {
		if s.checks[i].name == c.name {
			s.checks[i] = c
			return
		}
	}
	s.checks = append(s.checks, c)
}

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
	clk := clock{now: s.opts.Now, zones: &zones{}}
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
