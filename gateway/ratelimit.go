package gateway

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/metricsreg"
)

// RateLimitOptions configure the per-API-key rate limit (RATE_LIMIT,
// RATE_LIMIT_BURST). The zero value is off.
type RateLimitOptions struct {
	// Rate is the sustained requests per second of one API key; 0 is off.
	Rate float64
	// Burst is how many requests a key may send at once after a quiet
	// spell; 0 means one second's worth (Rate rounded up, at least 1).
	Burst int
	// Redis, when set, holds the buckets, so that a key's limit holds
	// across every node sharing it; nil keeps them in this process (one
	// node). When Redis does not answer, this node's own buckets decide
	// (each node then allows the full limit): a missing dependency never
	// stops bookings that are within the limit.
	Redis redis.UniversalClient
	// Prefix namespaces the Redis keys (several environments or tests on
	// one Redis); default "staylock:".
	Prefix string
}

// Limit is one bucket's refill rate (per second) and size.
type Limit struct {
	Rate  float64
	Burst int
}

// limitResult is one decision of a bucket, with what the client is told.
type limitResult struct {
	allowed bool
	// remaining is how many more requests the bucket would take now.
	remaining int
	// retryAfter is how long until one request would be taken (refused only).
	retryAfter time.Duration
	// resetAfter is how long until the bucket is full again.
	resetAfter time.Duration
}

// rateLimitTimeout bounds one Redis decision: past it the node decides
// alone rather than make the request wait.
const rateLimitTimeout = 500 * time.Millisecond

// redisRetryAfter is how long the limiter stays on its own buckets after a
// Redis failure before it asks Redis again, so that an outage costs one
// timeout per interval instead of one per request.
const redisRetryAfter = time.Second

// rate limiter outcomes counted in hotel_rate_limit_decisions_total.
const (
	rlAllowed  = "allowed"
	rlLimited  = "limited"
	rlFallback = "redis_unavailable" // decided by this node's buckets
)

// rateLimiter decides for buckets named by the caller (API keys today;
// properties for admission control later), each with its own Limit.
type rateLimiter struct {
	limit  Limit // of the API-key buckets
	local  *localBuckets
	redis  *redis_rate.Limiter // nil: in process only
	prefix string
	log    *zap.Logger

	decisions *prometheus.CounterVec
	// redisDownUntil (unix nanoseconds) skips Redis after a failure.
	redisDownUntil atomic.Int64
	redisFailing   atomic.Bool
}

// newRateLimiter returns nil when the limit is off.
func newRateLimiter(o RateLimitOptions, reg *prometheus.Registry, log *zap.Logger) *rateLimiter {
	if o.Rate <= 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return nil
	}
	if o.Burst <= 0 {
		o.Burst = max(1, int(math.Ceil(o.Rate)))
	}
	if o.Prefix == "" {
		o.Prefix = "staylock:"
	}
	l := &rateLimiter{limit: Limit{Rate: o.Rate, Burst: o.Burst}, local: newLocalBuckets(), prefix: o.Prefix, log: log}
	if o.Redis != nil {
		l.redis = redis_rate.NewLimiter(o.Redis)
	}
	l.decisions = metricsreg.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotel_rate_limit_decisions_total",
		Help: "Rate limit decisions: allowed, limited (429), or redis_unavailable (Redis did not answer; this node's own buckets decided).",
	}, []string{"outcome"}))
	return l
}

// allow takes one request from bucket, in Redis when configured and
// answering, else in this process.
func (l *rateLimiter) allow(ctx context.Context, bucket string, lim Limit) limitResult {
	if l.redis == nil {
		res := l.local.allow(bucket, lim, time.Now())
		l.count(res)
		return res
	}
	res, err := l.allowShared(ctx, bucket, lim)
	if err == nil {
		l.count(res)
		return res
	}
	if ctx.Err() != nil {
		// The client went away: nothing to protect, and not Redis' fault.
		return limitResult{allowed: true, remaining: lim.Burst}
	}
	l.decisions.WithLabelValues(rlFallback).Inc()
	return l.local.allow(bucket, lim, time.Now())
}

// errRedisResting is allowShared's answer while it does not ask Redis
// after a failure.
var errRedisResting = errors.New("rate limiter: Redis failed less than a second ago")

// allowShared decides in Redis, and logs the changes between Redis
// answering and not (once each way, not once per request).
func (l *rateLimiter) allowShared(ctx context.Context, bucket string, lim Limit) (limitResult, error) {
	if time.Now().UnixNano() < l.redisDownUntil.Load() {
		return limitResult{}, errRedisResting
	}
	res, err := l.allowRedis(ctx, bucket, lim)
	switch {
	case err == nil:
		if l.redisFailing.CompareAndSwap(true, false) {
			l.log.Info("rate limiter: Redis answers again; buckets are shared across nodes")
		}
	case ctx.Err() == nil:
		l.redisDownUntil.Store(time.Now().Add(redisRetryAfter).UnixNano())
		if l.redisFailing.CompareAndSwap(false, true) {
			l.log.Warn("rate limiter: Redis does not answer; each node limits on its own until it does", zap.Error(err))
		}
	}
	return res, err
}

