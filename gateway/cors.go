package gateway

import (
	"net/http"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
)

// corsMaxAge is how long a browser may cache a preflight's answer.
const corsMaxAge = 10 * time.Minute

// errOriginRefused answers a preflight from an origin not in
// CORS_ALLOWED_ORIGINS.
func errOriginRefused(origin string) *booking.Error {
	return forbidden(reasonOrigin, "this page's origin may not call the API: add it to CORS_ALLOWED_ORIGINS",
		map[string]any{"origin": booking.Echo(origin)})
}

// corsHandler lets pages on the allowed origins (CORS_ALLOWED_ORIGINS, the
// same list that guards the stream's Origin check) call the REST API: a
// dashboard on another origin can create stream tokens and read
// availability. The allowed origin is echoed, never "*"; every response
// carries Vary: Origin so that caches keep answers per origin. Keys travel
// in Authorization, never in cookies, so credentials are not allowed.
//
// An origin not on the list gets no Access-Control-* headers, so the
// browser keeps the answer from the page; its preflight is refused with 403
// in the API's error shape (the library's own refusal has an empty body).
// Requests without an Origin (channel managers, curl) are not CORS and pass.
func (s *Server) corsHandler(origins []string) gin.HandlerFunc {
	allowed := map[string]bool{}
	for _, o := range origins {
		if n, ok := normalizeOrigin(o); ok {
			allowed[n] = true
		}
	}
	isAllowed := func(origin string) bool {
		n, ok := normalizeOrigin(origin)
		return ok && allowed[n]
	}
	lib := cors.New(cors.Config{
		AllowOriginFunc: isAllowed,
		AllowMethods:    []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowHeaders:    []string{"Authorization", "Content-Type", HeaderIdempotencyKey, HeaderRequestID},
		ExposeHeaders: []string{HeaderRequestID, HeaderReplayed, "Retry-After", "WWW-Authenticate",
			headerRateLimitLimit, headerRateLimitRemaining, headerRateLimitReset},
		AllowCredentials: false,
		MaxAge:           corsMaxAge,
	})
	return func(c *gin.Context) {
		c.Writer.Header().Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		switch {
		case origin == "":
			c.Next()
		case isAllowed(origin):
			lib(c)
		case c.Request.Method == http.MethodOptions:
			writeError(c, s.log, s.opts.Debug, errOriginRefused(origin))
		default:
			c.Next()
		}
	}
}
