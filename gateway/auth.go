package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// keyCacheTTL is how long a found key is trusted without asking the store.
// Revocation does not wait for it: a revocation raises the key generation,
// which Watch applies within a poll. The TTL bounds what a
// node that cannot reach the database keeps trusting.
const keyCacheTTL = 5 * time.Second

// Key revocation polling: how often a node reads the key generation, and
// how often it confirms the generation it applied even when nothing moved
// (its heartbeat for `keys revoke`).
const (
	DefaultKeyPoll  = 250 * time.Millisecond
	keyConfirmEvery = 2 * time.Second
)

// KeyNodeLive is how recently a node must have confirmed to count as live
// for `keys revoke`: past it, every key the node cached has expired (each
// was looked up while the node reached the database, at most keyConfirmEvery
// before its last confirmation, and lives keyCacheTTL), plus a second for
// clock skew between hosts.
const KeyNodeLive = keyCacheTTL + keyConfirmEvery + time.Second

// keyCacheMax bounds the cache; past it the least recently used key goes.
const keyCacheMax = 10000

// keyLookupTimeout bounds one store lookup of a key.
const keyLookupTimeout = 5 * time.Second

// keyCache keeps positive key lookups for a short time so that the hot path
// does not ask the database on every request. Unknown keys are not cached.
type keyCache struct {
	store   persistence.Store
	group   singleflight.Group
	entries *expiringLRU[persistence.APIKey] // by the key's hash

	mu         sync.Mutex // orders put against apply
	generation int64      // the key generation applied: entries are from it
}

func newKeyCache(store persistence.Store, size int, ttl time.Duration) *keyCache {
	return &keyCache{store: store, entries: newExpiringLRU[persistence.APIKey](size, ttl)}
}

// lookup returns the live key for secret; persistence.ErrNotFound when there
// is none (unknown or revoked).
func (k *keyCache) lookup(ctx context.Context, secret string) (persistence.APIKey, error) {
	hash := auth.HashAPIKey(secret)
	h := string(hash)
	gen := k.generationNow()
	if key, ok := k.entries.get(h); ok {
		return key, nil
	}
	v, err, _ := k.group.Do(h, func() (any, error) {
		// Shared by every caller waiting for this key: not bound to the
		// first caller's cancellation.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLookupTimeout)
		defer cancel()
		key, err := k.store.APIKeyByHash(ctx, hash)
		if err != nil {
			return persistence.APIKey{}, err
		}
		if key.RevokedAt != nil {
			return persistence.APIKey{}, persistence.ErrNotFound
		}
		k.put(h, key, gen)
		return key, nil
	})
	if err != nil {
		k.entries.remove(h)
		return persistence.APIKey{}, err
	}
	return v.(persistence.APIKey), nil
}

// put caches key unless the generation moved since its lookup began: the
// lookup may have read the key before a revocation committed.
func (k *keyCache) put(h string, key persistence.APIKey, gen int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen != k.generation {
		return
	}
	k.entries.add(h, key, k.entries.now())
}

// generationNow is the generation the cache has applied.
func (k *keyCache) generationNow() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.generation
}

// apply moves the cache to generation gen, dropping every cached key when
// it moved; it reports whether it did.
func (k *keyCache) apply(gen int64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen <= k.generation {
		return false
	}
	k.generation = gen
	k.entries.purge()
	return true
}

