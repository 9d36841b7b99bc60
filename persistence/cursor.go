package persistence

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/staylock/staylock/booking"
)

// Reservation listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// listLimit applies the default and the maximum to a requested page size.
func listLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultListLimit
	case n > MaxListLimit:
		return MaxListLimit
	}
	return n
}

// cursor is the position after the last row of a page: its (created_at, id).
type cursor struct {
	createdAt time.Time
	id        string
}

const cursorVersion = "v1"

// encodeCursor makes the opaque next-page token for the row (createdAt, id).
func encodeCursor(createdAt time.Time, id string) string {
	raw := cursorVersion + ":" + strconv.FormatInt(StoredTime(createdAt).UnixMicro(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// errBadCursor is an invalid_request naming the cursor field.
func errBadCursor() error {
	return booking.FieldErrors{"cursor": "is not a cursor returned by a previous page"}.Err()
}

// decodeCursor parses a token from encodeCursor; ok is false for "".
func decodeCursor(s string) (c cursor, ok bool, err error) {
	if s == "" {
		return cursor{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, false, errBadCursor()
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || parts[0] != cursorVersion {
		return cursor{}, false, errBadCursor()
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cursor{}, false, errBadCursor()
	}
	return cursor{createdAt: time.UnixMicro(us).UTC(), id: parts[2]}, true, nil
}
