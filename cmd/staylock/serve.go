package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/config"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/persistence"
)

// newLogger returns readable console logs in local and JSON elsewhere.
func newLogger(cfg config.Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	zc := zap.NewProductionConfig()
	if cfg.IsLocal() {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	return zc.Build()
}

// runServe runs the server until cmd.Context() is cancelled (SIGINT,
// SIGTERM). cfg is valid and the schema current when it is called.
// Shutdown order: stop being ready, stop intake and finish in-flight
// requests (each answered only after its commit), then leave the cluster
// (peers stop routing here) and passivate the actors (each answers what it
// took first), then close the database. A node that lost its membership
// (node.Evicted) shuts down the same way and exits non-zero.
func runServe(cmd *cobra.Command, cfg config.Config) error {
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx := cmd.Context()

	store, err := persistence.Open(ctx, cfg.DBURL, cfg.StoragePath)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() { _ = store.Close() }()
	if cfg.MemoryStore() {
		log.Warn("DB_URL=memory://: the in-memory store keeps NOTHING; every booking, key and property is lost when the process stops. For benchmarks only (refused when APP_ENV=production)")
		// `keys create` runs in another process and could not reach this
		// store, so the memory mode makes its one admin key itself.
		secret, err := createBenchKey(ctx, store)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "In-memory store: admin key for tenant bench: %s\n", secret)
	}

	bus, once, err := newBus(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = bus.Close() }()

	// Which tenants have webhooks: the outbox writes fan-out jobs for them.
	hooks := &jobs.WebhookTenants{}
	if !cfg.MemoryStore() {
		if err := hooks.Refresh(ctx, store); err != nil {
			return fmt.Errorf("read webhook endpoints: %w", err)
		}
		go hooks.Run(ctx, store, webhookRefresh, log)
	}

	// One registry for the gateway's and the cluster's metrics.
	reg := metricsreg.NewRegistry()

	node, err := cluster.Start(store, cluster.Options{
		Provider: cfg.ClusterProvider, Bind: cfg.ClusterBind, Seeds: cfg.ClusterSeeds, EtcdEndpoints: cfg.EtcdEndpoints,
		Logger: log, Registry: reg,
		Actor: actors.Options{SnapshotEvery: int64(cfg.SnapshotEvery), MaxBatch: cfg.MaxBatch, IdleTimeout: cfg.ActorIdleTimeout,
			JoinCommits: cfg.CommitJoin, CommitSlots: cfg.CommitSlots,
			GroupCommit: cfg.GroupCommit, IdempotencyTTL: cfg.IdempotencyTTL, OnCommit: bus.Publish,
			Outbox: outbox(cfg, hooks)},
	})
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	defer node.Shutdown(false)
	engine := actors.NewCoordinator(node, store, node.RequestTimeout(), log)

	adminJobs, err := jobUI(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	limit, closeLimit, err := rateLimit(cfg)
	if err != nil {
		return err
	}
	defer closeLimit()
	srv := gateway.New(store, engine, log, gateway.Options{
		BodyLimit: int64(cfg.BodyLimit), IdempotencyTTL: cfg.IdempotencyTTL, Version: Version(),
		Debug: cfg.Debug, Local: cfg.IsLocal(), Registry: reg,
		Stream: gateway.StreamOptions{Bus: bus, Once: once, SigningKey: cfg.SigningKey(), VerifyKeys: cfg.VerifyKeys(),
			AllowedOrigins: cfg.CORSAllowedOrigins},
		RateLimit: limit, AdminTenant: cfg.AdminTenant, AdminJobs: adminJobs,
		WebhookMaxAttempts: cfg.Jobs.WebhookMaxAttempts,
		WebhooksChanged:    func(ctx context.Context) error { return hooks.Refresh(ctx, store) },
	})
	srv.AddSoftCheck("bus", bus.Check)
	if !cfg.MemoryStore() {
		// Jobs waiting longer than a rescue would take mean no worker runs.
		srv.AddQueueCheck(cfg.Jobs.RescueAfter)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go srv.Watch(watchCtx, keyNodeName(ln.Addr()))
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(gateway.Listener(ln)) }()

	stopQueue, err := serveQueue(ctx, cfg, store, engine, log, reg)
	if err != nil {
		return err
	}
	defer stopQueue()

	if n, err := engine.WakeHeldRoomTypes(ctx); err != nil {
		log.Warn("could not wake room types with holds", zap.Error(err))
	} else if n > 0 {
		log.Info("woke room types with holds", zap.Int("room_types", n))
	}

	url := listenURL(ln.Addr())
	log.Info("staylock serving", zap.String("url", url), zap.String("app_url", cfg.URL), zap.String("env", cfg.Env),
		zap.String("database", persistence.Backend(cfg.DBURL)), zap.String("version", Version()),
		zap.Float64("rate_limit", cfg.RateLimit))
	fmt.Fprintf(cmd.OutOrStdout(), "Staylock is listening on %s\n", url)
	if strings.TrimSuffix(cfg.URL, "/") != url {
		fmt.Fprintf(cmd.OutOrStdout(), "Its public URL (APP_URL) is %s\n", cfg.URL)
	}
	if cfg.IsLocal() {
		fmt.Fprintf(cmd.OutOrStdout(), "Create an API key: go run ./cmd/staylock keys create --tenant demo --role admin\n")
	}

	var evicted error
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	case <-node.Evicted():
		// Peers have moved this node's room types: it refuses all actor
		// work, stops being ready, keeps /metrics up a moment for a last
		// scrape, and exits non-zero so its supervisor starts a fresh
		// member (protoactor never takes an evicted member id back).
		evicted = node.EvictedErr()
		srv.SetDraining(true)
		settle(ctx, evictedLinger)
	}
	log.Info("shutting down: draining requests")
	srv.SetDraining(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown incomplete", zap.Error(err))
	}
	srv.Close() // WebSocket streams: close 1001, clients reconnect elsewhere
	stopQueue() // the emails in hand finish (or are retried at the next start)
	// Leave the cluster gracefully (peers stop routing here, then every
	// actor passivates after answering what it took); an evicted node has
	// nothing left to hand over.
	node.Shutdown(evicted == nil)
	if evicted != nil {
		st := node.Stats()
		log.Error("stopped after losing cluster membership", zap.Error(evicted),
			zap.Int64("fenced_by_store", st.FencedByStore), zap.Int64("fenced_after_eviction", st.FencedByEvicted),
			zap.Int64("refused_after_eviction", st.RefusedEvicted))
		return fmt.Errorf("cluster membership lost; restart this node: %w", evicted)
	}
	log.Info("stopped")
	return nil
}

