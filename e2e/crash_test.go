package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/staylock/staylock/internal/poll"
)

type stay struct {
	RoomType  string `json:"room_type"`
	Arrival   string `json:"arrival"`
	Departure string `json:"departure"`
	Quantity  int    `json:"quantity"`
}

type reservation struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Stays  []stay `json:"stays"`
}

type night struct {
	Date      string `json:"date"`
	Total     int    `json:"total"`
	Booked    int    `json:"booked"`
	Held      int    `json:"held"`
	Available int    `json:"available"`
}

type availabilityResp struct {
	RoomTypes []struct {
		RoomType string  `json:"room_type"`
		Nights   []night `json:"nights"`
	} `json:"room_types"`
}

// The booking window of these tests: the binary books with the real clock,
// so the dates are counted from today (30 days ahead: bookable wherever the
// property's today is, far inside its horizon).
var (
	windowFrom = time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	windowTo   = dayAfter(windowFrom, 24)
)

func dayAfter(d string, n int) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		panic(err)
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

func mustSetUpHotel(t *testing.T, c *client, roomTypes []string, rooms int) {
	t.Helper()
	c.MustDo(t, "PUT", "/v1/properties/p1", map[string]any{"name": "Hotel One", "timezone": "Europe/Berlin", "currency": "EUR"}, http.StatusCreated, nil)
	for _, rt := range roomTypes {
		c.MustDo(t, "PUT", "/v1/properties/p1/room-types/"+rt, map[string]any{"name": "Room " + rt, "rooms": rooms, "price": 10000}, http.StatusCreated, nil)
	}
}

// MustListReservations pages through every reservation of p1.
func MustListReservations(t *testing.T, c *client) []reservation {
	t.Helper()
	var all []reservation
	cursor := ""
	for {
		var page struct {
			Reservations []reservation `json:"reservations"`
			NextCursor   *string       `json:"next_cursor"`
		}
		path := "/v1/properties/p1/reservations?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		c.MustDo(t, "GET", path, nil, http.StatusOK, &page)
		all = append(all, page.Reservations...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all
		}
		cursor = *page.NextCursor
	}
}

// checkBooksBalance verifies, by counting, that every night's booked equals
// the stored confirmed reservations covering it and that none is oversold.
func checkBooksBalance(t *testing.T, c *client, roomTypes []string) {
	t.Helper()
	want := map[string]int{} // room_type/date → rooms
	for _, r := range MustListReservations(t, c) {
		if r.Status != "confirmed" {
			continue
		}
		for _, s := range r.Stays {
			for d := s.Arrival; d < s.Departure; d = dayAfter(d, 1) {
				want[s.RoomType+"/"+d] += s.Quantity
			}
		}
	}
	var av availabilityResp
	c.MustDo(t, "GET", "/v1/properties/p1/availability?from="+windowFrom+"&to="+dayAfter(windowTo, 3), nil, http.StatusOK, &av)
	if len(av.RoomTypes) != len(roomTypes) {
		t.Fatalf("availability has %d room types, want %d", len(av.RoomTypes), len(roomTypes))
	}
	for _, rt := range av.RoomTypes {
		for _, n := range rt.Nights {
			if n.Booked > n.Total {
				t.Errorf("%s %s oversold: booked %d of %d", rt.RoomType, n.Date, n.Booked, n.Total)
			}
			if w := want[rt.RoomType+"/"+n.Date]; n.Booked != w {
				t.Errorf("%s %s: booked %d, stored confirmed reservations hold %d", rt.RoomType, n.Date, n.Booked, w)
			}
		}
	}
}

func TestCrash_SIGKILLDuringLoadLosesNoAcknowledgedBooking(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		roomTypes := []string{"std", "dlx", "ste"}
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		c := newClient(s.url, key)
		mustSetUpHotel(t, c, roomTypes, 40)

		var mu sync.Mutex
		acked := map[string]bool{}
		var attempts, soldOut atomic.Int64
		ctx, stopLoad := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 32 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := 0; ctx.Err() == nil; i++ {
					arrival := dayAfter(windowFrom, rng.IntN(20))
					body := map[string]any{
						"stays": []stay{{RoomType: roomTypes[rng.IntN(len(roomTypes))], Arrival: arrival,
							Departure: dayAfter(arrival, 1+rng.IntN(3)), Quantity: 1}},
						"guest": map[string]string{"name": "Guest"}, "channel": "load",
					}
					attempts.Add(1)
					status, resp, err := c.do(ctx, "POST", "/v1/properties/p1/reservations", body,
						"Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
					if err != nil {
						return // the server died: this request's outcome is unknown, which is allowed
					}
					switch status {
					case http.StatusCreated:
						var r reservation
						if err := json.Unmarshal(resp, &r); err != nil || r.ID == "" {
							t.Errorf("201 without a reservation: %s", resp)
							return
						}
						mu.Lock()
						acked[r.ID] = true
						mu.Unlock()
					case http.StatusConflict:
						soldOut.Add(1)
					default:
						t.Errorf("booking answered %d: %s", status, resp)
						return
					}
				}
			})
		}
		// Let the load run, then kill the server mid-flight.
		poll.Until(30*time.Second, func() bool { return attempts.Load() >= 400 })
		s.stop(t, syscall.SIGKILL)
		stopLoad()
		wg.Wait()
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n == 0 {
			t.Fatalf("no booking was acknowledged before the kill (attempts %d)", attempts.Load())
		}
		t.Logf("%s: %d attempts, %d acknowledged, %d sold out before SIGKILL", b.name, attempts.Load(), n, soldOut.Load())

		s2 := b.MustStart(t)
		c2 := newClient(s2.url, key)
		for id := range acked {
			var r reservation
			c2.MustDo(t, "GET", "/v1/reservations/"+id, nil, http.StatusOK, &r)
			if r.Status != "confirmed" {
				t.Errorf("acknowledged %s reads back %q", id, r.Status)
			}
		}
		checkBooksBalance(t, c2, roomTypes)
	})
}

