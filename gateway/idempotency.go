package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// Idempotency headers.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
)

const (
	maxIdempotencyKey = 200
	// idempotencyWait is how long a request waits for another one with the
	// same key to finish before answering 409.
	idempotencyWait = 5 * time.Second
	idempotencyPoll = 25 * time.Millisecond
	// storeTimeout bounds the idempotency bookkeeping that runs after the
	// client may have gone.
	storeTimeout = 5 * time.Second
	// claimTTL is how long an in-flight claim lives: far longer than any
	// request may run, yet a node that dies holding a claim blocks its key
	// for minutes, not for the whole retention window. Completion extends
	// the record to the retention window.
	claimTTL = 2 * time.Minute
)

// idempotency runs state-changing calls under the Idempotency-Key protocol.
type idempotency struct {
	store persistence.Store
	ttl   time.Duration
	wait  time.Duration
	poll  time.Duration
}

// idemCall is one state-changing request.
type idemCall struct {
	tenant string
	key    string // "" when the client sent none
	hash   string
	// claim: take an in-flight record before the call. The hot paths
	// (create reservation, create hold) do not: the engine completes the
	// record in the same transaction as the change.
	claim bool
	// status is the success status; 204 answers without a body.
	status int
}

// idempotencyKey reads and checks the Idempotency-Key header; "" when absent.
func idempotencyKey(c *gin.Context) (string, error) {
	vals := c.Request.Header.Values(HeaderIdempotencyKey)
	if len(vals) == 0 {
		return "", nil
	}
	k := vals[0]
	bad := len(vals) > 1 || k == "" || len(k) > maxIdempotencyKey
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < ' ' || k[i] > '~'
	}
	if bad {
		fe := booking.FieldErrors{}
		fe.Add(HeaderIdempotencyKey, "must be one header of 1-200 printable ASCII characters")
		return "", fe.Err()
	}
	return k, nil
}

// requestHash identifies a request: method, path and the canonical form of
// its JSON body (keys sorted, insignificant space dropped), so that a retry
// that re-encodes the same body is the same request.
func requestHash(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(canonicalJSON(body))
	return hex.EncodeToString(h.Sum(nil))
}

