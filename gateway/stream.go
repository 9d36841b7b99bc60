package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/persistence"
)

// Defaults of StreamOptions.
const (
	DefaultStreamMaxSubscriptions = 20
	DefaultStreamSendQueue        = 256
	DefaultStreamWriteTimeout     = 10 * time.Second
	DefaultStreamPingInterval     = 20 * time.Second
	DefaultStreamPongWait         = 45 * time.Second
	DefaultStreamReadLimit        = 4096
	DefaultStreamKeyRecheck       = time.Minute
	// streamLoadConcurrency bounds the snapshots read at once per node.
	streamLoadConcurrency = 32
	// streamLoadTimeout bounds one snapshot read.
	streamLoadTimeout = 10 * time.Second
	// streamMaxParked bounds the deltas kept for a subscription while its
	// snapshot loads; past it, the snapshot is read again.
	streamMaxParked = 4096
)

// StreamOptions configure the live availability stream (GET /v1/stream,
// POST /v1/stream-tokens). Zero values take the defaults.
type StreamOptions struct {
	// Bus brings the committed deltas of every node; nil serves snapshots
	// only (no deltas ever arrive). `staylock serve` always sets one.
	Bus notify.Bus
	// SigningKey signs new stream tokens (APP_KEY); VerifyKeys are accepted
	// (APP_KEY and, during a rotation, APP_KEY_NEXT).
	// Without keys a random one is made: tokens then work on this node only.
	SigningKey []byte
	VerifyKeys [][]byte
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages may
	// open the stream; a request without Origin (not a browser) is allowed.
	AllowedOrigins []string
	// Once makes stream tokens one-use; with Redis it holds across nodes.
	// nil keeps used tokens in this process's memory.
	Once OnceStore
	// MaxSubscriptions caps the properties one connection subscribes to.
	MaxSubscriptions int
	// SendQueue caps the messages waiting for a connection (deltas of one
	// room type coalesce into one); a connection past it is closed (1013).
	SendQueue int
	// WriteTimeout bounds one write to a client; a client that does not
	// take a message for this long is closed (1013). It also bounds how
	// long a queued message may wait.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings; a client that has not
	// answered (nor sent anything) for PongWait is closed (1013).
	PingInterval time.Duration
	PongWait     time.Duration
	// ReadLimit is the largest client message in bytes; larger closes the
	// connection (1009).
	ReadLimit int64
	// KeyRecheck is how often open streams are checked against revoked
	// keys; a stream whose key was revoked is closed (1008).
	KeyRecheck time.Duration
}

// OnceStore records one-use ids (stream tokens) for ttl. ClaimOnce reports
// false when id was claimed before. notify.Redis implements it.
type OnceStore interface {
	ClaimOnce(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

func (o *StreamOptions) withDefaults() {
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = DefaultStreamMaxSubscriptions
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultStreamSendQueue
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultStreamWriteTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultStreamPingInterval
	}
	if o.PongWait <= 0 {
		o.PongWait = DefaultStreamPongWait
	}
	o.PongWait = max(o.PongWait, o.PingInterval+o.PingInterval/2)
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultStreamReadLimit
	}
	if o.KeyRecheck <= 0 {
		o.KeyRecheck = DefaultStreamKeyRecheck
	}
	if o.Once == nil {
		o.Once = newMemoryOnce()
	}
}

// propKey names the subscriptions of one tenant's property.
type propKey struct{ tenant, property string }

// hub fans committed deltas out to the WebSocket connections subscribed
// to their property.
//
// Lock order: hub.mu before streamConn.mu; nothing is called with a
// streamConn.mu held that takes hub.mu.
type hub struct {
	store   persistence.Store
	engine  Engine
	log     *zap.Logger
	debug   bool
	opts    StreamOptions
	tokens  *tokenSigner
	origins map[string]bool
	metrics *streamMetrics
	loadSem chan struct{}
	unsub   func()

	mu       sync.RWMutex
	byProp   map[propKey]map[*streamSub]struct{}
	conns    map[*streamConn]struct{}
	closed   bool
	checking bool           // the revoked-key checker runs
	stop     chan struct{}  // closed by close: stops the checker
	wg       sync.WaitGroup // every goroutine of every connection, and the checker
}