func TestRestart_SIGTERMThenStartBringsEverythingBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		admin := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		c := newClient(s.url, admin)
		mustSetUpHotel(t, c, []string{"std", "dlx"}, 5)

		var res reservation
		c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
			"stays": []stay{{RoomType: "std", Arrival: dayAfter(windowFrom, 1), Departure: dayAfter(windowFrom, 3), Quantity: 1},
				{RoomType: "dlx", Arrival: dayAfter(windowFrom, 1), Departure: dayAfter(windowFrom, 2), Quantity: 2}},
			"guest": map[string]string{"name": "Ada Lovelace", "email": "ada@example.com"}, "channel": "direct",
		}, http.StatusCreated, &res)
		var hold struct {
			ID string `json:"id"`
		}
		c.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{
			"stays":       []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 1), Departure: dayAfter(windowFrom, 2), Quantity: 1}},
			"ttl_seconds": 3600,
		}, http.StatusCreated, &hold)
		viewer := b.MustCreateKey(t, "acme", "viewer")

		if code := s.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("SIGTERM exit code %d\n%s", code, s.stderr.String())
		}
		s2 := b.MustStart(t)
		c2 := newClient(s2.url, admin)
		var props struct {
			Properties []struct {
				ID string `json:"id"`
			} `json:"properties"`
		}
		c2.MustDo(t, "GET", "/v1/properties", nil, http.StatusOK, &props)
		if len(props.Properties) != 1 || props.Properties[0].ID != "p1" {
			t.Fatalf("properties after restart: %+v", props)
		}
		var rts struct {
			RoomTypes []struct {
				ID    string `json:"id"`
				Rooms int    `json:"rooms"`
			} `json:"room_types"`
		}
		c2.MustDo(t, "GET", "/v1/properties/p1/room-types", nil, http.StatusOK, &rts)
		if len(rts.RoomTypes) != 2 {
			t.Fatalf("room types after restart: %+v", rts)
		}
		var got reservation
		c2.MustDo(t, "GET", "/v1/reservations/"+res.ID, nil, http.StatusOK, &got)
		if got.Status != "confirmed" || len(got.Stays) != 2 {
			t.Fatalf("reservation after restart: %+v", got)
		}
		var av availabilityResp
		newClient(s2.url, viewer).MustDo(t, "GET", "/v1/properties/p1/availability?from="+dayAfter(windowFrom, 1)+"&to="+dayAfter(windowFrom, 2)+"&room_type=dlx", nil, http.StatusOK, &av)
		if n := av.RoomTypes[0].Nights[0]; n.Booked != 2 || n.Held != 1 || n.Available != 2 {
			t.Fatalf("dlx night after restart: %+v", n)
		}
		c2.MustDo(t, "DELETE", "/v1/holds/"+hold.ID, nil, http.StatusNoContent, nil)
		checkBooksBalance(t, c2, []string{"std", "dlx"})
	})
}

func TestRestart_HoldsExpireAcrossARestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		key := b.MustCreateKey(t, "acme", "admin")
		s := b.MustStart(t)
		c := newClient(s.url, key)
		mustSetUpHotel(t, c, []string{"dlx"}, 5)
		var hold struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		c.MustDo(t, "POST", "/v1/properties/p1/holds", map[string]any{
			"stays":       []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 4), Departure: dayAfter(windowFrom, 5), Quantity: 2}},
			"ttl_seconds": 3,
		}, http.StatusCreated, &hold)
		if code := s.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("SIGTERM exit code %d", code)
		}
		// The hold outlives the process; the restarted node releases it on time.
		s2 := b.MustStart(t)
		c2 := newClient(s2.url, key)
		poll.EventuallyNil(t, time.Until(hold.ExpiresAt.Add(5*time.Second)), "the hold's release, at most 5 s after expires_at "+hold.ExpiresAt.String(), func() error {
			var av availabilityResp
			c2.MustDo(t, "GET", "/v1/properties/p1/availability?from="+dayAfter(windowFrom, 4)+"&to="+dayAfter(windowFrom, 5), nil, http.StatusOK, &av)
			n := av.RoomTypes[0].Nights[0]
			if n.Held != 0 {
				return fmt.Errorf("still held: %+v", n)
			}
			if time.Now().Before(hold.ExpiresAt) {
				t.Fatalf("hold released before it expired: %+v", n)
			}
			return nil
		})
	})
}
