// Package gateway is Staylock's HTTP API (gin): authentication and roles,
// request decoding and validation, idempotency keys, the calls into the
// engine and the store, one JSON error shape, and the operational endpoints
// (liveness, readiness, health, metrics).
//
// Every route is declared once in Server.routes with the access it needs, so
// that tests can enumerate them all (Server.Routes, export_test.go): each
// is guarded, and the table is docs/openapi.yaml's list of operations, in
// both directions.
package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/jobs"
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

	// now is the clock of the booking window: which nights a property
	// sells (from its local today, within its horizon); nil is time.Now.
	// Only tests set it (WithClock in export_test.go), to a fixed instant
	// so that their dates stay bookable.
	now func() time.Time
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
	if opts.now == nil {
		opts.now = time.Now
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
		store:   newPropertyCache(store, propertyCacheMax, propertyTTL),
		engine:  engine,
		log:     log,
		opts:    opts,
		keys:    newKeyCache(store, keyCacheMax, keyCacheTTL),
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

// Close ends every stream connection (close code 1001) and waits for their
// goroutines; call it after the HTTP server has stopped taking requests.
// Hijacked WebSocket connections are not closed by http.Server.Shutdown.
func (s *Server) Close() { s.hub.close() }