func newHub(store persistence.Store, engine Engine, log *zap.Logger, debug bool, opts StreamOptions, reg *prometheus.Registry) *hub {
	opts.withDefaults()
	h := &hub{
		store: store, engine: engine, log: log.With(zap.String("component", "stream")), debug: debug, opts: opts,
		tokens:  newTokenSigner(opts.SigningKey, opts.VerifyKeys),
		origins: map[string]bool{},
		metrics: newStreamMetrics(reg, opts.Bus),
		loadSem: make(chan struct{}, streamLoadConcurrency),
		byProp:  map[propKey]map[*streamSub]struct{}{},
		conns:   map[*streamConn]struct{}{},
		stop:    make(chan struct{}),
	}
	for _, o := range opts.AllowedOrigins {
		if n, ok := normalizeOrigin(o); ok {
			h.origins[n] = true
		}
	}
	if opts.Bus != nil {
		h.unsub = opts.Bus.Subscribe(notify.Handler{Deltas: h.onDeltas, Lost: h.onLost})
	}
	return h
}

// onDeltas hands each delta to the connections subscribed to its
// property. It runs on the bus goroutine and never blocks: each connection
// queues or coalesces under its own short lock.
func (h *hub) onDeltas(batch []booking.AvailabilityDelta) {
	now := time.Now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range batch {
		d := &batch[i]
		subs := h.byProp[propKey{d.Tenant, d.Property}]
		if len(subs) == 0 {
			continue
		}
		// Most connections send this delta as it is: encode it once.
		shared := &sharedDelta{msg: deltaMsg{Type: "delta", Property: d.Property, RoomType: d.RoomType,
			PrevSeq: d.PrevSeq, Seq: d.Seq, Nights: d.Nights}}
		for sub := range subs {
			sub.conn.offer(sub, d, shared, now)
		}
	}
}

// sharedDelta is one delta as every connection that sends it unchanged
// sends it: encoded and framed once, by the first writer that needs it.
type sharedDelta struct {
	msg  deltaMsg
	once sync.Once
	pm   *websocket.PreparedMessage
	err  error
}

func (s *sharedDelta) prepared() (*websocket.PreparedMessage, error) {
	s.once.Do(func() {
		var data []byte
		if data, s.err = json.Marshal(&s.msg); s.err == nil {
			s.pm, s.err = websocket.NewPreparedMessage(websocket.TextMessage, data)
		}
	})
	return s.pm, s.err
}

// onLost: the bus may have missed deltas, so every subscription reads its
// snapshot again.
func (h *hub) onLost() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, subs := range h.byProp {
		for sub := range subs {
			sub.conn.reload(sub)
		}
	}
}

// register adds a connection and counts its reader and writer in h.wg;
// false when the hub is closed.
func (h *hub) register(c *streamConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(2)
	h.conns[c] = struct{}{}
	if !h.checking && h.store != nil {
		h.checking = true
		h.wg.Add(1)
		go h.checkKeys()
	}
	h.metrics.connections.Inc()
	return true
}

func (h *hub) unregister(c *streamConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	h.metrics.connections.Dec()
}

// watch and unwatch put a subscription into the fan-out index.
func (h *hub) watch(sub *streamSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := propKey{sub.conn.tenant, sub.property}
	if h.byProp[k] == nil {
		h.byProp[k] = map[*streamSub]struct{}{}
	}
	h.byProp[k][sub] = struct{}{}
	h.metrics.subscriptions.Inc()
}

func (h *hub) unwatch(sub *streamSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := propKey{sub.conn.tenant, sub.property}
	if _, ok := h.byProp[k][sub]; !ok {
		return
	}
	delete(h.byProp[k], sub)
	if len(h.byProp[k]) == 0 {
		delete(h.byProp, k)
	}
	h.metrics.subscriptions.Dec()
}

