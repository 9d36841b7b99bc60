package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
)

// RedisOptions tune the Redis bus.
type RedisOptions struct {
	// Prefix starts the bus's channel and keys (default "staylock:db<N>:",
	// N the URL's database number: pub/sub channels are shared by every
	// database of a server, so the number is part of the name).
	Prefix string
	// QueueLimit bounds the deltas waiting for delivery and, separately,
	// for publishing (default DefaultQueueLimit).
	QueueLimit int
	// MaxBatch bounds the deltas of one published message (default 128).
	MaxBatch int
	// Timeout bounds each Redis call (default 2 s).
	Timeout time.Duration
	Logger  *zap.Logger
}

// Redis is the bus of a cluster: deltas are delivered to this node's
// subscribers directly and published, in batches, on one Redis pub/sub
// channel that every node's bus listens to. Redis being down costs only the
// deltas for other nodes (dropped and counted) and makes Check fail; it
// never blocks Publish.
type Redis struct {
	local   *Local
	count   *counters
	client  *redis.Client
	channel string
	prefix  string
	node    string
	out     *queue
	opts    RedisOptions
	log     *zap.Logger

	subscribed atomic.Bool
	closed     atomic.Bool
	stop       chan struct{}
	wg         sync.WaitGroup
	ps         *redis.PubSub
}

// envelope is one published message: a batch of one node's deltas.
type envelope struct {
	Node   string                      `json:"node"`
	Deltas []booking.AvailabilityDelta `json:"deltas"`
}

// NewRedis starts a bus on the Redis server of url (redis:// or rediss://).
// It does not wait for Redis: while Redis is unreachable the bus delivers
// locally, drops what other nodes should get, retries in the background
// and fails Check.
func NewRedis(url string, opts RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 128
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Prefix == "" {
		opts.Prefix = "staylock:db" + strconv.Itoa(ro.DB) + ":"
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = opts.Timeout, opts.Timeout, opts.Timeout
	ro.MaxRetries = 1
	ro.PoolSize = 8
	c := &counters{}
	r := &Redis{
		local:   newLocal(LocalOptions{QueueLimit: opts.QueueLimit}, c),
		count:   c,
		client:  redis.NewClient(ro),
		channel: opts.Prefix + "deltas",
		prefix:  opts.Prefix,
		node:    newNodeID(),
		out:     newQueue(opts.QueueLimit),
		opts:    opts,
		log:     opts.Logger.With(zap.String("component", "bus")),
		stop:    make(chan struct{}),
	}
	r.ps = r.client.Subscribe(context.Background()) // no channel yet: receive subscribes
	go r.local.run()
	r.wg.Add(2)
	go r.publish()
	go r.receive()
	return r, nil
}

// Channel is the pub/sub channel the bus uses.
func (r *Redis) Channel() string { return r.channel }

// Publish delivers d to this node's subscribers and queues it for the
// others; it never blocks.
func (r *Redis) Publish(d booking.AvailabilityDelta) {
	r.count.published.Add(1)
	r.local.deliver(d)
	if r.closed.Load() {
		r.count.dropped.Add(1)
		return
	}
	kept, merged := r.out.push(d)
	switch {
	case !kept:
		r.count.dropped.Add(1)
	case merged:
		r.count.coalesced.Add(1)
	}
}

// Subscribe registers h for the deltas of every node.
func (r *Redis) Subscribe(h Handler) (cancel func()) { return r.local.Subscribe(h) }

// Stats returns the bus's counters.
func (r *Redis) Stats() Stats { return r.count.stats() }

// Check pings Redis and requires the subscription to be up.
func (r *Redis) Check(ctx context.Context) error {
	if r.closed.Load() {
		return errors.New("bus closed")
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	if !r.subscribed.Load() {
		return errors.New("redis subscription is down")
	}
	return nil
}

// ClaimOnce records id as used for ttl; it reports false when id was
// already claimed (by any node sharing this Redis).
func (r *Redis) ClaimOnce(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := r.client.SetNX(ctx, r.prefix+"once:"+id, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis claim: %w", err)
	}
	return ok, nil
}

// Close stops publishing and receiving and closes the Redis client.
func (r *Redis) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	close(r.stop)
	_ = r.ps.Close() // unblocks receive
	r.wg.Wait()
	_ = r.local.Close()
	return r.client.Close()
}

// publish drains the outgoing queue: each batch goes out as few messages
// in one pipeline. A failed publish drops its deltas (counted): receivers
// see the gap in the seq chain.
func (r *Redis) publish() {
	defer r.wg.Done()
	var batch []booking.AvailabilityDelta
	failing := false
	for {
		select {
		case <-r.stop:
			return
		case <-r.out.wake:
		}
		batch, _ = r.out.take(batch)
		if len(batch) == 0 {
			continue
		}
		err := r.send(batch)
		switch {
		case err != nil:
			r.count.dropped.Add(uint64(len(batch)))
			if !failing {
				r.log.Warn("redis publish failing; deltas for other nodes are dropped", zap.Error(err))
			}
			failing = true
		default:
			r.count.sent.Add(uint64(len(batch)))
			if failing {
				r.log.Info("redis publish works again")
			}
			failing = false
		}
		clear(batch)
	}
}

func (r *Redis) send(batch []booking.AvailabilityDelta) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	pipe := r.client.Pipeline()
	for len(batch) > 0 {
		n := min(len(batch), r.opts.MaxBatch)
		msg, err := json.Marshal(envelope{Node: r.node, Deltas: batch[:n]})
		if err != nil {
			return fmt.Errorf("encode deltas: %w", err)
		}
		pipe.Publish(ctx, r.channel, msg)
		batch = batch[n:]
	}
	_, err := pipe.Exec(ctx)
	return err
}

// receive listens on the channel and delivers other nodes' deltas locally.
// After a reconnection it tells the subscribers that deltas may have been
// missed.
func (r *Redis) receive() {
	defer r.wg.Done()
	ctx := context.Background()
	// Subscribe records the channel even when Redis is down; every later
	// receive reconnects and subscribes again by itself.
	// missed: deltas of other nodes may have gone by unseen (Redis was not
	// reachable at first, or the subscription broke): the next confirmed
	// subscription tells the subscribers.
	missed := false
	if err := r.ps.Subscribe(ctx, r.channel); err != nil && !r.closed.Load() {
		r.log.Warn("redis subscription failed; retrying", zap.Error(err))
		missed = true
	}
	backoff := 50 * time.Millisecond
	for !r.closed.Load() {
		msg, err := r.ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			if r.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && r.subscribed.Load() {
				// a quiet channel: check that the connection still answers
				_ = r.ps.Ping(ctx)
				continue
			}
			if r.subscribed.Swap(false) {
				r.log.Warn("redis subscription lost; retrying", zap.Error(err))
			}
			missed = true
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == r.channel {
				r.subscribed.Store(true)
				if missed {
					r.log.Info("redis subscription restored")
					r.local.lost()
				}
				missed = false
			}
		case *redis.Message:
			var env envelope
			if err := json.Unmarshal([]byte(m.Payload), &env); err != nil {
				r.log.Warn("undecodable message on the bus channel", zap.Error(err))
				continue
			}
			if env.Node == r.node {
				continue // delivered locally when published
			}
			r.count.received.Add(uint64(len(env.Deltas)))
			for _, d := range env.Deltas {
				r.local.deliver(d)
			}
		}
	}
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
