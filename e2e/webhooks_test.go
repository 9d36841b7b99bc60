package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/staylock/staylock/internal/poll"
	"github.com/staylock/staylock/jobs/mail/smtptest"
)

// receiver is a webhook endpoint that answers 500 to its first failFirst
// deliveries (all of them when failFirst < 0) and verifies every signature.
type receiver struct {
	failFirst int
	secret    atomic.Value // string, set once the endpoint is created
	calls     atomic.Int64
	mu        sync.Mutex
	verified  []string // webhook-ids of the 2xx answers, signature checked
	bodies    []string // their bodies
	badSig    []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	// Count the call under the lock that records its outcome: a test that
	// saw the count move and then takes the lock sees the outcome too.
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.calls.Add(1)
	secret, _ := r.secret.Load().(string)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.badSig = append(r.badSig, req.Header.Get("webhook-id")+": "+err.Error())
	}
	if r.failFirst < 0 || int(n) <= r.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if err == nil {
		r.verified = append(r.verified, req.Header.Get("webhook-id"))
		r.bodies = append(r.bodies, string(body))
	}
	w.WriteHeader(http.StatusNoContent)
}

type deliveryEntry struct {
	ID         int64  `json:"id"`
	Attempt    int    `json:"attempt"`
	StatusCode int    `json:"status_code"`
	MessageID  string `json:"message_id"`
	Error      string `json:"error"`
}

// TestWebhooks_RetriesThenDeadLetter: a receiver that fails its first 3
// deliveries gets the 4th, with a signature that verifies (Standard
// Webhooks); one that always fails ends in the dead-letter state after
// WEBHOOK_MAX_ATTEMPTS, and the delivery log shows every attempt; a retry
// through the API sends the message again.
func TestWebhooks_RetriesThenDeadLetter(t *testing.T) {
	srv := smtptest.Start(t)
	b := mailEnv(backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}, srv)
	b.env = append(b.env, "WEBHOOK_MAX_ATTEMPTS=5", "JOB_RETRY_BASE=200ms")
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	mustSetUpHotel(t, c, []string{"dlx"}, 5)

	flaky, dead := &receiver{failFirst: 3}, &receiver{failFirst: -1}
	for name, r := range map[string]*receiver{"flaky": flaky, "dead": dead} {
		hs := httptest.NewServer(r)
		t.Cleanup(hs.Close)
		var created struct{ Secret string }
		c.MustDo(t, "PUT", "/v1/webhooks/"+name, map[string]any{"url": hs.URL + "/hook", "events": []string{"reservation.confirmed"}},
			http.StatusCreated, &created)
		r.secret.Store(created.Secret)
	}
	var res reservation
	c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, 2), Departure: dayAfter(windowFrom, 4), Quantity: 1}},
		"guest": map[string]string{"name": "Hook"}}, http.StatusCreated, &res)

	deliveries := func(name string) []deliveryEntry {
		var out struct{ Deliveries []deliveryEntry }
		c.MustDo(t, "GET", "/v1/webhooks/"+name+"/deliveries", nil, http.StatusOK, &out)
		return out.Deliveries
	}
	poll.Eventually(t, 60*time.Second, "the flaky receiver's 4th delivery", func() bool { flaky.mu.Lock(); defer flaky.mu.Unlock(); return len(flaky.verified) == 1 })
	want := "msg_" + res.ID + ".confirmed.v1"
	flaky.mu.Lock()
	if flaky.verified[0] != want || len(flaky.badSig) != 0 || flaky.calls.Load() != 4 {
		t.Errorf("flaky: verified %v, bad signatures %v, %d calls (want %s once, after 3 failures)", flaky.verified, flaky.badSig, flaky.calls.Load(), want)
	}
	flaky.mu.Unlock()
	// The worker logs an attempt once the receiver's answer is back: wait
	// for the 4th entry.
	poll.Eventually(t, 60*time.Second, "the flaky receiver's 4 attempts logged", func() bool { return len(deliveries("flaky")) >= 4 })
	if ds := deliveries("flaky"); len(ds) != 4 || ds[0].StatusCode != 204 || ds[1].StatusCode != 500 || ds[0].Attempt != 4 {
		t.Errorf("flaky's log: %+v", ds)
	}

	poll.Eventually(t, 60*time.Second, "the dead receiver's 5 attempts", func() bool { return len(deliveries("dead")) == 5 })
	for i, d := range deliveries("dead") {
		if d.StatusCode != 500 || d.Attempt != 5-i || d.MessageID != want || !strings.Contains(d.Error, "500") {
			t.Errorf("dead's attempt %d: %+v", 5-i, d)
		}
	}
	poll.Eventually(t, 60*time.Second, "the dead letter counted", func() bool {
		_, body, err := newClient(s.url, "").do(t.Context(), "GET", "/metrics", nil)
		return err == nil && strings.Contains(string(body), `hotel_jobs_discarded{kind="webhook_delivery"} 1`)
	})
	if n := dead.calls.Load(); n != 5 {
		t.Errorf("dead receiver called %d times, want 5 (WEBHOOK_MAX_ATTEMPTS)", n)
	}
	if len(dead.badSig) != 0 {
		t.Errorf("bad signatures: %v", dead.badSig)
	}

	// An operator replays the message once the receiver is fixed.
	dead.mu.Lock()
	dead.failFirst = 0
	dead.mu.Unlock()
	last := deliveries("dead")[0]
	c.MustDo(t, "POST", "/v1/webhooks/dead/deliveries/"+strconv.FormatInt(last.ID, 10)+"/retry", nil, http.StatusAccepted, nil)
	poll.Eventually(t, 60*time.Second, "the replayed delivery", func() bool { dead.mu.Lock(); defer dead.mu.Unlock(); return len(dead.verified) == 1 })
}

