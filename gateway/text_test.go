package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/internal/testserver"
	"github.com/staylock/staylock/persistence/pgtest"
)

// hostileText is every kind of text a stored field must refuse.
var hostileText = []struct{ kind, s string }{
	{"NUL", "A\x00B"},
	{"only NUL", "\x00"},
	{"invalid UTF-8", "A\xffB"},
	{"truncated UTF-8", "Caf\xc3"},
	{"UTF-8 encoded surrogate", "A\xed\xa0\x80B"},
	{"bell", "A\aB"},
	{"escape sequence", "A\x1b[31mB"},
	{"line feed", "A\nB"},
	{"carriage return", "A\rB"},
	{"tab", "A\tB"},
	{"DEL", "A\x7fB"},
	{"C1 control", "A\u0085B"},
	{"line separator", "A\u2028B"},
	{"noncharacter U+FFFE", "A\ufffeB"},
	{"noncharacter U+FDD0", "A\ufdd0B"},
	{"too long", strings.Repeat("x", 300)},
}

// jsonText is s as a JSON string, like json.Marshal, except that bytes
// that are not UTF-8 are written as they are (json.Marshal would replace
// them), so that the server sees what a broken client sends.
func jsonText(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[i])
		} else {
			q, _ := json.Marshal(s[i : i+n])
			b.Write(q[1 : len(q)-1])
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}

// textFields are the text fields of a reservation request; each places its
// value into a valid request.
var textFields = []struct {
	field string
	body  func(v, arrival, departure string) string
}{
	{"guest.name", func(v, a, d string) string { return resBody(a, d, `"name":`+jsonText(v), "direct", "") }},
	{"guest.email", func(v, a, d string) string {
		return resBody(a, d, `"name":"Ada","email":`+jsonText("a"+v+"@example.com"), "direct", "")
	}},
	{"guest.phone", func(v, a, d string) string { return resBody(a, d, `"name":"Ada","phone":`+jsonText(v), "direct", "") }},
	{"channel", func(v, a, d string) string { return resBody(a, d, `"name":"Ada"`, "ota"+v, "") }},
	{"external_ref", func(v, a, d string) string { return resBody(a, d, `"name":"Ada"`, "direct", v) }},
}

func resBody(arrival, departure, guest, channel, ref string) string {
	return `{"stays":[{"room_type":"dlx","arrival":"` + arrival + `","departure":"` + departure + `","quantity":1}],` +
		`"guest":{` + guest + `},"channel":` + jsonText(channel) + `,"external_ref":` + jsonText(ref) + `}`
}

// textClient bounds every request, so that a stuck one fails the test
// (with its input) instead of hanging it.
var textClient = &http.Client{Timeout: 30 * time.Second}

// httpClient talks to one testserver with one key.
type httpClient struct {
	t    testing.TB
	base string
	key  string
}

// with is c reporting to t (a fuzz target must not use the outer F).
func (c httpClient) with(t testing.TB) httpClient { c.t = t; return c }

