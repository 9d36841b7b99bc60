package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the backup file directly

	"github.com/staylock/staylock/internal/poll"
)

// bookingLoad books one room at a time on p1 from several clients, from
// 40 days ahead, and remembers every 201 in order.
type bookingLoad struct {
	c         *client
	roomTypes []string
	from      string // first night of the window

	mu    sync.Mutex
	acked []string

	attempts atomic.Int64
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func startBookingLoad(t *testing.T, c *client, roomTypes []string, clients int) *bookingLoad {
	return startLoad(t, c, roomTypes, clients, false)
}

// startLoad starts the load; mailed bookings carry a guest email, and their
// clients stop quietly when the server dies under them (a request's
// outcome is then unknown, which is allowed).
func startLoad(t *testing.T, c *client, roomTypes []string, clients int, mailed bool) *bookingLoad {
	ctx, stop := context.WithCancel(context.Background())
	l := &bookingLoad{c: c, roomTypes: roomTypes, from: time.Now().UTC().AddDate(0, 0, 40).Format(time.DateOnly), stop: stop}
	for w := range clients {
		l.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for i := 0; ctx.Err() == nil; i++ {
				arrival := dayAfter(l.from, rng.IntN(20))
				guest := map[string]string{"name": "Guest"}
				if mailed {
					guest["email"] = fmt.Sprintf("guest-%d-%d@example.com", w, i)
				}
				body := map[string]any{
					"stays": []stay{{RoomType: roomTypes[rng.IntN(len(roomTypes))], Arrival: arrival,
						Departure: dayAfter(arrival, 1+rng.IntN(3)), Quantity: 1}},
					"guest": guest, "channel": "load",
				}
				l.attempts.Add(1)
				status, resp, err := c.do(ctx, "POST", "/v1/properties/p1/reservations", body,
					"Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
				switch {
				case ctx.Err() != nil, err != nil && mailed:
					return
				case err != nil:
					t.Errorf("booking: %v", err)
					return
				case status == http.StatusCreated:
					var r reservation
					if err := json.Unmarshal(resp, &r); err != nil || r.ID == "" {
						t.Errorf("201 without a reservation: %s", resp)
						return
					}
					l.mu.Lock()
					l.acked = append(l.acked, r.ID)
					l.mu.Unlock()
				case status != http.StatusConflict: // sold out is an answer
					t.Errorf("booking answered %d: %s", status, resp)
					return
				}
			}
		})
	}
	return l
}

// acknowledged is every booking answered 201 so far.
func (l *bookingLoad) acknowledged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

func (l *bookingLoad) waitFor(t *testing.T, n int) {
	t.Helper()
	poll.EventuallyNil(t, 60*time.Second, fmt.Sprintf("%d bookings acknowledged", n), func() error {
		if got := len(l.acknowledged()); got < n {
			return fmt.Errorf("%d acknowledged (%d attempts)", got, l.attempts.Load())
		}
		return nil
	})
}

func (l *bookingLoad) halt() {
	l.stop()
	l.wg.Wait()
}

// checkBalance verifies, by counting, that no night of the load's window
// is oversold and that every night's booked equals the confirmed
// reservations covering it.
func (l *bookingLoad) checkBalance(t *testing.T, c *client) {
	t.Helper()
	want := map[string]int{}
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
	c.MustDo(t, "GET", "/v1/properties/p1/availability?from="+l.from+"&to="+dayAfter(l.from, 23), nil, http.StatusOK, &av)
	if len(av.RoomTypes) != len(l.roomTypes) {
		t.Fatalf("availability has %d room types, want %d", len(av.RoomTypes), len(l.roomTypes))
	}
	for _, rt := range av.RoomTypes {
		for _, n := range rt.Nights {
			if n.Booked > n.Total {
				t.Errorf("%s %s oversold: booked %d of %d", rt.RoomType, n.Date, n.Booked, n.Total)
			}
			if w := want[rt.RoomType+"/"+n.Date]; n.Booked != w {
				t.Errorf("%s %s: booked %d, confirmed reservations hold %d", rt.RoomType, n.Date, n.Booked, w)
			}
		}
	}
}

// `staylock backup` while `serve` books: the copy opens, passes SQLite's
// integrity check, holds every booking acknowledged before the backup
// started, and a server started on it (the documented restore) serves them
// with balanced books.
func TestBackup_SQLiteCopyWhileServingHoldsEveryEarlierBooking(t *testing.T) {
	storage := t.TempDir()
	b := backend{"sqlite", []string{"STORAGE_PATH=" + storage}}
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	roomTypes := []string{"std", "dlx", "ste"}
	mustSetUpHotel(t, c, roomTypes, 40)

	load := startBookingLoad(t, c, roomTypes, 16)
	load.waitFor(t, 300)
	before := load.acknowledged()
	file := filepath.Join(t.TempDir(), "staylock-backup.db")
	out := b.MustRunCommand(t, "backup", "--to", file)
	during := len(load.acknowledged()) - len(before)
	load.halt()
	t.Logf("backup: %s (%d bookings acknowledged before it started, %d while it ran)", out, len(before), during)
	if code := s.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	db, err := sql.Open("sqlite", file+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&verdict); err != nil || verdict != "ok" {
		t.Fatalf("integrity_check of the backup: %q, %v", verdict, err)
	}
	inCopy := map[string]string{}
	rows, err := db.Query("SELECT id, status FROM reservations")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		inCopy[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	_ = rows.Close()
	for _, id := range before {
		if inCopy[id] != "confirmed" {
			t.Errorf("booking %s was acknowledged before the backup started but the copy has %q", id, inCopy[id])
		}
	}

	// Restore as docs/operations.md says: the file becomes STORAGE_PATH's
	// database, nothing else is needed (keys are in the database).
	restored := t.TempDir()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "staylock.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	rb := backend{"sqlite", []string{"STORAGE_PATH=" + restored}}
	s2 := rb.MustStart(t)
	c2 := newClient(s2.url, key)
	for _, id := range before {
		var r reservation
		c2.MustDo(t, "GET", "/v1/reservations/"+id, nil, http.StatusOK, &r)
		if r.Status != "confirmed" {
			t.Errorf("restored %s reads back %q", id, r.Status)
		}
	}
	if got := len(MustListReservations(t, c2)); got != len(inCopy) {
		t.Errorf("the restored server lists %d reservations, the copy holds %d", got, len(inCopy))
	}
	load.checkBalance(t, c2)
}