// TestWebhooks_SecretRotationLosesNoVerification: after a rotation every
// delivery carries both signatures, so a receiver verifies with the old
// secret until it switches and with the new one after; once the window is
// over only the new secret signs.
func TestWebhooks_SecretRotationLosesNoVerification(t *testing.T) {
	srv := smtptest.Start(t)
	b := mailEnv(backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}, srv)
	b.env = append(b.env, "JOB_RETRY_BASE=200ms")
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	mustSetUpHotel(t, c, []string{"dlx"}, 20)
	r := &receiver{}
	hs := httptest.NewServer(r)
	t.Cleanup(hs.Close)
	var created struct{ Secret string }
	c.MustDo(t, "PUT", "/v1/webhooks/pms", map[string]any{"url": hs.URL, "events": []string{"reservation.confirmed"}}, http.StatusCreated, &created)
	r.secret.Store(created.Secret)

	day := 0
	bookAndAwait := func(what string) {
		t.Helper()
		day++
		before := r.calls.Load()
		c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
			"stays": []stay{{RoomType: "dlx", Arrival: dayAfter(windowFrom, day), Departure: dayAfter(windowFrom, day+1), Quantity: 1}},
			"guest": map[string]string{"name": "Rot"}}, http.StatusCreated, nil)
		poll.Eventually(t, 30*time.Second, "a delivery "+what, func() bool { return r.calls.Load() != before })
	}
	bookAndAwait("before the rotation")
	var rotated struct{ Secret string }
	c.MustDo(t, "POST", "/v1/webhooks/pms/rotate-secret", map[string]any{"previous_valid_seconds": 3600}, http.StatusOK, &rotated)
	if rotated.Secret == "" || rotated.Secret == created.Secret {
		t.Fatalf("rotation gave %q", rotated.Secret)
	}
	bookAndAwait("rotated, the receiver still on the old secret")
	r.secret.Store(rotated.Secret)
	bookAndAwait("the receiver switched to the new secret")
	r.mu.Lock()
	if len(r.badSig) != 0 || len(r.verified) != 3 {
		t.Fatalf("during the rotation: %d verified, bad signatures %v", len(r.verified), r.badSig)
	}
	r.mu.Unlock()

	// A rotation with no window: the secret it replaces stops signing.
	c.MustDo(t, "POST", "/v1/webhooks/pms/rotate-secret", map[string]any{"previous_valid_seconds": 0}, http.StatusOK, nil)
	bookAndAwait("after a rotation without a window")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.badSig) == 0 {
		t.Fatal("the replaced secret still verifies after a rotation without a window")
	}
}

