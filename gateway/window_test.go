package gateway_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/gateway"
)

// testClock is a settable gateway clock.
type testClock struct{ ns atomic.Int64 }

func newTestClock(at time.Time) *testClock {
	c := &testClock{}
	c.set(at)
	return c
}

func (c *testClock) set(at time.Time) { c.ns.Store(at.UnixNano()) }
func (c *testClock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }

func holdBody(arrival, departure string) string {
	return `{"stays":[{"room_type":"dlx","arrival":"` + arrival + `","departure":"` + departure + `","quantity":1}]}`
}

func bookBody(arrival, departure string) string {
	return stayBody(`{"room_type":"dlx","arrival":"` + arrival + `","departure":"` + departure + `","quantity":1}`)
}

// mustFields checks a 400 invalid_request whose details.fields are exactly
// want, and returns them.
func mustFields(t *testing.T, got apiError, want ...string) map[string]any {
	t.Helper()
	f := got.fields()
	if len(f) != len(want) {
		t.Fatalf("fields %v, want exactly %v", f, want)
	}
	for _, name := range want {
		if _, ok := f[name]; !ok {
			t.Fatalf("fields %v, want exactly %v", f, want)
		}
	}
	return f
}

// TestBookingWindow: "today" is the property's own date (Europe/Berlin
// here), arrivals before it are refused (but last night stays open for late
// check-ins until the property's noon), a horizon bounds the future, and
// holds, ARI updates and modifications follow the same rule; availability
// reads any range. The gateway's clock is set, so the dates are exact.
func TestBookingWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		clk := newTestClock(envNow())
		e := newEnv(t, backend, func(o *gateway.Options) { *o = gateway.WithClock(*o, clk.now) })
		res := "/v1/properties/" + property + "/reservations"
		afternoon := time.Date(2026, 12, 3, 12, 30, 0, 0, time.UTC) // 13:30 in Berlin
		night := time.Date(2026, 12, 3, 0, 30, 0, 0, time.UTC)      // 01:30 in Berlin
		clk.set(afternoon)

		refused := []struct {
			name, method, path, body, field, msg string
		}{
			{"yesterday", "POST", res, bookBody("2026-12-02", "2026-12-04"), "stays[0].arrival", "is before the property's today 2026-12-03 (Europe/Berlin)"},
			{"2020", "POST", res, bookBody("2020-01-01", "2020-01-02"), "stays[0].arrival", "before"},
			{"2200", "POST", res, bookBody("2200-01-01", "2200-01-02"), "stays[0].departure", "beyond the booking horizon: at most 2028-12-02"},
			{"a day past the horizon", "POST", res, bookBody("2028-11-30", "2028-12-03"), "stays[0].departure", "horizon"},
			{"a hold for yesterday", "POST", "/v1/properties/" + property + "/holds", holdBody("2026-12-02", "2026-12-04"), "stays[0].arrival", "today"},
			{"ARI for yesterday", "POST", "/v1/properties/" + property + "/inventory",
				`{"updates":[{"room_type":"dlx","from":"2026-12-02","to":"2026-12-05","total":5}]}`, "updates[0].from", "today"},
			{"ARI beyond the horizon", "POST", "/v1/properties/" + property + "/inventory",
				`{"updates":[{"room_type":"dlx","from":"2028-12-01","to":"2028-12-04","total":5}]}`, "updates[0].to", "horizon"},
		}
		before := e.engine.calls.Load()
		for _, tc := range refused {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				got := mustError(t, e.do(tc.method, tc.path, "a-admin", tc.body), http.StatusBadRequest, "invalid_request")
				f := mustFields(t, got, tc.field)
				if msg, _ := f[tc.field].(string); !strings.Contains(msg, tc.msg) {
					t.Fatalf("%s: %q, want …%s…", tc.field, msg, tc.msg)
				}
			})
		}
		if n := e.engine.calls.Load() - before; n != 0 {
			t.Errorf("the engine was asked %d changes outside the window", n)
		}

		t.Run("today and the horizon's last night are booked", func(t *testing.T) {
			e.mustStatus(http.StatusCreated, e.do("POST", res, "a-admin", bookBody("2026-12-03", "2026-12-04")))
			e.mustStatus(http.StatusCreated, e.do("POST", res, "a-admin", bookBody("2028-12-01", "2028-12-02")))
		})
		t.Run("availability reads the past", func(t *testing.T) {
			e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/"+property+"/availability?from=2026-11-01&to=2026-11-10", "a-viewer", ""))
		})

		t.Run("last night is open for late check-ins until the property's noon", func(t *testing.T) {
			clk.set(night)
			e.mustStatus(http.StatusCreated, e.do("POST", res, "a-admin", bookBody("2026-12-02", "2026-12-03")))
			got := mustError(t, e.do("POST", res, "a-admin", bookBody("2026-12-01", "2026-12-03")), http.StatusBadRequest, "invalid_request")
			if msg, _ := mustFields(t, got, "stays[0].arrival")["stays[0].arrival"].(string); !strings.Contains(msg, "until 12:00") {
				t.Fatalf("message %q does not say until when", msg)
			}
			clk.set(afternoon)
		})

		t.Run("modifications keep the past as it is", func(t *testing.T) {
			// The seeded reservation took the nights 2026-12-01 and -02, now past.
			id := "/v1/reservations/" + e.resID
			e.mustStatus(http.StatusOK, e.do("PATCH", id, "a-admin", `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-05","quantity":1}]}`))
			got := mustError(t, e.do("PATCH", id, "a-admin", `{"stays":[{"room_type":"dlx","arrival":"2026-11-30","departure":"2026-12-05","quantity":1}]}`),
				http.StatusBadRequest, "invalid_request")
			mustFields(t, got, "stays[0].arrival")
			got = mustError(t, e.do("PATCH", id, "a-admin", `{"stays":[{"room_type":"dlx","arrival":"2026-12-20","departure":"2026-12-22","quantity":1}]}`),
				http.StatusBadRequest, "invalid_request")
			mustFields(t, got, "stays")
			got = mustError(t, e.do("PATCH", id, "a-admin", `{"stays":[{"room_type":"dlx","arrival":"2026-12-01","departure":"2026-12-05","quantity":1},{"room_type":"dlx","arrival":"2028-12-01","departure":"2028-12-04","quantity":1}]}`),
				http.StatusBadRequest, "invalid_request")
			mustFields(t, got, "stays[1].departure")
			var r booking.Reservation
			e.decode(e.mustStatus(http.StatusOK, e.do("GET", id, "a-admin", "")), &r)
			if r.Version != 2 || r.Stays[0].Departure != mustDate(t, "2026-12-05") {
				t.Fatalf("after one accepted and three refused modifications: version %d, stays %+v", r.Version, r.Stays)
			}
		})

		t.Run("a property's own settings", func(t *testing.T) {
			var p booking.Property
			e.decode(e.mustStatus(http.StatusOK, e.do("GET", "/v1/properties/"+property, "a-viewer", "")), &p)
			if p.BookingHorizonDays != 730 || p.LateCheckinUntil != "12:00" {
				t.Fatalf("defaults shown as %d, %q", p.BookingHorizonDays, p.LateCheckinUntil)
			}
			e.decode(e.mustStatus(http.StatusOK, e.do("PUT", "/v1/properties/"+property, "a-admin",
				`{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR","booking_horizon_days":30,"late_checkin_until":"00:00"}`)), &p)
			if p.BookingHorizonDays != 30 || p.LateCheckinUntil != "00:00" {
				t.Fatalf("settings stored as %d, %q", p.BookingHorizonDays, p.LateCheckinUntil)
			}
			// An update that leaves them out keeps them.
			e.decode(e.mustStatus(http.StatusOK, e.do("PUT", "/v1/properties/"+property, "a-admin", propertyJSON)), &p)
			if p.BookingHorizonDays != 30 || p.LateCheckinUntil != "00:00" {
				t.Fatalf("an update without them reset them to %d, %q", p.BookingHorizonDays, p.LateCheckinUntil)
			}
			clk.set(night)
			mustFields(t, mustError(t, e.do("POST", res, "a-admin", bookBody("2026-12-02", "2026-12-03")), http.StatusBadRequest, "invalid_request"), "stays[0].arrival")
			mustFields(t, mustError(t, e.do("POST", res, "a-admin", bookBody("2026-12-20", "2027-01-03")), http.StatusBadRequest, "invalid_request"), "stays[0].departure")
			e.mustStatus(http.StatusCreated, e.do("POST", res, "a-admin", bookBody("2026-12-20", "2027-01-02")))
			clk.set(afternoon)

			got := mustError(t, e.do("PUT", "/v1/properties/p2", "a-admin",
				`{"name":"H","timezone":"UTC","currency":"EUR","booking_horizon_days":0,"late_checkin_until":"24:00"}`), http.StatusBadRequest, "invalid_request")
			mustFields(t, got, "booking_horizon_days", "late_checkin_until")
			e.decode(e.mustStatus(http.StatusCreated, e.do("PUT", "/v1/properties/p2", "a-admin", `{"name":"H","timezone":"UTC","currency":"EUR"}`)), &p)
			if p.BookingHorizonDays != 730 || p.LateCheckinUntil != "12:00" {
				t.Fatalf("a new property got %d, %q, want the defaults", p.BookingHorizonDays, p.LateCheckinUntil)
			}
		})
	})
}