// Watch makes what every node caches follow the database within a poll
// (Options.KeyPoll): it reads the key generation, which key revocations and
// maintenance changes raise; when it moved, it drops the key cache and
// reloads the maintenance state, then confirms the generation it applied
// under the name node, so that `keys revoke`, `down` and `up` can wait for
// every live node. It returns when ctx ends.
func (s *Server) Watch(ctx context.Context, node string) {
	tick := time.NewTicker(s.opts.KeyPoll)
	defer tick.Stop()
	var confirmed time.Time
	failing := false
	// Be seen before the first read: a change that commits after this node
	// read the generation finds it live and behind, so `down` waits for it
	// instead of returning while it still serves what it read before.
	if err := s.store.ConfirmKeyGeneration(ctx, node, s.keys.generationNow(), time.Now()); err != nil && ctx.Err() == nil {
		s.log.Warn("key revocations: cannot register this node", zap.Error(err))
	}
	for {
		gen, err := s.store.KeyGeneration(ctx)
		if err == nil && (gen > s.keys.generationNow() || s.maintenance.Load() == nil) {
			var m persistence.Maintenance
			if m, err = persistence.GetMaintenance(ctx, s.store); err == nil {
				s.applyMaintenance(m)
			}
		}
		if err == nil {
			moved := s.keys.apply(gen)
			if now := time.Now(); moved || now.Sub(confirmed) >= keyConfirmEvery {
				if err = s.store.ConfirmKeyGeneration(ctx, node, gen, now); err == nil {
					confirmed = now
				}
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			s.log.Warn("key revocations: cannot reach the database; cached keys expire on their own", zap.Error(err))
		case err == nil && failing:
			s.log.Info("key revocations: the database answers again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// authenticate requires a live bearer key and puts it into the context.
func (s *Server) authenticate(c *gin.Context) {
	scheme, secret, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		c.Header("WWW-Authenticate", `Bearer realm="staylock"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonMissingKey, "an API key is required: Authorization: Bearer <key>"))
		return
	}
	var key persistence.APIKey
	err := persistence.ErrNotFound
	if auth.LooksLikeAPIKey(secret) { // garbage is refused without a lookup
		key, err = s.keys.lookup(c.Request.Context(), secret)
	}
	if errors.Is(err, persistence.ErrNotFound) {
		c.Header("WWW-Authenticate", `Bearer realm="staylock", error="invalid_token"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonInvalidKey, "unknown or revoked API key"))
		return
	}
	if err != nil {
		writeError(c, s.log, s.opts.Debug, err)
		return
	}
	c.Set(ctxAPIKey, key)
	c.Next()
}

// apiKeyOf returns the caller's key, when authenticated.
func apiKeyOf(c *gin.Context) (persistence.APIKey, bool) {
	v, ok := c.Get(ctxAPIKey)
	if !ok {
		return persistence.APIKey{}, false
	}
	k, ok := v.(persistence.APIKey)
	return k, ok
}

// tenantOf is the caller's tenant; every lookup is scoped by it.
func tenantOf(c *gin.Context) string {
	k, _ := apiKeyOf(c)
	return k.Tenant
}

// The roles each access allows (shared, read only: no allocation per request).
var (
	rolesAny   = []string{string(booking.RoleAdmin), string(booking.RoleChannel), string(booking.RoleViewer)}
	rolesBook  = []string{string(booking.RoleAdmin), string(booking.RoleChannel)}
	rolesAdmin = []string{string(booking.RoleAdmin)}
)

// roles are the roles that may use a route needing a.
func (a access) roles() []string {
	switch a {
	case accessPublic, accessRead, accessStream:
		return rolesAny
	case accessBook, accessGuests:
		// A viewer key is pasted into dashboards: it sees availability
		// and counts, never a guest's name, email or phone.
		return rolesBook
	case accessAdmin:
		return rolesAdmin
	}
	return nil
}

// permits reports whether role may use a route needing a.
func (a access) permits(role booking.Role) bool { return slices.Contains(a.roles(), string(role)) }

// authorize refuses roles that may not use the route.
func authorize(a access) gin.HandlerFunc {
	return func(c *gin.Context) {
		k, _ := apiKeyOf(c)
		if !a.permits(k.Role) {
			c.Abort()
			e := forbidden(reasonRole, fmt.Sprintf("the %s role may not do this", k.Role),
				map[string]any{"role": string(k.Role), "allowed_roles": slices.Clone(a.roles())})
			c.Data(StatusOf(e.Code), contentTypeJSON, marshalError(e))
			return
		}
		c.Next()
	}
}
