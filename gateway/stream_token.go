package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// streamTokenTTL is how long a stream token may be used (once).
const streamTokenTTL = 60 * time.Second

// streamTokenPrefix starts every stream token.
const streamTokenPrefix = "st_"

// ctxStreamToken carries the id of the token a stream request presented.
const ctxStreamToken = "staylock.stream_token"

// tokenMACContext separates these signatures from any other use of the key.
const tokenMACContext = "staylock stream token v1\n"

// streamClaims is what a token says, signed.
type streamClaims struct {
	ID      string `json:"jti"`
	Tenant  string `json:"ten"`
	Role    string `json:"rol"`
	KeyID   string `json:"kid"`
	Expires int64  `json:"exp"` // unix milliseconds
}

// tokenSigner makes and checks stream tokens: "st_" + base64url(claims) +
// "." + base64url(HMAC-SHA256).
type tokenSigner struct {
	sign   []byte
	verify [][]byte
	now    func() time.Time
}

func newTokenSigner(sign []byte, verify [][]byte) *tokenSigner {
	if len(sign) == 0 {
		sign = make([]byte, 32)
		_, _ = rand.Read(sign) // crypto/rand.Read never fails (Go 1.24+)
		verify = nil
	}
	keys := [][]byte{sign}
	for _, k := range verify {
		if len(k) > 0 && !hmac.Equal(k, sign) {
			keys = append(keys, k)
		}
	}
	return &tokenSigner{sign: sign, verify: keys, now: time.Now}
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenMACContext))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// issue makes a token for key, valid for streamTokenTTL.
func (s *tokenSigner) issue(key persistence.APIKey) (string, time.Time) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	exp := s.now().Add(streamTokenTTL).UTC().Truncate(time.Millisecond)
	claims, _ := json.Marshal(streamClaims{ID: hex.EncodeToString(id), Tenant: key.Tenant, Role: string(key.Role),
		KeyID: key.ID, Expires: exp.UnixMilli()}) // plain strings always encode
	payload := b64.EncodeToString(claims)
	return streamTokenPrefix + payload + "." + b64.EncodeToString(mac(s.sign, payload)), exp
}

// check verifies a token's signature (with any accepted key) and expiry.
func (s *tokenSigner) check(token string) (streamClaims, bool) {
	var c streamClaims
	rest, ok := strings.CutPrefix(token, streamTokenPrefix)
	if !ok || len(rest) > 1024 {
		return c, false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return c, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return c, false
	}
	valid := false
	for _, k := range s.verify {
		if hmac.Equal(got, mac(k, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return c, false
	}
	raw, err := b64.DecodeString(payload)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.ID == "" || c.Tenant == "" {
		return c, false
	}
	if _, err := booking.ParseRole(c.Role); err != nil {
		return c, false
	}
	if s.now().UnixMilli() >= c.Expires {
		return c, false
	}
	return c, true
}

type streamTokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createToken: POST /v1/stream-tokens → 201 {"token","expires_at"}.
func (h *hub) createToken(c *gin.Context) {
	r := responder{log: h.log, debug: h.debug, limit: 4096}
	var body struct{}
	if _, ok := r.decode(c, &body, true); !ok {
		return
	}
	key, _ := apiKeyOf(c)
	token, exp := h.tokens.issue(key)
	r.ok(c, http.StatusCreated, streamTokenResponse{Token: token, ExpiresAt: exp})
}

// streamAuth authenticates GET /v1/stream: the Origin must be allowed
// (checked first, so a foreign page learns nothing about keys), then a
// bearer key or a stream token. A token is only checked here; the stream
// handler uses it up.
func (s *Server) streamAuth(c *gin.Context) {
	h := s.hub
	if o := c.GetHeader("Origin"); o != "" && !h.originAllowed(o) {
		writeError(c, s.log, s.opts.Debug, forbidden(reasonOrigin,
			"this page's origin may not open the stream: add it to CORS_ALLOWED_ORIGINS",
			map[string]any{"origin": booking.Echo(o)}))
		return
	}
	if c.GetHeader("Authorization") != "" {
		s.authenticate(c)
		return
	}
	token := c.Query("token")
	if token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="staylock"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonMissingKey,
			"an API key (Authorization: Bearer <key>) or a ?token= from POST /v1/stream-tokens is required"))
		return
	}
	claims, ok := h.tokens.check(token)
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="staylock", error="invalid_token"`)
		writeError(c, s.log, s.opts.Debug, unauthorized(reasonInvalidToken,
			"the stream token is invalid or expired: get a new one from POST /v1/stream-tokens"))
		return
	}
	c.Set(ctxAPIKey, persistence.APIKey{ID: claims.KeyID, Tenant: claims.Tenant, Role: booking.Role(claims.Role)})
	c.Set(ctxStreamToken, claims.ID)
	c.Next()
}

// originAllowed compares an Origin header with the allowed origins.
func (h *hub) originAllowed(origin string) bool {
	n, ok := normalizeOrigin(origin)
	return ok && h.origins[n]
}

// normalizeOrigin lowercases scheme and host and drops a default port:
// "HTTPS://App.Example.com:443" → "https://app.example.com".
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// memoryOnce keeps claimed ids in memory until they expire: one-use within
// one process.
type memoryOnce struct {
	mu     sync.Mutex
	until  map[string]time.Time
	now    func() time.Time
	sweeps int
}

func newMemoryOnce() *memoryOnce {
	return &memoryOnce{until: map[string]time.Time{}, now: time.Now}
}

// memoryOnceSweep is how many claims pass between sweeps of expired ids.
const memoryOnceSweep = 1024

func (m *memoryOnce) ClaimOnce(_ context.Context, id string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sweeps++; m.sweeps >= memoryOnceSweep {
		m.sweeps = 0
		for k, t := range m.until {
			if !now.Before(t) {
				delete(m.until, k)
			}
		}
	}
	if t, ok := m.until[id]; ok && now.Before(t) {
		return false, nil
	}
	m.until[id] = now.Add(ttl)
	return true, nil
}
