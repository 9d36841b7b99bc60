package cluster_test

import (
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/persistence"
	"github.com/staylock/staylock/persistence/storetest"
)

const (
	tenant   = "t1"
	property = "p1"
)

// MustOpen migrates dbURL and opens a store on it with one tenant and
// property; every member of a test cluster opens its own, as nodes do.
func MustOpen(t testing.TB, dbURL string) persistence.Store {
	return storetest.MustOpenWithProperty(t, dbURL, tenant, property)
}

func date(s string) booking.Date {
	d, err := booking.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}