// close ends every connection (1001 going away) and waits for their
// goroutines.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.stop)
	conns := make([]*streamConn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	if h.unsub != nil {
		h.unsub()
	}
	for _, c := range conns {
		c.end(closeGoingAway, "server shutting down")
	}
	h.wg.Wait()
}

// checkKeys closes, every KeyRecheck, the streams whose key has been
// revoked since they opened (with a token: the key that made the token).
// It starts with the first connection and stops with the hub.
func (h *hub) checkKeys() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.KeyRecheck)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		keys, err := h.store.ListAPIKeys(ctx)
		cancel()
		if err != nil {
			h.log.Warn("stream key check failed", zap.Error(err))
			continue
		}
		revoked := map[string]bool{}
		for _, k := range keys {
			if k.RevokedAt != nil {
				revoked[k.ID] = true
			}
		}
		h.mu.RLock()
		for c := range h.conns {
			if revoked[c.keyID] {
				c.end(closePolicy, "API key revoked")
			}
		}
		h.mu.RUnlock()
	}
}

// streamMetrics are the stream's Prometheus metrics.
type streamMetrics struct {
	connections   prometheus.Gauge
	subscriptions prometheus.Gauge
	sent          prometheus.Counter
	coalesced     prometheus.Counter
	snapshots     prometheus.Counter
	dropped       *prometheus.CounterVec
	latency       prometheus.Histogram
}

// Reasons a client is dropped, the label of hotel_stream_clients_dropped_total.
const (
	dropSlowWrite = "write_timeout"
	dropNoPong    = "pong_timeout"
	dropQueueFull = "queue_full"
	dropLagging   = "lagging"
)

func newStreamMetrics(reg *prometheus.Registry, bus notify.Bus) *streamMetrics {
	m := &streamMetrics{}
	m.connections = metricsreg.RegisterOrReuse(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hotel_stream_connections", Help: "Open WebSocket stream connections."}))
	m.subscriptions = metricsreg.RegisterOrReuse(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hotel_stream_subscriptions", Help: "Property subscriptions of open stream connections."}))
	m.sent = metricsreg.RegisterOrReuse(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotel_stream_deltas_sent_total", Help: "Delta messages written to stream clients."}))
	m.coalesced = metricsreg.RegisterOrReuse(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotel_stream_deltas_coalesced_total", Help: "Deltas merged into one still queued for the same client and room type."}))
	m.snapshots = metricsreg.RegisterOrReuse(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hotel_stream_snapshots_total", Help: "Snapshot messages written to stream clients (subscribe, gap repair)."}))
	m.dropped = metricsreg.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotel_stream_clients_dropped_total", Help: "Stream clients closed for being too slow, by reason."}, []string{"reason"}))
	for _, r := range []string{dropSlowWrite, dropNoPong, dropQueueFull, dropLagging} {
		m.dropped.WithLabelValues(r)
	}
	m.latency = metricsreg.RegisterOrReuse(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hotel_stream_commit_to_send_seconds",
		Help:    "From an actor's commit to the delta's write to a stream client.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}))
	if bus != nil {
		for _, c := range []struct {
			event string
			get   func(notify.Stats) uint64
		}{
			{"published", func(s notify.Stats) uint64 { return s.Published }},
			{"coalesced", func(s notify.Stats) uint64 { return s.Coalesced }},
			{"dropped", func(s notify.Stats) uint64 { return s.Dropped }},
			{"delivered", func(s notify.Stats) uint64 { return s.Delivered }},
			{"sent", func(s notify.Stats) uint64 { return s.Sent }},
			{"received", func(s notify.Stats) uint64 { return s.Received }},
		} {
			metricsreg.RegisterOrReuse(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "hotel_bus_deltas_total", Help: "Deltas through the bus by event.",
				ConstLabels: prometheus.Labels{"event": c.event},
			}, func() float64 { return float64(c.get(bus.Stats())) }))
		}
	}
	return m
}
