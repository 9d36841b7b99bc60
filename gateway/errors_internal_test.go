package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
)

// TestStatusTable: every code of the contract has its documented status.
func TestStatusTable(t *testing.T) {
	want := map[booking.Code]int{
		booking.CodeInvalid: 400, booking.CodeUnauthorized: 401, booking.CodeForbidden: 403,
		booking.CodeNotFound: 404, booking.CodeSoldOut: 409, booking.CodeRestricted: 409,
		booking.CodeConflict: 409, booking.CodeIdempotencyKeyReused: 422, booking.CodePayloadTooLarge: 413,
		booking.CodeRateLimited: 429, booking.CodeMaintenance: 503, booking.CodeUnavailable: 503,
		booking.CodeInternal: 500,
	}
	for code, status := range want {
		if got := StatusOf(code); got != status {
			t.Errorf("%s: %d, want %d", code, got, status)
		}
	}
	if got := StatusOf("no_such_code"); got != 500 {
		t.Errorf("unknown code: %d, want 500", got)
	}
}

// TestAPIError: errors without a code never leak their text unless debug,
// and become unavailable when a dependency did not answer.
func TestAPIError(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user admin at 10.0.0.7")
	cases := []struct {
		name string
		err  error
		code booking.Code
	}{
		{"booking error", booking.Errorf(booking.CodeSoldOut, "full"), booking.CodeSoldOut},
		{"wrapped booking error", fmt.Errorf("call: %w", booking.Errorf(booking.CodeConflict, "x")), booking.CodeConflict},
		{"store not found", fmt.Errorf("get: %w", persistence.ErrNotFound), booking.CodeNotFound},
		{"deadline", fmt.Errorf("call x: %w", context.DeadlineExceeded), booking.CodeUnavailable},
		{"maybe committed", persistence.ErrMaybeCommitted, booking.CodeUnavailable},
		{"maybe done", booking.ErrMaybeDone, booking.CodeUnavailable},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, booking.CodeUnavailable},
		{"plain", secret, booking.CodeInternal},
		{"internal booking error", booking.Errorf(booking.CodeInternal, "%v", secret), booking.CodeInternal},
		{"code outside the contract", booking.Errorf("teapot", "%v", secret), booking.CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := apiError(tc.err, false)
			if got.Code != tc.code {
				t.Fatalf("code %s, want %s", got.Code, tc.code)
			}
			if strings.Contains(got.Message, "password") {
				t.Errorf("message leaks the error: %q", got.Message)
			}
			if tc.code == booking.CodeInternal {
				if dbg := apiError(tc.err, true); !strings.Contains(dbg.Message, "password") {
					t.Errorf("debug message %q lacks the error", dbg.Message)
				}
			}
		})
	}
}
