// Package booking holds Staylock's domain types and its pure booking rules:
// nights, stays, calendars, availability, holds, restrictions and prices.
// It imports only the standard library and does no I/O.
package booking

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Code is a stable, machine-readable error code of the public API.
type Code string

// The error codes of the API contract. The HTTP status of each is in one
// table, codeStatus below (Code.HTTPStatus); the gateway adds only its own
// 405 method_not_allowed, which never leaves it as an Error.
const (
	CodeInvalid              Code = "invalid_request"
	CodeUnauthorized         Code = "unauthorized"
	CodeForbidden            Code = "forbidden"
	CodeNotFound             Code = "not_found"
	CodeSoldOut              Code = "sold_out"
	CodeRestricted           Code = "restricted"
	CodeConflict             Code = "conflict"
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	// CodeUnprocessable: well-formed JSON whose values cannot be used (a
	// webhook URL that is not allowed, an unknown event); details.fields.
	CodeUnprocessable   Code = "unprocessable"
	CodePayloadTooLarge Code = "payload_too_large"
	CodeRateLimited     Code = "rate_limited"
	CodeMaintenance     Code = "maintenance"
	CodeUnavailable     Code = "unavailable"
	CodeInternal        Code = "internal"
)

// codeStatus is the one table from an error code to its HTTP status.
var codeStatus = map[Code]int{
	CodeInvalid:              400,
	CodeUnauthorized:         401,
	CodeForbidden:            403,
	CodeNotFound:             404,
	CodeSoldOut:              409,
	CodeRestricted:           409,
	CodeConflict:             409,
	CodeIdempotencyKeyReused: 422,
	CodeUnprocessable:        422,
	CodePayloadTooLarge:      413,
	CodeRateLimited:          429,
	CodeMaintenance:          503,
	CodeUnavailable:          503,
	CodeInternal:             500,
}

// HTTPStatus is the status an answer with this code has; ok is false for a
// code outside the contract.
func (c Code) HTTPStatus() (status int, ok bool) {
	status, ok = codeStatus[c]
	return status, ok
}

// Error is the one error type that crosses package boundaries with a code.
type Error struct {
	Code    Code           `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	// Stored tells that this refusal is already stored with its request's
	// Idempotency-Key (by the actor that decided it, in its commit).
	Stored bool `json:"-"`
}

// ErrorResponse is the one JSON shape of an error answer.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal when err carries none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// FieldErrors collects validation problems by field path, so one response can
// name every bad field at once.
type FieldErrors map[string]string

// Add records a problem with field, keeping the first message per field.
func (f FieldErrors) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns nil when empty, else an invalid_request error naming every field.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := "invalid field " + names[0]
	if len(names) > 1 {
		msg = fmt.Sprintf("%d invalid fields, first %s", len(names), names[0])
	}
	msg += ": " + f[names[0]]
	fields := make(map[string]string, len(f))
	for k, v := range f {
		fields[k] = v
	}
	return &Error{Code: CodeInvalid, Message: msg, Details: map[string]any{"fields": fields}}
}

// SoldOut is the error for a stay that does not fit on some nights.
func SoldOut(roomType string, nights []Date) *Error {
	names := make([]string, len(nights))
	for i, n := range nights {
		names[i] = n.String()
	}
	return &Error{
		Code:    CodeSoldOut,
		Message: fmt.Sprintf("not enough %s rooms on %d night(s)", roomType, len(nights)),
		Details: map[string]any{"room_type": roomType, "nights": names},
	}
}

// maxEcho bounds a client-given value echoed back in an error, so that a
// hostile id cannot make an error answer large.
const maxEcho = 64

// Echo returns s cut to maxEcho bytes (on a rune boundary) with "…" when cut.
func Echo(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Kinds of things an error names in details.kind.
const (
	KindProperty       = "property"
	KindRoomType       = "room_type"
	KindReservation    = "reservation"
	KindHold           = "hold"
	KindRoute          = "route"
	KindIdempotencyKey = "idempotency_key"
	KindWebhook        = "webhook"
	KindDelivery       = "delivery"
)

// NotFound is the error for a kind (property, room_type, reservation, hold,
// route) and id that do not exist in the caller's tenant; details name both.
func NotFound(kind, id string) *Error {
	id = Echo(id)
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("%s %s not found", kind, id),
		Details: map[string]any{"kind": kind, "id": id}}
}

// Conflict is the error for a change the state of kind id does not allow;
// details name both, and extra adds more (status, version, nights).
func Conflict(kind, id string, extra map[string]any, format string, args ...any) *Error {
	d := map[string]any{"kind": kind, "id": Echo(id)}
	for k, v := range extra {
		d[k] = v
	}
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...), Details: d}
}