func canonicalJSON(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// newCall prepares the idempotency side of a request; ok is false when the
// header is bad (the error response is written).
func (r responder) newCall(c *gin.Context, raw []byte, claim bool, status int) (idemCall, bool) {
	key, err := idempotencyKey(c)
	if err != nil {
		r.fail(c, err)
		return idemCall{}, false
	}
	call := idemCall{tenant: tenantOf(c), key: key, claim: claim, status: status}
	if key != "" {
		call.hash = requestHash(c.Request.Method, c.Request.URL.Path, raw)
	}
	return call, true
}

// errInFlight is the answer while another request with the key is running.
func errInFlight(key string) *booking.Error {
	return booking.Conflict(booking.KindIdempotencyKey, key, nil, "a request with this Idempotency-Key is still in flight; retry later")
}

var errKeyReused = booking.Errorf(booking.CodeIdempotencyKeyReused,
	"this Idempotency-Key was used with a different request")

// serve runs fn under the protocol and writes the response: a replay of the
// stored outcome, or fn's result (status call.status), or fn's error.
// fn receives the Idem to hand to the engine (nil without a key). A non-nil
// result is marshalled with json.Marshal: the engine stores the same bytes.
func (x *idempotency) serve(c *gin.Context, r responder, call idemCall,
	fn func(ctx context.Context, idem *booking.Idempotency) (any, error)) {
	ctx := c.Request.Context()
	// A change, once started, runs to its end even if the client goes away:
	// its outcome then is stored for the retry instead of left in doubt. The
	// engine bounds the call with its own timeout.
	changeCtx := context.WithoutCancel(ctx)
	if call.key == "" {
		v, err := fn(changeCtx, nil)
		if err != nil {
			r.fail(c, err)
			return
		}
		writeResult(c, r, call.status, v)
		return
	}

	// Hot paths (call.claim false) go straight to the actor, which knows the
	// keys it saw and finds older ones when its commit meets them
	// (ErrIdempotencyTaken, answered by replaying below): one database read
	// fewer per booking.
	claimed := false
	for call.claim {
		rec, found, err := x.await(ctx, call)
		if err != nil {
			r.fail(c, err)
			return
		}
		if found {
			replay(c, rec)
			return
		}
		now := time.Now()
		claimed, err = x.store.ClaimIdempotency(ctx, persistence.IdempotencyRecord{
			Tenant: call.tenant, Key: call.key, RequestHash: call.hash,
			CreatedAt: now, ExpiresAt: now.Add(claimTTL),
		})
		if err != nil {
			r.fail(c, err)
			return
		}
		if claimed {
			break
		}
		// Someone else holds the key: look again (wait or replay).
	}

	idem := &booking.Idempotency{Key: call.key, RequestHash: call.hash, Status: call.status}
	v, err := fn(changeCtx, idem)
	// The bookkeeping below must happen even if the client has gone.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()

	if errors.Is(err, persistence.ErrIdempotencyTaken) {
		x.replayTaken(c, r, bctx, call)
		return
	}
	if err == nil {
		body, merr := resultBody(call.status, v)
		if merr != nil {
			err = merr
		} else {
			if claimed {
				// The engine completes the record with the change; this
				// covers calls that changed nothing (cancel twice).
				x.complete(bctx, r.log, call, call.status, body)
			}
			writeBody(c, call.status, body)
			return
		}
	}

	e := apiError(err, r.debug)
	status := StatusOf(e.Code)
	if status >= 500 {
		if claimed {
			if rerr := x.store.ReleaseIdempotency(bctx, call.tenant, call.key); rerr != nil {
				r.log.Warn("release idempotency key", zap.String("request_id", requestID(c)), zap.Error(rerr))
			}
		}
		r.fail(c, err)
		return
	}
	body := marshalError(e)
	if e.Stored {
		// the actor stored this refusal with the key in its commit
		c.Abort()
		c.Data(status, contentTypeJSON, body)
		return
	}
	cerr := x.store.CompleteIdempotency(bctx, persistence.IdempotencyRecord{
		Tenant: call.tenant, Key: call.key, RequestHash: call.hash,
		Status: status, Body: body, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(x.ttl),
	})
	if errors.Is(cerr, persistence.ErrIdempotencyTaken) {
		x.replayTaken(c, r, bctx, call)
		return
	}
	if cerr != nil {
		r.log.Warn("store idempotent outcome", zap.String("request_id", requestID(c)), zap.Error(cerr))
	}
	c.Abort()
	c.Data(status, contentTypeJSON, body)
}

// replayTaken answers with the record that another request completed first.
func (x *idempotency) replayTaken(c *gin.Context, r responder, ctx context.Context, call idemCall) {
	rec, found, err := x.await(ctx, call)
	switch {
	case err != nil:
		r.fail(c, err)
	case !found:
		r.fail(c, errInFlight(call.key))
	default:
		replay(c, rec)
	}
}

// complete stores a success the engine may not have stored itself.
func (x *idempotency) complete(ctx context.Context, log *zap.Logger, call idemCall, status int, body []byte) {
	now := time.Now()
	err := x.store.CompleteIdempotency(ctx, persistence.IdempotencyRecord{
		Tenant: call.tenant, Key: call.key, RequestHash: call.hash,
		Status: status, Body: body, CreatedAt: now, ExpiresAt: now.Add(x.ttl),
	})
	if err != nil && !errors.Is(err, persistence.ErrIdempotencyTaken) {
		log.Warn("complete idempotency key", zap.Error(err))
	}
}

// await looks the key up, waiting while it is in flight. found is false when
// there is no record; a record of another request is 422.
func (x *idempotency) await(ctx context.Context, call idemCall) (persistence.IdempotencyRecord, bool, error) {
	deadline := time.Now().Add(x.wait)
	for {
		rec, err := x.store.GetIdempotency(ctx, call.tenant, call.key)
		if errors.Is(err, persistence.ErrNotFound) {
			return rec, false, nil
		}
		if err != nil {
			return rec, false, err
		}
		if rec.RequestHash != call.hash {
			return rec, false, errKeyReused
		}
		if rec.Status != 0 {
			return rec, true, nil
		}
		if time.Now().After(deadline) {
			return rec, false, errInFlight(call.key)
		}
		t := time.NewTimer(x.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return rec, false, ctx.Err()
		case <-t.C:
		}
	}
}

// replay writes a stored outcome again.
func replay(c *gin.Context, rec persistence.IdempotencyRecord) {
	c.Header(HeaderReplayed, "true")
	writeBody(c, rec.Status, rec.Body)
}

// resultBody is the exact body of a success: json.Marshal of the value, or
// nothing for 204.
func resultBody(status int, v any) ([]byte, error) {
	if status == http.StatusNoContent {
		return nil, nil
	}
	return json.Marshal(v)
}

func writeResult(c *gin.Context, r responder, status int, v any) {
	body, err := resultBody(status, v)
	if err != nil {
		r.fail(c, err)
		return
	}
	writeBody(c, status, body)
}

func writeBody(c *gin.Context, status int, body []byte) {
	if status == http.StatusNoContent {
		c.Status(status)
		c.Writer.WriteHeaderNow()
		return
	}
	c.Data(status, contentTypeJSON, body)
}
