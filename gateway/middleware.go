package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/staylock/staylock/booking"
)

// Context keys of values the middleware hands to handlers.
const (
	ctxRequestID = "staylock.request_id"
	ctxAPIKey    = "staylock.api_key"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-ID"

// errNoRoute answers a path the API does not serve; details name it (cut
// to a bounded length).
func errNoRoute(c *gin.Context) *booking.Error {
	e := booking.NotFound(booking.KindRoute, c.Request.URL.Path)
	e.Message = "no such endpoint"
	return e
}

// errNoMethod answers a served path asked with a method it does not serve.
func errNoMethod(c *gin.Context) *booking.Error {
	return &booking.Error{Code: codeMethodNotAllowed, Message: "method not allowed on this endpoint",
		Details: map[string]any{"kind": booking.KindRoute, "id": booking.Echo(c.Request.URL.Path), "method": booking.Echo(c.Request.Method)}}
}

// requestID accepts a sane incoming X-Request-ID or makes one, and echoes it.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(HeaderRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header(HeaderRequestID, id)
	c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("-_.:", b) >= 0) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// opsPaths are the operational endpoints, logged at debug level only.
var opsPaths = map[string]bool{"/livez": true, "/readyz": true, "/health": true, "/metrics": true}

// observe writes the access log line and the request metrics.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	latency := time.Since(start)
	status := c.Writer.Status()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.metrics.observeRequest(c.Request.Method, route, status, latency)

	level := zapcore.InfoLevel
	switch {
	case status >= 500:
		level = zapcore.ErrorLevel
	case opsPaths[route] && status < 400:
		if s.opts.Local {
			return
		}
		level = zapcore.DebugLevel
	}
	ce := s.log.Check(level, "http request")
	if ce == nil {
		return
	}
	tenant := ""
	if k, ok := apiKeyOf(c); ok {
		tenant = k.Tenant
	}
	ce.Write(
		zap.String("method", c.Request.Method),
		zap.String("route", route),
		zap.Int("status", status),
		zap.Duration("latency", latency),
		zap.String("request_id", requestID(c)),
		zap.String("tenant", tenant),
		zap.Int("bytes", c.Writer.Size()),
	)
}

// recover turns a panic into the JSON 500 shape and logs it with its stack.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
			panic(r)
		}
		s.log.Error("panic in handler",
			zap.String("request_id", requestID(c)),
			zap.String("route", c.FullPath()),
			zap.String("panic", fmt.Sprint(r)),
			zap.Stack("stack"))
		c.Abort()
		if c.Writer.Written() {
			return
		}
		e := &booking.Error{Code: booking.CodeInternal, Message: msgInternal}
		if s.opts.Debug {
			e.Message = "panic: " + fmt.Sprint(r)
		}
		c.Data(http.StatusInternalServerError, contentTypeJSON, marshalError(e))
	}()
	c.Next()
}

// securityHeaders are set on every response: the API serves JSON only.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Next()
}