// TestWebhooks_AvailabilityChanged: an endpoint subscribed to
// availability.changed gets one signed event per commit that changes
// nights (a booking, an ARI update, a cancellation) with the nights'
// counts after it and increasing seqs; an endpoint subscribed to
// reservation.confirmed only gets no availability event.
func TestWebhooks_AvailabilityChanged(t *testing.T) {
	b := backend{"sqlite", []string{"STORAGE_PATH=" + t.TempDir()}}
	b.env = append(b.env, "MAIL_MAILER=log")
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	mustSetUpHotel(t, c, []string{"dbl"}, 5)

	avail, resv := &receiver{}, &receiver{}
	for name, r := range map[string]*receiver{"dash": avail, "crm": resv} {
		hs := httptest.NewServer(r)
		t.Cleanup(hs.Close)
		events := []string{"availability.changed"}
		if r == resv {
			events = []string{"reservation.confirmed"}
		}
		var created struct{ Secret string }
		c.MustDo(t, "PUT", "/v1/webhooks/"+name, map[string]any{"url": hs.URL, "events": events}, http.StatusCreated, &created)
		r.secret.Store(created.Secret)
	}
	arrival, departure := dayAfter(windowFrom, 3), dayAfter(windowFrom, 5)
	var res reservation
	c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "dbl", Arrival: arrival, Departure: departure, Quantity: 2}},
		"guest": map[string]string{"name": "Avail"}}, http.StatusCreated, &res)
	c.MustDo(t, "POST", "/v1/properties/p1/inventory", map[string]any{"updates": []map[string]any{
		{"room_type": "dbl", "from": departure, "to": dayAfter(departure, 1), "stop_sell": true}}}, http.StatusOK, nil)
	c.MustDo(t, "POST", "/v1/reservations/"+res.ID+"/cancel", map[string]any{}, http.StatusOK, nil)

	type night struct {
		Date      string `json:"date"`
		Available int    `json:"available"`
		Booked    int    `json:"booked"`
		StopSell  bool   `json:"stop_sell"`
	}
	type event struct {
		Type string `json:"type"`
		Data struct {
			Property  string  `json:"property"`
			RoomType  string  `json:"room_type"`
			Seq       int64   `json:"seq"`
			Nights    []night `json:"nights"`
			AllNights bool    `json:"all_nights"`
		} `json:"data"`
	}
	// The room type's creation may be delivered too (all_nights, when its
	// fan-out ran after the endpoint existed): it is the setup's, not one
	// of the three changes counted here.
	var got []event
	poll.EventuallyNil(t, 60*time.Second, "3 availability events", func() error {
		got = got[:0]
		avail.mu.Lock()
		defer avail.mu.Unlock()
		for _, body := range avail.bodies {
			var e event
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("event %s: %v", body, err)
			}
			if !e.Data.AllNights {
				got = append(got, e)
			}
		}
		if len(got) < 3 {
			return fmt.Errorf("%d events", len(got))
		}
		return nil
	})
	// Deliveries run in parallel: order them by seq, as a receiver would.
	slices.SortFunc(got, func(x, y event) int { return int(x.Data.Seq - y.Data.Seq) })
	describe := func(e event) string {
		var parts []string
		for _, n := range e.Data.Nights {
			parts = append(parts, fmt.Sprintf("%s:%d/%d/%v", n.Date, n.Available, n.Booked, n.StopSell))
		}
		return e.Type + " " + e.Data.Property + "/" + e.Data.RoomType + " " + strings.Join(parts, " ")
	}
	want := []string{
		"availability.changed p1/dbl " + arrival + ":3/2/false " + dayAfter(arrival, 1) + ":3/2/false",
		"availability.changed p1/dbl " + departure + ":0/0/true", // stop-sell: nothing to sell
		"availability.changed p1/dbl " + arrival + ":5/0/false " + dayAfter(arrival, 1) + ":5/0/false",
	}
	for i, e := range got {
		if i >= len(want) || describe(e) != want[i] {
			t.Errorf("event %d: %s, want %v", i, describe(e), want)
		}
		if i > 0 && e.Data.Seq <= got[i-1].Data.Seq {
			t.Errorf("seqs not increasing: %d after %d", e.Data.Seq, got[i-1].Data.Seq)
		}
	}
	avail.mu.Lock()
	if len(avail.badSig) != 0 {
		t.Errorf("bad signatures: %v", avail.badSig)
	}
	avail.mu.Unlock()
	// The reservation endpoint got its confirmation and nothing else.
	var bodies []string
	poll.Eventually(t, 60*time.Second, "reservation.confirmed", func() bool {
		resv.mu.Lock()
		defer resv.mu.Unlock()
		bodies = slices.Clone(resv.bodies)
		return len(bodies) >= 1
	})
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"type":"reservation.confirmed"`) {
		t.Errorf("the reservation endpoint got %v", bodies)
	}
}
