package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
)

// bodyField names the request body as a whole in details.fields.
const bodyField = "body"

// readBody reads the whole request body, at most r.limit bytes.
func (r responder) readBody(c *gin.Context) ([]byte, error) {
	if c.Request.ContentLength > r.limit {
		return nil, tooLarge(r.limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, r.limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(r.limit)
	}
	if err != nil {
		return nil, booking.Errorf(booking.CodeInvalid, "could not read the request body")
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return &booking.Error{Code: booking.CodePayloadTooLarge,
		Message: fmt.Sprintf("request body is larger than %d bytes", limit),
		Details: map[string]any{"limit_bytes": limit}}
}

// decode reads the body and decodes it strictly into v; on failure it writes
// the error response and returns ok false. An empty body is allowed only
// when optional is true (v keeps its zero value).
func (r responder) decode(c *gin.Context, v any, optional bool) (raw []byte, ok bool) {
	raw, err := r.readBody(c)
	if err != nil {
		r.fail(c, err)
		return nil, false
	}
	if optional && len(bytes.TrimSpace(raw)) == 0 {
		return raw, true
	}
	fe := booking.FieldErrors{}
	if at := invalidUTF8(raw); at >= 0 {
		// JSON text is UTF-8; encoding/json would quietly turn the bad
		// bytes into U+FFFD and store a text the client never sent.
		fe.Add(bodyField, fmt.Sprintf("is not valid UTF-8 (byte %d)", at))
		r.fail(c, fe.Err())
		return nil, false
	}
	if !decodeStrict(fe, "", raw, v) {
		r.fail(c, fe.Err())
		return nil, false
	}
	return raw, true
}

// decodeStrict decodes one JSON value into v: unknown fields, wrong types,
// malformed or truncated JSON and trailing data are recorded in fe under
// prefix (for a nested value, "stays[0]." say). It reports success.
func decodeStrict(fe booking.FieldErrors, prefix string, data []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		addDecodeError(fe, prefix, err)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		fe.Add(wholeField(prefix), "unexpected data after the JSON value")
		return false
	}
	return true
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

func wholeField(prefix string) string {
	if prefix == "" {
		return bodyField
	}
	return strings.TrimSuffix(prefix, ".")
}

func addDecodeError(fe booking.FieldErrors, prefix string, err error) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		fe.Add(wholeField(prefix), "a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		fe.Add(wholeField(prefix), "truncated JSON")
	case errors.As(err, &syn):
		fe.Add(wholeField(prefix), fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := wholeField(prefix)
		if typ.Field != "" {
			field = prefix + typ.Field
		}
		fe.Add(field, "must be "+describeType(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), "json: unknown field ")
		}
		fe.Add(prefix+name, "unknown field")
	default:
		fe.Add(wholeField(prefix), "malformed JSON")
	}
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("an integer that fits in %d bits", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return "of type " + t.String()
}

// isNull reports whether a raw value is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// stayWire is a stay as a client sends it; dates are parsed by hand so that
// a bad one is named by its field.
type stayWire struct {
	RoomType  string `json:"room_type"`
	Arrival   string `json:"arrival"`
	Departure string `json:"departure"`
	Quantity  int32  `json:"quantity"`
}

// decodeStays decodes and validates the stays of a request under the field
// name "stays".
func decodeStays(fe booking.FieldErrors, raws []json.RawMessage) []booking.Stay {
	if len(raws) > booking.MaxStays {
		fe.Add("stays", fmt.Sprintf("at most %d stays per request", booking.MaxStays))
		return nil
	}
	stays := make([]booking.Stay, len(raws))
	for i, raw := range raws {
		p := fmt.Sprintf("stays[%d].", i)
		var w stayWire
		if isNull(raw) {
			fe.Add(strings.TrimSuffix(p, "."), "must be an object")
			continue
		}
		decodeStrict(fe, p, raw, &w)
		stays[i] = booking.Stay{
			RoomType:  w.RoomType,
			Arrival:   parseDateField(fe, p+"arrival", w.Arrival),
			Departure: parseDateField(fe, p+"departure", w.Departure),
			Quantity:  w.Quantity,
		}
	}
	booking.ValidateStays(fe, stays)
	return stays
}

// parseDateField parses a YYYY-MM-DD date strictly, recording a problem
// under field.
func parseDateField(fe booking.FieldErrors, field, s string) booking.Date {
	if s == "" {
		fe.Add(field, "is required, as YYYY-MM-DD")
		return 0
	}
	d, err := booking.ParseDate(s)
	if err != nil {
		fe.Add(field, err.Error())
		return 0
	}
	return d
}

// decodeGuest decodes and validates a guest under prefix "guest.".
func decodeGuest(fe booking.FieldErrors, raw json.RawMessage) booking.Guest {
	var g booking.Guest
	if isNull(raw) {
		fe.Add("guest.name", "is required")
		return g
	}
	decodeStrict(fe, "guest.", raw, &g)
	g.Validate(fe, "guest.")
	return g
}

// mergeFields copies the fields of an invalid_request error (as
// booking.FieldErrors.Err makes) into fe; any other error is returned.
func mergeFields(fe booking.FieldErrors, err error) error {
	if err == nil {
		return nil
	}
	var be *booking.Error
	if errors.As(err, &be) && be.Code == booking.CodeInvalid {
		if fields, ok := be.Details["fields"].(map[string]string); ok {
			for f, m := range fields {
				fe.Add(f, m)
			}
			return nil
		}
	}
	return err
}
