package gateway

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
)

// What the gateway_test tests may reach of the package's insides.

// Routes lists every route the API serves (method and path template).
func (s *Server) Routes() gin.RoutesInfo { return s.router.Routes() }

// AddCheck adds a named hard check: while it fails /readyz answers 503 and
// /health "failing". A check with the same name replaces the earlier one.
// Production's hard checks are the built-in database and actors ones.
func (s *Server) AddCheck(name string, check func(ctx context.Context) error) {
	s.addCheck(namedCheck{name: name, check: check})
}

// WithClock is opts with now as the clock of the booking window, so that a
// test's dates stay bookable whatever day it runs.
func WithClock(opts Options, now func() time.Time) Options {
	opts.now = now
	return opts
}