// listenURL is the address the server listens on as a URL a person can
// click: a listener on every interface (":8080", "0.0.0.0", "[::]") is
// reached on this machine as localhost; a named host stays as it is.
func listenURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// rateLimit is the gateway's per-key limit from RATE_LIMIT and
// RATE_LIMIT_BURST, its buckets in Redis when REDIS_URL is set (shared by
// every node). closeClient releases the Redis client.
func rateLimit(cfg config.Config) (o gateway.RateLimitOptions, closeClient func(), err error) {
	o = gateway.RateLimitOptions{Rate: cfg.RateLimit, Burst: cfg.RateLimitBurst}
	if cfg.RateLimit <= 0 || cfg.RedisURL == "" {
		return o, func() {}, nil
	}
	ro, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return o, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(ro)
	o.Redis = client
	return o, func() { _ = client.Close() }, nil
}

// evictedLinger is how long an evicted node keeps answering (503, and
// /metrics) before it exits.
const evictedLinger = 2 * time.Second

// settle waits d or until ctx ends.
func settle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// servePprof serves the Go profiler on its own listener, never on the API's.
func servePprof(addr string, log *zap.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof serving", zap.String("addr", ln.Addr().String()))
	return func() { _ = srv.Close() }, nil
}

// newBus builds the delta bus: Redis pub/sub with REDIS_URL (its one-use
// claims shared by every node), else in-process (once is then nil: the
// gateway keeps used stream tokens in memory).
func newBus(cfg config.Config, log *zap.Logger) (notify.Bus, gateway.OnceStore, error) {
	if cfg.RedisURL == "" {
		return notify.NewLocal(notify.LocalOptions{}), nil, nil
	}
	redis.SetLogger(redisLogger{log.Named("redis")})
	b, err := notify.NewRedis(cfg.RedisURL, notify.RedisOptions{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return b, b, nil
}

// redisLogger routes go-redis's own messages (dial retries) into zap, at
// debug level: the bus logs outages itself, once.
type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client", zap.String("message", fmt.Sprintf(format, v...)))
}

// createBenchKey makes tenant "bench" and an admin key in a fresh store.
func createBenchKey(ctx context.Context, store persistence.Store) (string, error) {
	if _, err := store.EnsureTenant(ctx, "bench"); err != nil {
		return "", fmt.Errorf("create tenant bench: %w", err)
	}
	id, secret, hash := auth.NewAPIKey()
	if err := store.CreateAPIKey(ctx, persistence.APIKey{ID: id, Tenant: "bench", Role: booking.RoleAdmin,
		Name: "bench (in-memory store)", Hash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		return "", fmt.Errorf("create bench key: %w", err)
	}
	return secret, nil
}

// keyNodeName names this process in key revocation confirmations: host,
// HTTP port and a random suffix, so that a restarted node is a new name (the
// old one ages out of `keys revoke`'s live window).
func keyNodeName(addr net.Addr) string {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(addr.String())
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%s#%x", host, port, b)
}

// serveQueue runs the job queue inside serve: on the embedded SQLite store
// all of it (one node: the emails, the webhooks, the periodic jobs); on
// Postgres only the engine queue (the hold sweep, which needs this node's
// actors), the rest being `staylock worker`'s and `staylock scheduler`'s.
// The memory store has none. stop is idempotent.
func serveQueue(ctx context.Context, cfg config.Config, store persistence.Store, engine jobs.Engine, log *zap.Logger, reg *prometheus.Registry) (stop func(), err error) {
	if cfg.MemoryStore() {
		return func() {}, nil
	}
	jobs.RegisterQueueCollector(reg, store)
	role := jobs.RoleEmbedded
	if _, embedded := store.(*persistence.SQLiteStore); !embedded {
		role = jobs.RoleNode
		log.Info("emails and webhooks are sent by `staylock worker`, periodic jobs enqueued by `staylock scheduler`")
	}
	q, err := newQueue(cfg, store, role, engine, log, reg)
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- runQueue(qctx, q, cfg.ShutdownTimeout, log) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				log.Warn("job queue", zap.Error(err))
			}
		})
	}, nil
}