func mustDate(t *testing.T, s string) booking.Date {
	t.Helper()
	d, err := booking.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBadDateIsNamedAlone: a date that does not parse is the one error of
// its field; the range is not measured from the zero date (which added
// "range is 20878 nights, at most 400 allowed").
func TestBadDateIsNamedAlone(t *testing.T) {
	e := newEnv(t, "sqlite")
	cases := []struct{ name, method, path, body, field string }{
		{"arrival", "POST", "/v1/properties/" + property + "/reservations", bookBody("2027-02-30", "2027-03-02"), "stays[0].arrival"},
		{"departure", "POST", "/v1/properties/" + property + "/reservations", bookBody("2027-02-26", "2027-02-30"), "stays[0].departure"},
		{"hold arrival", "POST", "/v1/properties/" + property + "/holds", holdBody("2027-02-30", "2027-03-02"), "stays[0].arrival"},
		{"modify arrival", "PATCH", "/v1/reservations/" + e.resID, `{"stays":[{"room_type":"dlx","arrival":"2027-02-30","departure":"2027-03-02","quantity":1}]}`, "stays[0].arrival"},
		{"update from", "POST", "/v1/properties/" + property + "/inventory", `{"updates":[{"room_type":"dlx","from":"2027-02-30","to":"2027-03-05"}]}`, "updates[0].from"},
		{"update to", "POST", "/v1/properties/" + property + "/inventory", `{"updates":[{"room_type":"dlx","from":"2027-02-01","to":"2027-02-30"}]}`, "updates[0].to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustError(t, e.do(tc.method, tc.path, "a-admin", tc.body), http.StatusBadRequest, "invalid_request")
			f := mustFields(t, got, tc.field)
			if msg, _ := f[tc.field].(string); !strings.Contains(msg, "2027-02-30") {
				t.Fatalf("%s: %q does not name the bad date", tc.field, msg)
			}
		})
	}
}
