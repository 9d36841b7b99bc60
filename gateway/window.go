package gateway

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/staylock/staylock/booking"
)

// zones caches loaded time zones: time.LoadLocation reads the zone database
// on every call, and every booking needs its property's zone. A property's
// zone name was checked when it was stored, so the set of names is small.
type zones struct {
	mu  sync.RWMutex
	loc map[string]*time.Location
}

func (z *zones) load(name string) (*time.Location, error) {
	z.mu.RLock()
	loc, ok := z.loc[name]
	z.mu.RUnlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	z.mu.Lock()
	if z.loc == nil || len(z.loc) > 1000 { // IANA has about 600 names
		z.loc = map[string]*time.Location{}
	}
	z.loc[name] = loc
	z.mu.Unlock()
	return loc, nil
}

// clock tells which nights a property sells now: the gateway owns "now"
// (time.Now; a fixed instant in tests) and reads the property, so the booking rules stay pure.
type clock struct {
	now   func() time.Time
	zones *zones
}

// window is p's booking window at this instant.
func (c clock) window(p booking.Property) (booking.Window, error) {
	loc, err := c.zones.load(p.Timezone)
	if err != nil {
		// Property.Validate loaded it before it was stored: a node whose
		// zone database lacks it is broken, not the request.
		return booking.Window{}, booking.Errorf(booking.CodeInternal, "time zone %q of property %s: %v", p.Timezone, p.ID, err)
	}
	return booking.BookingWindow(p, loc, c.now()), nil
}

// checkInWindow answers the request with fe's field errors, or with those
// check finds against the property's booking window, and reports whether
// there were none (the request goes on).
func (r responder) checkInWindow(c *gin.Context, clk clock, p booking.Property, fe booking.FieldErrors, check func(booking.Window, booking.FieldErrors)) bool {
	if err := fe.Err(); err != nil {
		r.fail(c, err)
		return false
	}
	w, err := clk.window(p)
	if err == nil {
		check(w, fe)
		err = fe.Err()
	}
	if err != nil {
		r.fail(c, err)
		return false
	}
	return true
}
