package persistence

import (
	"fmt"
	"strings"
	"time"

	"github.com/staylock/staylock/booking"
)

// listDialect is what differs between the backends in ListReservations.
type listDialect struct {
	placeholder func(n int) string       // $1 or ?
	timeArg     func(t time.Time) any    // a created_at value as the column stores it
	dateArg     func(d booking.Date) any // an arrival value as the column stores it
}

// listReservationsQuery builds the keyset-paged query of ListReservations.
// It asks for limit+1 rows, so that the caller can tell whether there is a
// next page.
func listReservationsQuery(d listDialect, cols, tenant, property string, f ReservationFilter) (query string, args []any, limit int, err error) {
	limit = listLimit(f.Limit)
	after, hasCursor, err := decodeCursor(f.Cursor)
	if err != nil {
		return "", nil, 0, err
	}
	var where []string
	arg := func(v any) string {
		args = append(args, v)
		return d.placeholder(len(args))
	}
	where = append(where, "tenant = "+arg(tenant), "property = "+arg(property))
	if f.Status != "" {
		where = append(where, "status = "+arg(f.Status))
	}
	if f.ArrivalFrom != 0 {
		where = append(where, "arrival >= "+arg(d.dateArg(f.ArrivalFrom)))
	}
	if f.ArrivalTo != 0 {
		where = append(where, "arrival < "+arg(d.dateArg(f.ArrivalTo)))
	}
	if f.ExternalRef != "" {
		where = append(where, "external_ref = "+arg(f.ExternalRef))
	}
	if hasCursor {
		t := arg(d.timeArg(after.createdAt))
		where = append(where, fmt.Sprintf("(created_at, id) > (%s, %s)", t, arg(after.id)))
	}
	query = fmt.Sprintf("SELECT %s FROM reservations WHERE %s ORDER BY created_at, id LIMIT %d",
		cols, strings.Join(where, " AND "), limit+1)
	return query, args, limit, nil
}

// nextPage trims the extra row of a page and returns the next cursor.
func nextPage(rs []booking.Reservation, limit int) ([]booking.Reservation, string) {
	if len(rs) <= limit {
		return rs, ""
	}
	rs = rs[:limit]
	last := rs[len(rs)-1]
	return rs, encodeCursor(last.CreatedAt, last.ID)
}
