package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/staylock/staylock/jobs/webhook"
)

// TestSendSignsAndGuards: a delivery carries the Standard Webhooks headers
// and a signature per secret (a receiver knowing either verifies); outside
// local the dialer refuses a loopback target even when the URL passed.
func TestSendSignsAndGuards(t *testing.T) {
	oldSecret, newSecret := webhook.NewSecret(), webhook.NewSecret()
	got := make(chan http.Header, 1)
	var body []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<16)
		n, _ := r.Body.Read(buf)
		body = buf[:n]
		got <- r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	defer hs.Close()

	a := webhook.NewSender(webhook.URLPolicy{AllowPrivate: true}, 5*time.Second).
		Send(context.Background(), hs.URL, "msg_1", []byte(`{"type":"reservation.confirmed"}`), newSecret, oldSecret)
	if a.Err != nil || a.StatusCode != 200 {
		t.Fatalf("send: %+v", a)
	}
	h := <-got
	if h.Get("webhook-id") != "msg_1" || h.Get("webhook-timestamp") == "" || strings.Count(h.Get("webhook-signature"), "v1,") != 2 {
		t.Fatalf("headers %v", h)
	}
	for _, secret := range []string{oldSecret, newSecret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("a receiver with one of the secrets cannot verify: %v", err)
		}
	}
	other, _ := standardwebhooks.NewWebhook(webhook.NewSecret())
	if other.Verify(body, h) == nil {
		t.Error("a stranger's secret verifies")
	}

	a = webhook.NewSender(webhook.URLPolicy{}, 5*time.Second).Send(context.Background(), hs.URL, "msg_2", []byte(`{}`), newSecret)
	if a.Err == nil || a.StatusCode != 0 {
		t.Fatalf("strict sender reached loopback: %+v", a)
	}
	select {
	case <-got:
		t.Fatal("the request reached the loopback server")
	default:
	}
}
