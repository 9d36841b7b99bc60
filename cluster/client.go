package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Client is the one typed way into the actors. protoactor-go's own cluster
// calls retry by default, also after a timeout (which may have committed),
// share a mutable default call config, and look a PID up with a fixed 5 s
// wait whatever the caller's deadline; this client does none of that. Each
// call has one deadline (the caller's context, capped by the request
// timeout) that bounds the lookup and the request alike, and a call is
// sent again only when the first try provably did nothing (a dead letter,
// the actor's explicit "not committed", a member that was not there) or
// when doing it twice is harmless (a read, or a write that carries its
// idempotency key: the key's record, completed in the same transaction as
// the change, makes a second execution impossible). A timeout is
// booking.ErrMaybeDone: the gateway answers 503 and the client retries with its key.
type Client struct {
	keys    idempotencyReader
	router  *router
	guard   *guard
	m       *metrics
	timeout time.Duration
	ready   func(context.Context) error
}

// idempotencyReader is what the client reads of the store: whether a
// call's key has an outcome by now, before it sends the call again.
type idempotencyReader interface {
	GetIdempotency(ctx context.Context, tenant, key string) (persistence.IdempotencyRecord, error)
}

// maxNotCommitted bounds the tries of a call whose actor keeps answering
// "not committed" (a store that refuses every commit).
const maxNotCommitted = 5

// Backoff between tries: doubling from backoffMin up to backoffMax, with
// jitter, always within the call's deadline.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = 250 * time.Millisecond
)

// Ready reports whether the actor system serves.
func (c *Client) Ready(ctx context.Context) error { return c.ready(ctx) }

// Call sends cmd to the actor of one room type and maps its answer; the one
// place where cluster outcomes become API errors (actors.Caller).
func (c *Client) Call(ctx context.Context, tenant, property, roomType string, cmd *actors.Command) (*actors.Reply, error) {
	identity := actors.Identity(tenant, property, roomType)
	deadline := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	read := cmd.GetAvailability() != nil || cmd.GetWake() != nil
	key := cmd.GetIdem().GetKey()
	maybe := false // some try may have acted
	notCommitted := 0
	backoff := backoffMin
	for {
		if err := c.guard.check(); err != nil {
			c.m.refused.WithLabelValues(reasonEvicted).Inc()
			if maybe && !read {
				return nil, booking.ErrMaybeDone
			}
			return nil, booking.Errorf(booking.CodeUnavailable, "this node left the cluster; retry on another node (nothing was changed)")
		}
		if maybe && key != "" && !read {
			// A try may have committed: its key's record says so.
			if rec, err := c.keys.GetIdempotency(ctx, tenant, key); err == nil && rec.Status != 0 {
				return nil, fmt.Errorf("call %s: %w", identity, persistence.ErrIdempotencyTaken)
			}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, c.expired(identity, roomType, read, maybe)
		}
		pid, err := c.router.lookup(ctx, identity, actors.Kind, remaining)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.cancelled(ctx, identity, read, maybe)
			}
			c.m.retries.WithLabelValues(retryLookup).Inc()
			if err := c.pause(ctx, deadline, &backoff); err != nil {
				return nil, c.cancelled(ctx, identity, read, maybe)
			}
			continue
		}
		start := time.Now()
		res, err := c.router.request(ctx, pid, cmd, remaining)
		target := "remote"
		if pid.GetAddress() == c.router.system.Address() {
			target = "local"
		}
		c.m.duration.WithLabelValues(target).Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			r, ok := res.(*actors.Reply)
			if !ok {
				return nil, fmt.Errorf("call %s: unexpected answer %T", identity, res)
			}
			if r.IdempotencyTaken {
				return r, fmt.Errorf("%s: %w", identity, persistence.ErrIdempotencyTaken)
			}
			if !r.NotCommitted && !fromEarlierRelease(r) {
				if r.Code != "" {
					return r, replyError(r)
				}
				return r, nil
			}
			// The actor did nothing (fenced, reloading, moving): again,
			// after a fresh lookup.
			c.router.forget(identity, pid)
			if notCommitted++; notCommitted >= maxNotCommitted {
				if fromEarlierRelease(r) {
					return nil, booking.Errorf(booking.CodeUnavailable, "room type %s is served by a node of another release; retry (nothing was changed)", roomType)
				}
				return r, replyError(r)
			}
			c.m.retries.WithLabelValues(retryNotCommitted).Inc()
		case errors.Is(err, errDeadLetter), errors.Is(err, errNotMember):
			// Never delivered: safe to send again after a fresh lookup.
			c.router.forget(identity, pid)
			c.m.retries.WithLabelValues(retryDeadLetter).Inc()
		case errors.Is(err, errGone):
			// The member left or the activation stopped while we waited:
			// it may have acted. Again only if that is harmless.
			c.router.forget(identity, pid)
			maybe = true
			if !read && key == "" {
				return nil, booking.ErrMaybeDone
			}
			c.m.retries.WithLabelValues(retryMemberLeft).Inc()
		case errors.Is(err, errTimedOut):
			if read {
				return nil, booking.Errorf(booking.CodeUnavailable, "room type %s did not answer in time", roomType)
			}
			return nil, booking.ErrMaybeDone
		default: // the caller's context
			return nil, c.cancelled(ctx, identity, read, true)
		}
		if err := c.pause(ctx, deadline, &backoff); err != nil {
			return nil, c.cancelled(ctx, identity, read, maybe)
		}
	}
}

// pause sleeps the next backoff (with jitter), never past deadline.
func (c *Client) pause(ctx context.Context, deadline time.Time, backoff *time.Duration) error {
	d := *backoff/2 + rand.N(*backoff/2+1)
	*backoff = min(*backoff*2, backoffMax)
	if left := time.Until(deadline); d > left {
		d = max(left, 0)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// expired is the error of a call whose deadline passed between tries.
func (c *Client) expired(identity, roomType string, read, maybe bool) error {
	if maybe && !read {
		return booking.ErrMaybeDone
	}
	return booking.Errorf(booking.CodeUnavailable, "room type %s did not answer; nothing was changed", roomType)
}

// cancelled is the error of a call whose context ended.
func (c *Client) cancelled(ctx context.Context, identity string, read, maybe bool) error {
	if maybe && !read {
		return booking.ErrMaybeDone
	}
	return fmt.Errorf("call %s: %w", identity, ctx.Err())
}

func replyError(r *actors.Reply) error {
	e := &booking.Error{Code: booking.Code(r.Code), Message: r.Message, Stored: r.RefusalStored}
	if len(r.Details) > 0 {
		_ = json.Unmarshal(r.Details, &e.Details)
	}
	return e
}

// RequestTimeout is what bounds one call when the caller's context has no
// earlier deadline.
func (c *Client) RequestTimeout() time.Duration { return c.timeout }

// fromEarlierRelease tells the answer of an actor of a release before
// typed commands to one of ours: it reads our command as one without an
// operation and refuses it untried. During a rolling deploy that is "not
// committed" (retry on a fresh lookup), not the client's invalid request.
func fromEarlierRelease(r *actors.Reply) bool {
	return r.Code == string(booking.CodeInvalid) && r.Message == "unknown operation OP_UNSPECIFIED"
}
