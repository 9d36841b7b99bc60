package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/notify"
	"github.com/staylock/staylock/persistence"
)

// WebSocket close codes the stream uses.
const (
	closeGoingAway  = websocket.CloseGoingAway       // 1001: server shutting down
	closeTooBig     = websocket.CloseMessageTooBig   // 1009: client message over the read limit
	closeTryLater   = websocket.CloseTryAgainLater   // 1013: client too slow; reconnect
	closePolicy     = websocket.ClosePolicyViolation // 1008: its key was revoked
	closeWriteGrace = time.Second                    // for the close frame itself
)

// Client message types.
const (
	msgSubscribe   = "subscribe"
	msgUnsubscribe = "unsubscribe"
)

// clientMsg is every message a client may send.
type clientMsg struct {
	Type     string `json:"type"`
	Property string `json:"property"`
	From     string `json:"from"`
	To       string `json:"to"`
}

type snapshotMsg struct {
	Type      string                         `json:"type"`
	Property  string                         `json:"property"`
	From      booking.Date                   `json:"from"`
	To        booking.Date                   `json:"to"`
	RoomTypes []booking.RoomTypeAvailability `json:"room_types"`
}

type deltaMsg struct {
	Type     string              `json:"type"`
	Property string              `json:"property"`
	RoomType string              `json:"room_type"`
	PrevSeq  int64               `json:"prev_seq"`
	Seq      int64               `json:"seq"`
	Nights   []booking.NightView `json:"nights"`
}

type errorMsg struct {
	Type  string         `json:"type"`
	Error *booking.Error `json:"error"`
}

// streamSub is one connection's subscription to one property. Every field
// but the constant ones is guarded by conn.mu.
type streamSub struct {
	conn     *streamConn
	property string
	from, to booking.Date

	loading     bool                        // a snapshot read is in flight: deltas park
	reloadAgain bool                        // read the snapshot once more when this one lands
	parked      []booking.AvailabilityDelta // deltas that arrived while loading
	chains      map[string]*chain
}

// chain is where one room type of a subscription stands.
type chain struct {
	last    int64   // the last seq accounted for (sent, coalesced or outside the range)
	sent    int64   // the seq the client was last told: the next delta's prev_seq
	pending *outMsg // this room type's delta not yet written, to coalesce into
}

// outMsg is one message queued for a client.
type outMsg struct {
	sub    *streamSub   // nil for messages of no subscription
	data   []byte       // encoded, for snapshots and errors
	delta  *deltaMsg    // encoded when written, so it can still coalesce
	shared *sharedDelta // the same delta encoded once for all, while unchanged
	at     time.Time    // commit time of the delta's first change
	queued time.Time
	taken  bool // handed to the writer: no more coalescing
}

// streamConn is one WebSocket client. A reader and a writer goroutine,
// plus one per snapshot read, all counted in hub.wg.
type streamConn struct {
	hub    *hub
	ws     *websocket.Conn
	tenant string
	keyID  string
	log    *zap.Logger
	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{} // closed when the connection ends
	wrote  chan struct{} // closed when the writer has closed the socket

	mu        sync.Mutex
	subs      map[string]*streamSub // by property
	out       []*outMsg
	ended     bool
	closeCode int
	closeText string
}

// errNotWebSocket answers a plain GET of the stream.
var errNotWebSocket = booking.Errorf(booking.CodeInvalid,
	"GET /v1/stream upgrades to a WebSocket: send Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and Sec-WebSocket-Key")

