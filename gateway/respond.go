package gateway

import (
	"encoding/json"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/staylock/staylock/booking"
)

// responder holds what every handler needs to answer.
type responder struct {
	log   *zap.Logger
	debug bool
	limit int64
}

// fail writes err in the JSON error shape.
func (r responder) fail(c *gin.Context, err error) { writeError(c, r.log, r.debug, err) }

// ok writes v as compact JSON with status.
func (r responder) ok(c *gin.Context, status int, v any) { writeJSON(c, r.log, r.debug, status, v) }

// errorBody is the one shape of every error response.
type errorBody = booking.ErrorResponse

// marshalError returns the JSON body of an error response.
func marshalError(e *booking.Error) []byte {
	b, err := json.Marshal(errorBody{Error: e})
	if err != nil {
		// Details hold only plain values; this cannot happen, but answer
		// something well formed if it does.
		b, _ = json.Marshal(errorBody{Error: &booking.Error{Code: e.Code, Message: e.Message}})
	}
	return b
}

const contentTypeJSON = "application/json; charset=utf-8"

// writeError is the one JSON error writer: it maps err, logs 5xx outcomes
// with the real error, and aborts the chain.
func writeError(c *gin.Context, log *zap.Logger, debug bool, err error) {
	e := apiError(err, debug)
	status := StatusOf(e.Code)
	if status >= 500 {
		log.Error("request failed",
			zap.String("request_id", requestID(c)),
			zap.String("route", c.FullPath()),
			zap.String("code", string(e.Code)),
			zap.Error(err))
	}
	c.Abort()
	c.Data(status, contentTypeJSON, marshalError(e))
}

// writeJSON writes v as compact JSON (no trailing newline), the same bytes the
// engine stores for idempotent replays.
func writeJSON(c *gin.Context, log *zap.Logger, debug bool, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(c, log, debug, err)
		return
	}
	c.Data(status, contentTypeJSON, b)
}
