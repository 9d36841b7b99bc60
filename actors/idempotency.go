package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// recentKeys are the idempotency keys an actor saw lately: a retry that
// arrives while its first try is still deciding or committing waits for
// that try's answer instead of deciding twice, and one that arrives after
// it gets the same outcome.
type recentKeys struct {
	max   int
	byKey map[string]*recentKey
	order []string
}

type recentKey struct {
	hash    string
	done    bool
	reply   *Reply
	waiters []*actor.PID
}

func newRecentKeys(max int) recentKeys {
	return recentKeys{max: max, byKey: map[string]*recentKey{}}
}

func (k *recentKeys) get(key string) *recentKey { return k.byKey[key] }

func (k *recentKeys) forget(key string) { delete(k.byKey, key) }

// remember starts tracking key; past max, the oldest finished keys go.
func (k *recentKeys) remember(key, hash string) {
	k.byKey[key] = &recentKey{hash: hash}
	k.order = append(k.order, key)
	for len(k.order) > k.max {
		old := k.order[0]
		k.order = k.order[1:]
		if r := k.byKey[old]; r != nil && r.done {
			delete(k.byKey, old)
		}
	}
}

// admit decides what becomes of a keyed command: true when it is new and
// must be decided; otherwise it was answered or queued behind its first try.
func (a *inventoryActor) admit(sender *actor.PID, e *entry) bool {
	idem := e.cmd.GetIdem()
	k := idem.GetKey()
	if k == "" {
		return true
	}
	if r := a.keys.get(k); r != nil {
		switch {
		case r.hash != idem.GetRequestHash():
			a.send(sender, errReply(booking.Errorf(booking.CodeIdempotencyKeyReused, "idempotency key was used for another request")))
		case r.done:
			a.send(sender, dedupReply(r.reply))
		default:
			r.waiters = append(r.waiters, sender)
		}
		return false
	}
	a.keys.remember(k, idem.GetRequestHash())
	e.key = k
	return true
}

// settle passes r to the waiters of e's key and keeps it for later retries;
// a "not committed" answer is forgotten, so the next try decides again.
func (a *inventoryActor) settle(e *entry, r *Reply) {
	if e.key == "" {
		return
	}
	rk := a.keys.get(e.key)
	if rk == nil {
		return
	}
	for _, w := range rk.waiters {
		a.send(w, dedupReply(r))
	}
	rk.waiters = nil
	if r.NotCommitted {
		a.keys.forget(e.key)
		return
	}
	rk.done, rk.reply = true, r
}

// dedupReply is the answer to a duplicate of a keyed request: a success is
// stored with its key by now (answers go out after commit), so the duplicate
// is told to replay the stored response; a refusal is repeated as it was.
func dedupReply(r *Reply) *Reply {
	if (r.Code == "" || r.RefusalStored) && !r.NotCommitted {
		return &Reply{IdempotencyTaken: true}
	}
	return r
}

// record is the idempotency record that completes e's key in its commit:
// status and body are the response the gateway replays.
func (a *inventoryActor) record(e *entry, status int, body []byte) *persistence.IdempotencyRecord {
	now := a.opts.now().UTC()
	return &persistence.IdempotencyRecord{Tenant: a.tenant, Key: e.key, RequestHash: e.cmd.GetIdem().GetRequestHash(),
		Status: status, Body: body, CreatedAt: now, ExpiresAt: now.Add(a.opts.IdempotencyTTL)}
}

// recordSuccess completes a keyed change's record with its response: the
// JSON of e.response, or e.response itself when it is a body the caller
// precomputed (a change spanning several room types). Unkeyed changes,
// most of the traffic, never encode it.
func (a *inventoryActor) recordSuccess(e *entry) {
	status := e.cmd.GetIdem().GetStatus()
	if e.key == "" || len(e.events) == 0 || status <= 0 {
		return
	}
	var body []byte
	switch v := e.response.(type) {
	case nil:
	case []byte:
		body = v
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			panic(fmt.Sprintf("encode response: %v", err)) // plain domain values always encode
		}
	}
	e.idem = a.record(e, int(status), body)
}

// storeRefusal keeps a keyed refusal (sold out, restricted …) with its key
// in the next commit, so a flash sale's thousands of refusals share the
// batch's one transaction instead of one write each after the answer.
func (a *inventoryActor) storeRefusal(e *entry, err error) {
	var be *booking.Error
	if e.key == "" || e.cmd.GetIdem().GetStatus() <= 0 || !errors.As(err, &be) {
		return
	}
	status, ok := be.Code.HTTPStatus()
	if !ok || status >= 500 || be.Code == booking.CodeIdempotencyKeyReused {
		return
	}
	body, merr := json.Marshal(booking.ErrorResponse{Error: be})
	if merr != nil {
		return
	}
	e.idem = a.record(e, status, body)
	e.reply.RefusalStored = true
}

// takenKeys lists which idempotency keys of a batch have a stored record.
func (a *inventoryActor) takenKeys(b *batch) (map[string]bool, error) {
	taken := map[string]bool{}
	for _, e := range b.entries {
		if e.idem == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.CommitTimeout)
		_, err := a.store.GetIdempotency(ctx, a.tenant, e.key)
		cancel()
		switch {
		case err == nil:
			taken[e.key] = true
		case !errors.Is(err, persistence.ErrNotFound):
			return nil, fmt.Errorf("read idempotency key: %w", err)
		}
	}
	return taken, nil
}
