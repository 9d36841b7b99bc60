package gateway

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"net/http"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// codeMethodNotAllowed is the gateway's own code for a known path asked with
// a method it does not serve. It never leaves the gateway as a booking.Error.
const codeMethodNotAllowed booking.Code = "method_not_allowed"

// StatusOf returns the HTTP status of an error code (500 for an unknown
// one). The table is booking's; the gateway adds only its own 405.
func StatusOf(code booking.Code) int {
	if code == codeMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	if st, ok := code.HTTPStatus(); ok {
		return st
	}
	return http.StatusInternalServerError
}

// Generic messages for errors whose own text may hold internals.
const (
	msgInternal    = "internal error"
	msgUnavailable = "a dependency is unavailable; nothing was changed"
	msgInvalidData = "the request holds data the database cannot store; nothing was changed"
	msgMaybeDone   = "no answer in time: the change may or may not have been made; retry with the same Idempotency-Key"
)

// apiError turns any error into the *booking.Error the client sees. Errors
// without a code become unavailable (timeouts, lost connections) or internal;
// their text is kept only in debug mode. persistence.ErrNotFound becomes
// not_found.
func apiError(err error, debug bool) *booking.Error {
	var be *booking.Error
	if errors.As(err, &be) {
		if be.Code == booking.CodeInternal && !debug {
			return &booking.Error{Code: booking.CodeInternal, Message: msgInternal}
		}
		if _, known := be.Code.HTTPStatus(); !known && be.Code != codeMethodNotAllowed {
			// A code outside the contract is a bug somewhere; never pass it on.
			out := &booking.Error{Code: booking.CodeInternal, Message: msgInternal}
			if debug {
				out.Message = be.Error()
			}
			return out
		}
		return be
	}
	if errors.Is(err, persistence.ErrNotFound) {
		// Handlers name what was not found; this is the backstop.
		return &booking.Error{Code: booking.CodeNotFound, Message: "not found", Details: map[string]any{"kind": "resource"}}
	}
	if errors.Is(err, persistence.ErrInvalidData) {
		// The text rules refuse such data before it reaches a store; this
		// is the backstop for whatever they miss: the request's fault,
		// never 500 or "retry".
		out := &booking.Error{Code: booking.CodeInvalid, Message: msgInvalidData,
			Details: map[string]any{"fields": map[string]string{bodyField: "holds data the database cannot store"}}}
		if debug {
			out.Message = err.Error()
		}
		return out
	}
	out := &booking.Error{Code: booking.CodeInternal, Message: msgInternal}
	switch {
	case errors.Is(err, booking.ErrMaybeDone):
		// Not "nothing was changed": say so, the key makes a retry safe.
		out = &booking.Error{Code: booking.CodeUnavailable, Message: msgMaybeDone}
	case isUnavailable(err):
		out = &booking.Error{Code: booking.CodeUnavailable, Message: msgUnavailable}
	}
	if debug {
		out.Message = err.Error()
	}
	return out
}

// Reasons of 401 and 403 answers, in details.reason.
const (
	reasonMissingKey   = "missing_key"   // no Authorization: Bearer key
	reasonInvalidKey   = "invalid_key"   // unknown or revoked key
	reasonInvalidToken = "invalid_token" // bad or expired stream token
	reasonTokenUsed    = "token_used"    // a stream token is good once
	reasonRole         = "role"          // the key's role may not do this
	reasonOrigin       = "origin"        // the page's Origin is not allowed
)

// unauthorized is a 401 naming why in details.reason.
func unauthorized(reason, msg string) *booking.Error {
	return &booking.Error{Code: booking.CodeUnauthorized, Message: msg, Details: map[string]any{"reason": reason}}
}

// forbidden is a 403 naming why in details.reason, with extra details.
func forbidden(reason, msg string, extra map[string]any) *booking.Error {
	d := map[string]any{"reason": reason}
	for k, v := range extra {
		d[k] = v
	}
	return &booking.Error{Code: booking.CodeForbidden, Message: msg, Details: d}
}

// isUnavailable tells errors that mean "a dependency did not answer".
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, persistence.ErrMaybeCommitted) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return booking.ErrorCode(err) == booking.CodeUnavailable
}