func (l *rateLimiter) count(res limitResult) {
	if res.allowed {
		l.decisions.WithLabelValues(rlAllowed).Inc()
	} else {
		l.decisions.WithLabelValues(rlLimited).Inc()
	}
}

// allowRedis runs redis_rate's GCRA script: the bucket's state is one Redis
// key, updated atomically on Redis' clock, so every node sees one bucket.
func (l *rateLimiter) allowRedis(ctx context.Context, bucket string, lim Limit) (limitResult, error) {
	ctx, cancel := context.WithTimeout(ctx, rateLimitTimeout)
	defer cancel()
	// redis_rate counts Rate events per Period; one event per 1/Rate
	// seconds keeps a fractional RATE_LIMIT exact.
	rl := redis_rate.Limit{Rate: 1, Burst: lim.Burst, Period: time.Duration(float64(time.Second) / lim.Rate)}
	r, err := l.redis.Allow(ctx, l.prefix+bucket, rl)
	if err != nil {
		return limitResult{}, err
	}
	return limitResult{allowed: r.Allowed > 0, remaining: r.Remaining, retryAfter: max(r.RetryAfter, 0), resetAfter: max(r.ResetAfter, 0)}, nil
}

// localBuckets are token buckets in this process. A bucket that has filled
// up again is the same as a new one, so such buckets are dropped when the
// map grows: memory stays bounded by the buckets in recent use.
type localBuckets struct {
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	sweepAt   int // sweep when the map reaches this size
	minSweepN int
}

func newLocalBuckets() *localBuckets {
	return &localBuckets{buckets: map[string]*rate.Limiter{}, sweepAt: 4096, minSweepN: 4096}
}

func (b *localBuckets) allow(bucket string, lim Limit, now time.Time) limitResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.buckets[bucket]
	if !ok {
		if len(b.buckets) >= b.sweepAt {
			b.sweep(now)
		}
		l = rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst)
		b.buckets[bucket] = l
	} else if l.Limit() != rate.Limit(lim.Rate) || l.Burst() != lim.Burst {
		l.SetLimitAt(now, rate.Limit(lim.Rate))
		l.SetBurstAt(now, lim.Burst)
	}
	allowed := l.AllowN(now, 1)
	tokens := l.TokensAt(now)
	res := limitResult{
		allowed:    allowed,
		remaining:  max(0, int(math.Floor(tokens))),
		resetAfter: seconds((float64(lim.Burst) - tokens) / lim.Rate),
	}
	if !allowed {
		res.retryAfter = seconds((1 - tokens) / lim.Rate)
	}
	return res
}

// sweep drops the full buckets; then the next sweep waits until the map has
// doubled, so that a map of busy buckets is not swept on every insert.
func (b *localBuckets) sweep(now time.Time) {
	for k, l := range b.buckets {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(b.buckets, k)
		}
	}
	b.sweepAt = max(b.minSweepN, 2*len(b.buckets))
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Rate limit response headers (draft-ietf-httpapi-ratelimit-headers):
// the bucket's size, what is left of it, and the seconds until it is full.
const (
	headerRateLimitLimit     = "RateLimit-Limit"
	headerRateLimitRemaining = "RateLimit-Remaining"
	headerRateLimitReset     = "RateLimit-Reset"
)

// rateLimitBy returns middleware that takes one request from the bucket
// bucketOf names (after authentication: buckets belong to callers) and
// answers 429 rate_limited with Retry-After when it is empty. An empty
// bucket name skips the limit.
func (s *Server) rateLimitBy(bucketOf func(*gin.Context) string, lim Limit) gin.HandlerFunc {
	return func(c *gin.Context) {
		bucket := bucketOf(c)
		if bucket == "" {
			c.Next()
			return
		}
		res := s.limiter.allow(c.Request.Context(), bucket, lim)
		h := c.Writer.Header()
		h.Set(headerRateLimitLimit, strconv.Itoa(lim.Burst))
		h.Set(headerRateLimitRemaining, strconv.Itoa(res.remaining))
		h.Set(headerRateLimitReset, strconv.FormatInt(ceilSeconds(res.resetAfter), 10))
		if res.allowed {
			c.Next()
			return
		}
		retry := max(1, ceilSeconds(res.retryAfter))
		h.Set("Retry-After", strconv.FormatInt(retry, 10))
		writeError(c, s.log, s.opts.Debug, &booking.Error{Code: booking.CodeRateLimited,
			Message: "too many requests for this API key: retry after " + strconv.FormatInt(retry, 10) + "s",
			Details: map[string]any{"limit_per_second": lim.Rate, "burst": lim.Burst, "retry_after_seconds": retry}})
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// rateLimitKey is the middleware of every authenticated route: one bucket
// per API key (stream tokens count against the key that made them).
func (s *Server) rateLimitKey() gin.HandlerFunc {
	if s.limiter == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return s.rateLimitBy(func(c *gin.Context) string {
		k, ok := apiKeyOf(c)
		if !ok || k.ID == "" {
			return ""
		}
		return "key:" + k.ID
	}, s.limiter.limit)
}