// serve upgrades GET /v1/stream; the caller is authenticated (key or
// token) and its Origin allowed.
func (h *hub) serve(c *gin.Context) {
	r := responder{log: h.log, debug: h.debug}
	if !websocket.IsWebSocketUpgrade(c.Request) {
		r.fail(c, errNotWebSocket)
		return
	}
	if id := c.GetString(ctxStreamToken); id != "" {
		ok, err := h.opts.Once.ClaimOnce(c.Request.Context(), "stream-token:"+id, streamTokenTTL+time.Minute)
		if err != nil {
			h.log.Warn("stream token claim failed", zap.Error(err))
			r.fail(c, booking.Errorf(booking.CodeUnavailable, "cannot check the stream token now; retry"))
			return
		}
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="staylock", error="invalid_token"`)
			r.fail(c, unauthorized(reasonTokenUsed, "this stream token was already used: get a new one from POST /v1/stream-tokens"))
			return
		}
	}
	up := websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before authentication
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := booking.CodeInvalid
			if status >= 500 {
				code = booking.CodeInternal
			}
			w.Header().Set("Content-Type", contentTypeJSON)
			w.WriteHeader(StatusOf(code))
			_, _ = w.Write(marshalError(booking.Errorf(code, "%s", reason.Error())))
		},
	}
	c.Writer.WriteHeader(http.StatusSwitchingProtocols) // the status the access log shows
	ws, err := up.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // Error answered
	}
	key, _ := apiKeyOf(c)
	ctx, cancel := context.WithCancel(context.Background())
	conn := &streamConn{
		hub: h, ws: ws, tenant: key.Tenant, keyID: key.ID, ctx: ctx, cancel: cancel,
		log:  h.log.With(zap.String("tenant", key.Tenant), zap.String("key", key.ID), zap.String("request_id", requestID(c))),
		wake: make(chan struct{}, 1), done: make(chan struct{}), wrote: make(chan struct{}),
		subs: map[string]*streamSub{},
	}
	if !h.register(conn) {
		cancel()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeGoingAway, "server shutting down"), time.Now().Add(closeWriteGrace))
		_ = ws.Close()
		return
	}
	conn.log.Debug("stream connected")
	go conn.readLoop()
	go conn.writeLoop()
}

// readLoop reads client messages until the connection ends, then cleans
// up once the writer is done.
func (c *streamConn) readLoop() {
	defer c.hub.wg.Done()
	defer c.cleanup()
	o := c.hub.opts
	c.ws.SetReadLimit(o.ReadLimit)
	_ = c.ws.SetReadDeadline(time.Now().Add(o.PongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(o.PongWait))
	})
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				c.end(closeTooBig, "message too big") // gorilla has sent 1009 already
			case errors.As(err, &ne) && ne.Timeout():
				c.drop(dropNoPong, "no pong: too slow or gone; reconnect")
			default:
				c.end(0, "")
			}
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(o.PongWait))
		if typ != websocket.TextMessage {
			c.sendError(booking.Errorf(booking.CodeInvalid, "send JSON text messages"))
			continue
		}
		c.handle(data)
	}
}

// cleanup runs when the reader has stopped: it waits for the writer, then
// removes the connection and its subscriptions from the hub.
func (c *streamConn) cleanup() {
	<-c.wrote
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		c.hub.unwatch(s)
	}
	c.hub.unregister(c)
	c.log.Debug("stream disconnected")
}

// handle acts on one client message.
func (c *streamConn) handle(data []byte) {
	var m clientMsg
	fe := booking.FieldErrors{}
	if !decodeStrict(fe, "", data, &m) {
		c.sendError(fe.Err())
		return
	}
	switch m.Type {
	case msgSubscribe:
		c.subscribe(m)
	case msgUnsubscribe:
		validPathID(fe, "property", m.Property)
		if err := fe.Err(); err != nil {
			c.sendError(err)
			return
		}
		c.mu.Lock()
		sub := c.subs[m.Property]
		if sub != nil {
			delete(c.subs, m.Property)
		}
		c.mu.Unlock()
		if sub != nil {
			c.hub.unwatch(sub)
		}
	default:
		fe.Add("type", "must be subscribe or unsubscribe")
		c.sendError(fe.Err())
	}
}

// subscribe validates m, enters the fan-out index (so no delta committed
// from now on is missed), then reads the snapshot; deltas up to the
// snapshot's seq are dropped.
func (c *streamConn) subscribe(m clientMsg) {
	fe := booking.FieldErrors{}
	validPathID(fe, "property", m.Property)
	from := parseDateField(fe, "from", m.From)
	to := parseDateField(fe, "to", m.To)
	if from != 0 && to != 0 {
		booking.ValidateRange(fe, "from", "to", from, to)
	}
	if err := fe.Err(); err != nil {
		c.sendError(err)
		return
	}
	sub := &streamSub{conn: c, property: m.Property, from: from, to: to, chains: map[string]*chain{}}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	old := c.subs[m.Property]
	if old == nil && len(c.subs) >= c.hub.opts.MaxSubscriptions {
		c.mu.Unlock()
		c.sendError(&booking.Error{Code: booking.CodeInvalid,
			Message: "too many subscriptions on this connection: unsubscribe first",
			Details: map[string]any{"max_subscriptions": c.hub.opts.MaxSubscriptions}})
		return
	}
	c.subs[m.Property] = sub
	c.mu.Unlock()
	if old != nil {
		c.hub.unwatch(old)
	}
	c.hub.watch(sub)
	c.mu.Lock()
	if c.active(sub) {
		c.startLoad(sub)
	}
	c.mu.Unlock()
}

// active tells whether sub is still this connection's subscription. c.mu held.
func (c *streamConn) active(sub *streamSub) bool {
	return !c.ended && c.subs[sub.property] == sub
}

// offer takes one delta of sub's property from the bus (shared: its
// encoding for every connection, or nil). It never blocks.
func (c *streamConn) offer(sub *streamSub, d *booking.AvailabilityDelta, shared *sharedDelta, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active(sub) {
		return
	}
	if sub.loading {
		switch {
		case sub.reloadAgain:
		case len(sub.parked) >= streamMaxParked:
			sub.parked, sub.reloadAgain = nil, true
		default:
			sub.parked = append(sub.parked, *d)
		}
		return
	}
	c.apply(sub, d, shared, now)
}

// apply advances sub's chain of d's room type and queues, or coalesces, the
// client's delta. c.mu held, sub not loading.
func (c *streamConn) apply(sub *streamSub, d *booking.AvailabilityDelta, shared *sharedDelta, now time.Time) {
	ch := sub.chains[d.RoomType]
	if ch == nil { // a room type new since the snapshot: its chain starts at 0
		ch = &chain{}
		sub.chains[d.RoomType] = ch
	}
	if d.Seq <= ch.last {
		return // in the snapshot already, or a duplicate
	}
	if d.PrevSeq != ch.last || d.AllNights {
		// Something was lost on the way (or every night changed): read the
		// snapshot again rather than send the client a broken chain.
		c.startLoad(sub)
		return
	}
	ch.last = d.Seq
	nights := nightsIn(d.Nights, sub.from, sub.to)
	if len(nights) == 0 {
		return // nothing in range; the next delta's prev_seq covers this one
	}
	if p := ch.pending; p != nil && !p.taken {
		p.delta.Seq = d.Seq
		p.delta.Nights = notify.MergeNights(p.delta.Nights, nights)
		p.shared = nil
		ch.sent = d.Seq
		c.hub.metrics.coalesced.Inc()
		return
	}
	m := &outMsg{sub: sub, at: d.At, queued: now, delta: &deltaMsg{Type: "delta", Property: sub.property,
		RoomType: d.RoomType, PrevSeq: ch.sent, Seq: d.Seq, Nights: nights}}
	if shared != nil && ch.sent == d.PrevSeq && len(nights) == len(d.Nights) {
		m.shared = shared
	}
	if c.queue(m, now) {
		ch.pending, ch.sent = m, d.Seq
	}
}

// nightsIn returns the part of date-sorted nights inside [from, to), sharing
// its array.
func nightsIn(nights []booking.NightView, from, to booking.Date) []booking.NightView {
	i := sort.Search(len(nights), func(i int) bool { return nights[i].Date >= from })
	j := sort.Search(len(nights), func(j int) bool { return nights[j].Date >= to })
	return nights[i:j:j]
}

// queue appends m for the writer, or drops the client when it is too far
// behind. c.mu held; it reports whether m was queued.
func (c *streamConn) queue(m *outMsg, now time.Time) bool {
	if c.ended {
		return false
	}
	o := c.hub.opts
	if len(c.out) > 0 && now.Sub(c.out[0].queued) > o.WriteTimeout {
		c.dropLocked(dropLagging, "too slow: reconnect")
		return false
	}
	if len(c.out) >= o.SendQueue {
		c.dropLocked(dropQueueFull, "too slow: reconnect")
		return false
	}
	c.out = append(c.out, m)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// reload reads sub's snapshot again (the bus may have lost deltas).
func (c *streamConn) reload(sub *streamSub) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active(sub) {
		c.startLoad(sub)
	}
}

// startLoad reads sub's snapshot in a goroutine; deltas park meanwhile.
// c.mu held.
func (c *streamConn) startLoad(sub *streamSub) {
	if sub.loading {
		sub.reloadAgain = true
		return
	}
	sub.loading, sub.reloadAgain, sub.parked = true, false, nil
	c.hub.wg.Add(1) // the connection's own goroutines keep the count above 0
	go c.load(sub)
}

func (c *streamConn) load(sub *streamSub) {
	defer c.hub.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, streamLoadTimeout)
	defer cancel()
	var snap *snapshotMsg
	var err error
	select {
	case c.hub.loadSem <- struct{}{}:
		snap, err = c.hub.snapshot(ctx, c.tenant, sub)
		<-c.hub.loadSem
	case <-ctx.Done():
		err = ctx.Err()
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(snap)
	}
	now := time.Now()
	c.mu.Lock()
	if !c.active(sub) {
		c.mu.Unlock()
		return
	}
	if err != nil {
		// The subscription ends; the client may subscribe again.
		delete(c.subs, sub.property)
		c.queue(&outMsg{data: c.errorData(err), queued: now}, now)
		c.mu.Unlock()
		c.hub.unwatch(sub)
		return
	}
	defer c.mu.Unlock()
	sub.chains = make(map[string]*chain, len(snap.RoomTypes))
	for _, rt := range snap.RoomTypes {
		sub.chains[rt.RoomType] = &chain{last: rt.Seq, sent: rt.Seq}
	}
	if !c.queue(&outMsg{sub: sub, data: data, queued: now}, now) {
		return
	}
	c.hub.metrics.snapshots.Inc()
	sub.loading = false
	parked := sub.parked
	sub.parked = nil
	if sub.reloadAgain {
		c.startLoad(sub)
		return
	}
	for i := range parked {
		if sub.loading || c.ended {
			if sub.loading {
				sub.parked = append(sub.parked, parked[i:]...)
			}
			return
		}
		c.apply(sub, &parked[i], nil, now)
	}
}

// snapshot reads the property's room types as of now.
func (h *hub) snapshot(ctx context.Context, tenant string, sub *streamSub) (*snapshotMsg, error) {
	if _, err := h.store.GetProperty(ctx, tenant, sub.property); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return nil, booking.NotFound(booking.KindProperty, sub.property)
		}
		return nil, err
	}
	rts, err := h.store.ListRoomTypes(ctx, tenant, sub.property)
	if err != nil {
		return nil, err
	}
	out := &snapshotMsg{Type: "snapshot", Property: sub.property, From: sub.from, To: sub.to,
		RoomTypes: []booking.RoomTypeAvailability{}}
	if len(rts) == 0 {
		return out, nil
	}
	ids := make([]string, len(rts))
	for i, rt := range rts {
		ids[i] = rt.ID
	}
	av, err := h.engine.Availability(ctx, tenant, sub.property, ids, sub.from, sub.to)
	if err != nil {
		return nil, err
	}
	if av != nil {
		out.RoomTypes = av
	}
	return out, nil
}

func (c *streamConn) errorData(err error) []byte {
	e := apiError(err, c.hub.debug)
	if StatusOf(e.Code) >= 500 {
		c.log.Warn("stream request failed", zap.Error(err))
	}
	b, _ := json.Marshal(errorMsg{Type: "error", Error: e})
	return b
}

// sendError queues an error message.
func (c *streamConn) sendError(err error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue(&outMsg{data: c.errorData(err), queued: now}, now)
}

// take hands the queued messages to the writer.
func (c *streamConn) take() []*outMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return nil
	}
	out := c.out
	c.out = nil
	for _, m := range out {
		m.taken = true
	}
	return out
}

// writeLoop writes queued messages and pings until the connection ends,
// then sends the close frame, if any, and closes the socket.
func (c *streamConn) writeLoop() {
	defer c.hub.wg.Done()
	defer close(c.wrote)
	defer func() { _ = c.ws.Close() }()
	o := c.hub.opts
	ping := time.NewTicker(o.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			c.mu.Lock()
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			if code != 0 && code != closeTooBig {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(closeWriteGrace))
			}
			return
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteTimeout)); err != nil {
				c.writeFailed(err)
			}
		case <-c.wake:
			for _, m := range c.take() {
				if err := c.write(m); err != nil {
					c.writeFailed(err)
					break
				}
			}
		}
	}
}

// write sends one message under the write timeout.
func (c *streamConn) write(m *outMsg) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.opts.WriteTimeout))
	var err error
	switch {
	case m.shared != nil: // taken under c.mu: nothing changes it any more
		var pm *websocket.PreparedMessage
		if pm, err = m.shared.prepared(); err == nil {
			err = c.ws.WritePreparedMessage(pm)
		}
	case m.delta != nil:
		var data []byte
		if data, err = json.Marshal(m.delta); err == nil {
			err = c.ws.WriteMessage(websocket.TextMessage, data)
		}
	default:
		err = c.ws.WriteMessage(websocket.TextMessage, m.data)
	}
	if err != nil {
		return err
	}
	if m.delta != nil {
		c.hub.metrics.sent.Inc()
		c.hub.metrics.latency.Observe(time.Since(m.at).Seconds())
	}
	return nil
}

func (c *streamConn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.drop(dropSlowWrite, "too slow: reconnect")
		return
	}
	c.end(0, "")
}

// drop ends a client that cannot keep up: close 1013, counted by reason.
func (c *streamConn) drop(reason, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(reason, text)
}

func (c *streamConn) dropLocked(reason, text string) {
	if c.ended {
		return
	}
	c.hub.metrics.dropped.WithLabelValues(reason).Inc()
	c.log.Info("stream client dropped", zap.String("reason", reason))
	c.endLocked(closeTryLater, text)
}

// end ends the connection; code 0 sends no close frame.
func (c *streamConn) end(code int, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(code, text)
}

func (c *streamConn) endLocked(code int, text string) {
	if c.ended {
		return
	}
	c.ended, c.closeCode, c.closeText = true, code, text
	c.out = nil
	c.cancel()
	close(c.done)
}
