package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

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
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the flaky receiver's 4th delivery", func() bool { flaky.mu.Lock(); defer flaky.mu.Unlock(); return len(flaky.verified) == 1 })
	want := "msg_" + res.ID + ".confirmed.v1"
	flaky.mu.Lock()
	if flaky.verified[0] != want || len(flaky.badSig) != 0 || flaky.calls.Load() != 4 {
		t.Errorf("flaky: verified %v, bad signatures %v, %d calls (want %s once, after 3 failures)", flaky.verified, flaky.badSig, flaky.calls.Load(), want)
	}
	flaky.mu.Unlock()
	// The worker logs an attempt once the receiver's answer is back: wait
	// for the 4th entry.
	waitFor("the flaky receiver's 4 attempts logged", func() bool { return len(deliveries("flaky")) >= 4 })
	if ds := deliveries("flaky"); len(ds) != 4 || ds[0].StatusCode != 204 || ds[1].StatusCode != 500 || ds[0].Attempt != 4 {
		t.Errorf("flaky's log: %+v", ds)
	}

	waitFor("the dead receiver's 5 attempts", func() bool { return len(deliveries("dead")) == 5 })
	for i, d := range deliveries("dead") {
		if d.StatusCode != 500 || d.Attempt != 5-i || d.MessageID != want || !strings.Contains(d.Error, "500") {
			t.Errorf("dead's attempt %d: %+v", 5-i, d)
		}
	}
	waitFor("the dead letter counted", func() bool {
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
	waitFor("the replayed delivery", func() bool { dead.mu.Lock(); defer dead.mu.Unlock(); return len(dead.verified) == 1 })
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
		deadline := time.Now().Add(30 * time.Second)
		for r.calls.Load() == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no delivery within 30 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
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
