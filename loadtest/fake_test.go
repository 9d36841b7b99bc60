package loadtest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMode is how the fake server misbehaves.
type fakeMode int

const (
	fakeHonest   fakeMode = iota
	fakeOversell          // accepts bookings past the rooms it has
	fakeForget            // loses every fifth acknowledged booking
	fakeFlaky             // answers the first attempt of every third booking 500 (before doing anything)
)

// fakeServer is a tiny in-memory implementation of the parts of the API the
// hot scenario uses, broken on purpose as its mode says. It is not a model
// of Staylock: it exists to prove that the audit and the thresholds bite.
type fakeServer struct {
	mode  fakeMode
	delay time.Duration

	mu       sync.Mutex
	rooms    map[string]int            // property/room type → rooms
	booked   map[string]map[string]int // property/room type → night → booked
	res      []fakeReservation         // in creation order
	keys     map[string][]byte         // idempotency key → the 201 body
	failed   map[string]bool           // fakeFlaky: keys answered 500 once
	bookings int
}

type fakeStay struct {
	RoomType  string `json:"room_type"`
	Arrival   string `json:"arrival"`
	Departure string `json:"departure"`
	Quantity  int    `json:"quantity"`
}

type fakeReservation struct {
	ID          string     `json:"id"`
	Property    string     `json:"property"`
	Status      string     `json:"status"`
	Stays       []fakeStay `json:"stays"`
	ExternalRef string     `json:"external_ref"`
	Version     int        `json:"version"`
	lost        bool
}

// MustStartFake serves a fake on a loopback port until cleanup.
func MustStartFake(t *testing.T, mode fakeMode, delay time.Duration) string {
	t.Helper()
	f := &fakeServer{mode: mode, delay: delay, rooms: map[string]int{}, booked: map[string]map[string]int{}, keys: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/properties/{p}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]string{"id": r.PathValue("p")})
	})
	mux.HandleFunc("PUT /v1/properties/{p}/room-types/{rt}", f.putRoomType)
	mux.HandleFunc("POST /v1/properties/{p}/reservations", f.book)
	mux.HandleFunc("GET /v1/properties/{p}/reservations", f.list)
	mux.HandleFunc("GET /v1/properties/{p}/availability", f.availability)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": code}})
}

func (f *fakeServer) putRoomType(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Rooms int `json:"rooms"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[r.PathValue("p")+"/"+r.PathValue("rt")] = body.Rooms
	writeJSON(w, http.StatusCreated, map[string]any{"id": r.PathValue("rt"), "rooms": body.Rooms})
}

func nightsOf(s fakeStay) []string {
	a, _ := time.Parse(time.DateOnly, s.Arrival)
	d, _ := time.Parse(time.DateOnly, s.Departure)
	var out []string
	for t := a; t.Before(d); t = t.AddDate(0, 0, 1) {
		out = append(out, t.Format(time.DateOnly))
	}
	return out
}

func (f *fakeServer) book(w http.ResponseWriter, r *http.Request) {
	time.Sleep(f.delay)
	var body struct {
		Stays       []fakeStay `json:"stays"`
		ExternalRef string     `json:"external_ref"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	p := r.PathValue("p")
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.keys[key]; ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
		return
	}
	f.bookings++
	if f.mode == fakeFlaky && f.bookings%3 == 0 && !f.failed[key] {
		// Once per key: a retry with the same key goes through, however
		// the clients' requests interleave (a shared counter alone could
		// fail one client's every retry).
		if f.failed == nil {
			f.failed = map[string]bool{}
		}
		f.failed[key] = true
		writeError(w, http.StatusInternalServerError, "internal")
		return
	}
	for _, s := range body.Stays {
		k := p + "/" + s.RoomType
		for _, n := range nightsOf(s) {
			if f.mode != fakeOversell && f.booked[k][n]+s.Quantity > f.rooms[k] {
				writeError(w, http.StatusConflict, "sold_out")
				return
			}
		}
	}
	res := fakeReservation{ID: "r" + strconv.Itoa(len(f.res)+1), Property: p, Status: "confirmed",
		Stays: body.Stays, ExternalRef: body.ExternalRef, Version: 1}
	// Forgetting: every fifth booking is acknowledged but never recorded.
	res.lost = f.mode == fakeForget && len(f.res)%5 == 4
	if !res.lost {
		for _, s := range body.Stays {
			k := p + "/" + s.RoomType
			if f.booked[k] == nil {
				f.booked[k] = map[string]int{}
			}
			for _, n := range nightsOf(s) {
				f.booked[k][n] += s.Quantity
			}
		}
	}
	f.res = append(f.res, res)
	b, _ := json.Marshal(res)
	f.keys[key] = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	if limit <= 0 {
		limit = 50
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var page []fakeReservation
	i := start
	for ; i < len(f.res) && len(page) < limit; i++ {
		if res := f.res[i]; res.Property == r.PathValue("p") && !res.lost {
			page = append(page, res)
		}
	}
	var next *string
	if i < len(f.res) {
		s := strconv.Itoa(i)
		next = &s
	}
	if page == nil {
		page = []fakeReservation{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reservations": page, "next_cursor": next})
}

func (f *fakeServer) availability(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("p")
	from, err1 := time.Parse(time.DateOnly, r.URL.Query().Get("from"))
	to, err2 := time.Parse(time.DateOnly, r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var rts []map[string]any
	for k, rooms := range f.rooms {
		prop, rt, _ := strings.Cut(k, "/")
		if prop != p || (r.URL.Query().Get("room_type") != "" && r.URL.Query().Get("room_type") != rt) {
			continue
		}
		var nights []map[string]any
		for t := from; t.Before(to); t = t.AddDate(0, 0, 1) {
			d := t.Format(time.DateOnly)
			b := f.booked[k][d]
			nights = append(nights, map[string]any{"date": d, "total": rooms, "booked": b, "held": 0,
				"available": max(0, rooms-b)})
		}
		rts = append(rts, map[string]any{"room_type": rt, "seq": 1, "nights": nights})
	}
	writeJSON(w, http.StatusOK, map[string]any{"property": p, "from": from.Format(time.DateOnly),
		"to": to.Format(time.DateOnly), "room_types": rts})
}
