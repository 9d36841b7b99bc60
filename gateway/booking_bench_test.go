package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/testserver"
	"github.com/staylock/staylock/persistence"
)

// BenchmarkBookingHandler is the whole booking path in one process, without
// the network: the real handler (auth, rate limit, decoding, validation,
// idempotency, metrics), the coordinator, the actor and the in-memory
// store's commit. ns/op and allocs/op are per booking; with a key, the
// idempotency claim and record are in the path too.
// `go test -run '^$' -bench BookingHandler -benchmem ./gateway/`
func BenchmarkBookingHandler(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("idempotency-key=%v", keyed), func(b *testing.B) {
			srv := testserver.Start(b, persistence.MemoryURL, testserver.Options{Gateway: gateway.Options{Registry: prometheus.NewRegistry()}})
			h := srv.Gateway.Handler()
			key := srv.MustKey(b, "acme", booking.RoleAdmin)
			serve := func(method, path, body, idem string) int {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				if idem != "" {
					req.Header.Set("Idempotency-Key", idem)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			if c := serve("PUT", "/v1/properties/p1", `{"name":"H","timezone":"UTC","currency":"EUR"}`, ""); c >= 300 {
				b.Fatalf("property: %d", c)
			}
			if c := serve("PUT", "/v1/properties/p1/room-types/dlx", `{"name":"D","rooms":100000,"price":100}`, ""); c >= 300 {
				b.Fatalf("room type: %d", c)
			}
			first, err := booking.ParseDate("2027-01-01")
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					arrival := first + booking.Date(rand.N(300))
					body := fmt.Sprintf(`{"stays":[{"room_type":"dlx","arrival":%q,"departure":%q,"quantity":1}],"guest":{"name":"Ada"}}`,
						arrival, arrival+1)
					idem := ""
					if keyed {
						idem = fmt.Sprintf("k-%d-%d", rand.Uint64(), rand.Uint64())
					}
					if c := serve("POST", "/v1/properties/p1/reservations", body, idem); c != http.StatusCreated {
						b.Errorf("booking answered %d", c)
						return
					}
				}
			})
		})
	}
}
