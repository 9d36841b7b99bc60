package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/testserver"
)

func TestAPI_LastFiveRoomsRacedByFortyClients(t *testing.T) {
	testserver.Backends(t, func(t *testing.T, dbURL string) {
		s := testserver.Start(t, dbURL, testserver.Options{})
		c := newClient(s.URL, s.MustKey(t, "acme", booking.RoleAdmin))
		mustSetUpHotel(t, c, []string{"dlx"}, 5)

		var confirmed, soldOut atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				status, body, err := c.do(context.Background(), "POST", "/v1/properties/p1/reservations", map[string]any{
					"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 0), Departure: dayAfter(windowFrom, 1), Quantity: 1}},
					"guest": map[string]string{"name": fmt.Sprintf("Guest %d", i)}, "channel": "race",
				}, "Idempotency-Key", fmt.Sprintf("race-%d", i))
				switch {
				case err != nil:
					t.Errorf("request %d: %v", i, err)
				case status == http.StatusCreated:
					confirmed.Add(1)
				case status == http.StatusConflict && bytes.Contains(body, []byte(`"code":"sold_out"`)):
					soldOut.Add(1)
				default:
					t.Errorf("request %d: %d %s", i, status, body)
				}
			})
		}
		wg.Wait()
		if confirmed.Load() != 5 || soldOut.Load() != 35 {
			t.Fatalf("confirmed %d, sold_out %d; want 5 and 35", confirmed.Load(), soldOut.Load())
		}
		var av availabilityResp
		c.MustDo(t, "GET", "/v1/properties/p1/availability?from="+dayAfter(windowFrom, 0)+"&to="+dayAfter(windowFrom, 1), nil, http.StatusOK, &av)
		if n := av.RoomTypes[0].Nights[0]; n.Booked != 5 || n.Available != 0 {
			t.Fatalf("night after the race: %+v; want booked 5, available 0", n)
		}
		checkBooksBalance(t, c, []string{"dlx"})
	})
}