func (c httpClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := textClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (c httpClient) mustDo(method, path, body string, want int, out any) {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// badFields returns details.fields of an invalid_request answer, or nil.
func badFields(b []byte) map[string]string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				Fields map[string]string `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Code != string(booking.CodeInvalid) {
		return nil
	}
	return e.Error.Details.Fields
}

// wantedField is the field a refusal of v in field must name: the body
// when v is not UTF-8 (it cannot be JSON text at all).
func wantedField(field, v string) string {
	if !utf8.ValidString(v) {
		return "body"
	}
	return field
}

// TestHostileTextIsRefusedBesideValidBookings: on both stores, valid
// bookings race with requests carrying every kind of hostile text in every
// text field, on one room type. Every valid booking is confirmed, every
// hostile request is 400 naming its field, and the counting audit holds:
// each night's booked rooms are the confirmed reservations' rooms, every
// 201 reads back as it was answered, nothing is oversold. Property and room
// type names are refused the same way.
func TestHostileTextIsRefusedBesideValidBookings(t *testing.T) {
	testserver.Backends(t, func(t *testing.T, dbURL string) {
		s := testserver.Start(t, dbURL, testserver.Options{})
		c := httpClient{t: t, base: s.URL, key: s.MustKey(t, "acme", booking.RoleAdmin)}
		c.mustDo("PUT", "/v1/properties/p1", `{"name":"Hotel One","timezone":"Europe/Berlin","currency":"EUR"}`, http.StatusCreated, nil)
		c.mustDo("PUT", "/v1/properties/p1/room-types/dlx", `{"name":"Deluxe","rooms":60,"price":10000}`, http.StatusCreated, nil)

		for _, h := range hostileText {
			status, b := c.do("PUT", "/v1/properties/p1", `{"name":`+jsonText(h.s)+`,"timezone":"Europe/Berlin","currency":"EUR"}`)
			if f := badFields(b); status != http.StatusBadRequest || f[wantedField("name", h.s)] == "" {
				t.Errorf("property name with %s: %d %s, want 400 naming it", h.kind, status, b)
			}
			status, b = c.do("PUT", "/v1/properties/p1/room-types/std", `{"name":`+jsonText(h.s)+`,"rooms":1,"price":1}`)
			if f := badFields(b); status != http.StatusBadRequest || f[wantedField("name", h.s)] == "" {
				t.Errorf("room type name with %s: %d %s, want 400 naming it", h.kind, status, b)
			}
		}
		var p booking.Property
		c.mustDo("GET", "/v1/properties/p1", "", http.StatusOK, &p)
		if p.Name != "Hotel One" {
			t.Errorf("property name is now %q", p.Name)
		}
		c.mustDo("GET", "/v1/properties/p1/room-types/std", "", http.StatusNotFound, nil)

		today := booking.DateOf(time.Now().UTC())
		arrival, departure := (today + 30).String(), (today + 32).String()
		type request struct {
			name, body, badField string
		}
		var reqs []request
		const valid = 45
		names := []string{"Ada Lovelace", "Zoë Ångström", "東京 太郎", "O'Brien-Smith", "فندق", "🏨 Guest"}
		for i := range valid {
			g := `"name":` + jsonText(names[i%len(names)]) + `,"email":"g` + fmt.Sprint(i) + `@example.com","phone":"+49 30 1234"`
			reqs = append(reqs, request{name: fmt.Sprintf("valid %d", i), body: resBody(arrival, departure, g, "booking.com", fmt.Sprintf("BDC-%d", i))})
		}
		for _, h := range hostileText {
			for _, f := range textFields {
				reqs = append(reqs, request{name: h.kind + " in " + f.field, body: f.body(h.s, arrival, departure), badField: wantedField(f.field, h.s)})
			}
		}
		rand.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })

		var mu sync.Mutex
		confirmed := map[string]booking.Reservation{}
		var wg sync.WaitGroup
		for _, r := range reqs {
			wg.Go(func() {
				status, b := c.do("POST", "/v1/properties/p1/reservations", r.body)
				if r.badField == "" {
					var res booking.Reservation
					if status != http.StatusCreated || json.Unmarshal(b, &res) != nil {
						t.Errorf("%s: %d %s, want 201", r.name, status, b)
						return
					}
					mu.Lock()
					confirmed[res.ID] = res
					mu.Unlock()
					return
				}
				if f := badFields(b); status != http.StatusBadRequest || f[r.badField] == "" {
					t.Errorf("%s: %d %s, want 400 naming %s", r.name, status, b, r.badField)
				}
			})
		}
		wg.Wait()
		if len(confirmed) != valid {
			t.Fatalf("%d of %d valid bookings confirmed", len(confirmed), valid)
		}

		// The audit.
		for id, want := range confirmed {
			var got booking.Reservation
			c.mustDo("GET", "/v1/reservations/"+id, "", http.StatusOK, &got)
			want.Tenant = ""
			if !sameReservation(got, want) {
				t.Errorf("reservation %s reads back as %+v, was answered %+v", id, got, want)
			}
		}
		var listed []booking.Reservation
		for cursor := ""; ; {
			var page struct {
				Reservations []booking.Reservation `json:"reservations"`
				NextCursor   *string               `json:"next_cursor"`
			}
			c.mustDo("GET", "/v1/properties/p1/reservations?limit=500&cursor="+url.QueryEscape(cursor), "", http.StatusOK, &page)
			listed = append(listed, page.Reservations...)
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		sold := map[booking.Date]int32{}
		for _, r := range listed {
			if _, ok := confirmed[r.ID]; !ok || r.Status != booking.StatusConfirmed {
				t.Errorf("listed reservation %s (%s) was not confirmed to anyone", r.ID, r.Status)
			}
			for _, st := range r.Stays {
				for d := st.Arrival; d < st.Departure; d++ {
					sold[d] += st.Quantity
				}
			}
		}
		if len(listed) != len(confirmed) {
			t.Errorf("%d reservations listed, %d confirmed", len(listed), len(confirmed))
		}
		var av struct {
			RoomTypes []struct {
				Nights []booking.NightView `json:"nights"`
			} `json:"room_types"`
		}
		c.mustDo("GET", "/v1/properties/p1/availability?from="+arrival+"&to="+departure, "", http.StatusOK, &av)
		for _, n := range av.RoomTypes[0].Nights {
			if n.Booked != sold[n.Date] || n.Booked != valid || n.Booked+n.Held > n.Total {
				t.Errorf("night %s: booked %d held %d of %d; the reservations hold %d, %d were confirmed", n.Date, n.Booked, n.Held, n.Total, sold[n.Date], valid)
			}
		}
	})
}

// sameReservation compares what a client sees of two reservations.
func sameReservation(a, b booking.Reservation) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestListFilterRefusesHostileText: a list filter is text too: one that is
// not UTF-8 or holds a control character is 400 on both stores (Postgres
// answered 500 to it, SQLite an empty list).
func TestListFilterRefusesHostileText(t *testing.T) {
	testserver.Backends(t, func(t *testing.T, dbURL string) {
		s := testserver.Start(t, dbURL, testserver.Options{})
		c := httpClient{t: t, base: s.URL, key: s.MustKey(t, "acme", booking.RoleAdmin)}
		c.mustDo("PUT", "/v1/properties/p1", `{"name":"Hotel One","timezone":"UTC","currency":"EUR"}`, http.StatusCreated, nil)
		for _, q := range []string{"%FF", "A%C3", "%00", "A%0AB", "%EF%BF%BE"} {
			status, b := c.do("GET", "/v1/properties/p1/reservations?external_ref="+q, "")
			if f := badFields(b); status != http.StatusBadRequest || f["external_ref"] == "" {
				t.Errorf("external_ref=%s: %d %s, want 400 naming external_ref", q, status, b)
			}
		}
	})
}

// FuzzTextFieldsPostgres and FuzzTextFieldsSQLite put arbitrary strings
// into every text field the API stores: no answer is 5xx, a refusal names
// the field, an acceptance reads back byte for byte, and for the fields
// without a pattern of their own the answer is booking.CheckText's exactly,
// which makes both stores answer alike. (Two targets, one node each: two
// protoactor members in one process race under -race.)
func FuzzTextFieldsPostgres(f *testing.F) { fuzzTextFields(f, pgtest.NewDatabase(f)) }

func FuzzTextFieldsSQLite(f *testing.F) { fuzzTextFields(f, "") }

func backendName(dbURL string) string {
	if dbURL == "" {
		return "sqlite"
	}
	return "postgres"
}

func fuzzTextFields(f *testing.F, dbURL string) {
	for _, h := range hostileText {
		f.Add(h.s)
	}
	for _, s := range []string{"Ada", "Zoë", "東京", "🏨", "", " ", "a b", `"quoted"`, `back\slash`, "<script>", "\ufffd", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	type node struct {
		name string
		c    httpClient
	}
	var nodes []node
	for _, backend := range []struct{ name, url string }{{backendName(dbURL), dbURL}} {
		s := testserver.Start(f, backend.url, testserver.Options{})
		c := httpClient{t: f, base: s.URL, key: s.MustKey(f, "acme", booking.RoleAdmin)}
		c.mustDo("PUT", "/v1/properties/p1", `{"name":"Hotel One","timezone":"UTC","currency":"EUR"}`, http.StatusCreated, nil)
		c.mustDo("PUT", "/v1/properties/p1/room-types/dlx", `{"name":"Deluxe","rooms":100000,"price":100}`, http.StatusCreated, nil)
		nodes = append(nodes, node{backend.name, c})
	}
	today := booking.DateOf(time.Now().UTC())
	arrival, departure := (today + 10).String(), (today + 11).String()
	rules := map[string]booking.TextRule{"guest.name": booking.NameRule, "guest.phone": booking.PhoneRule,
		"external_ref": booking.ExternalRefRule, "name": booking.NameRule}

	f.Fuzz(func(t *testing.T, v string) {
		type outcome struct {
			status int
			field  string
		}
		check := func(what, field string, got []outcome, wantOK *bool) {
			for i, o := range got {
				if o.status >= 500 || (o.status != http.StatusBadRequest && o.status/100 != 2) {
					t.Fatalf("%s %q on %s: status %d", what, v, nodes[i].name, o.status)
				}
				if o.status == http.StatusBadRequest && o.field != wantedField(field, v) {
					t.Fatalf("%s %q on %s: 400 names %q, want %q", what, v, nodes[i].name, o.field, wantedField(field, v))
				}
			}
			if wantOK != nil && (got[0].status/100 == 2) != *wantOK {
				t.Fatalf("%s %q: status %d, CheckText says accepted=%v", what, v, got[0].status, *wantOK)
			}
		}
		oracle := func(field string) *bool {
			r, ok := rules[field]
			if !ok {
				return nil // email and channel add patterns of their own
			}
			accepted := utf8.ValidString(v) && booking.CheckText(v, r) == ""
			return &accepted
		}
		for _, tf := range textFields {
			var got []outcome
			for _, n := range nodes {
				n.c = n.c.with(t)
				status, b := n.c.do("POST", "/v1/properties/p1/reservations", tf.body(v, arrival, departure))
				o := outcome{status: status}
				for name := range badFields(b) {
					o.field = name
				}
				if status == http.StatusCreated {
					var created, read booking.Reservation
					if err := json.Unmarshal(b, &created); err != nil {
						t.Fatal(err)
					}
					n.c.mustDo("GET", "/v1/reservations/"+created.ID, "", http.StatusOK, &read)
					if !sameReservation(created, read) || !strings.Contains(read.Guest.Name+read.Guest.Email+read.Guest.Phone+read.Channel+read.ExternalRef, v) {
						t.Fatalf("%s %q on %s: answered %+v, reads back %+v", tf.field, v, n.name, created, read)
					}
					n.c.mustDo("POST", "/v1/reservations/"+created.ID+"/cancel", "", http.StatusOK, nil)
				}
				got = append(got, o)
			}
			check(tf.field, tf.field, got, oracle(tf.field))
		}
		for _, path := range []string{"/v1/properties/p2", "/v1/properties/p1/room-types/std"} {
			body := `{"name":` + jsonText(v) + `,"timezone":"UTC","currency":"EUR"}`
			if strings.Contains(path, "room-types") {
				body = `{"name":` + jsonText(v) + `,"rooms":1,"price":1}`
			}
			var got []outcome
			for _, n := range nodes {
				n.c = n.c.with(t)
				status, b := n.c.do("PUT", path, body)
				o := outcome{status: status}
				for name := range badFields(b) {
					o.field = name
				}
				if status/100 == 2 {
					var read struct{ Name string }
					n.c.mustDo("GET", path, "", http.StatusOK, &read)
					if read.Name != v {
						t.Fatalf("PUT %s name %q on %s reads back %q", path, v, n.name, read.Name)
					}
				}
				got = append(got, o)
			}
			check("PUT "+path, "name", got, oracle("name"))
		}
	})
}
