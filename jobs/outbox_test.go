package jobs_test

import (
	"context"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/persistence"
)

// TestOutbox: one mail job per row whose guest has an address, keyed by
// (reservation, event, version); a webhook fan-out job only for tenants
// with endpoints (every tenant until the set was first read).
func TestOutbox(t *testing.T) {
	store := persistence.NewMemoryStore()
	ctx := context.Background()
	for _, tn := range []string{"hooked", "plain"} {
		if _, err := store.EnsureTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.PutWebhook(ctx, persistence.WebhookEndpoint{Tenant: "hooked", ID: "crm", URL: "https://x.example",
		Events: []string{"reservation.confirmed"}, Secret: "whsec_eA=="}); err != nil {
		t.Fatal(err)
	}
	rows := []booking.Reservation{
		{Tenant: "hooked", ID: "r_1", Status: booking.StatusConfirmed, Version: 1, Guest: booking.Guest{Name: "A", Email: "a@example.com"}},
		{Tenant: "plain", ID: "r_2", Status: booking.StatusConfirmed, Version: 2, Guest: booking.Guest{Name: "B", Email: "b@example.com"}},
		{Tenant: "plain", ID: "r_3", Status: booking.StatusCancelled, Version: 3, Guest: booking.Guest{Name: "C"}},
	}
	hooks := &jobs.WebhookTenants{}
	if n := len(jobs.Outbox(5, hooks)(rows)); n != 5 {
		t.Errorf("before the first read: %d jobs, want 2 mails and 3 fan-outs", n)
	}
	if err := hooks.Refresh(ctx, store); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range jobs.Outbox(5, hooks)(rows) {
		got[j.Kind+" "+j.Key] = j.Queue
		if j.MaxAttempts != 5 && j.Kind == jobs.KindReservationMail {
			t.Errorf("%s: %d attempts", j.Key, j.MaxAttempts)
		}
	}
	want := map[string]string{
		"reservation_mail r_1.confirmed.v1": "mail", "webhook_fanout r_1.confirmed.v1": "webhooks",
		"reservation_mail r_2.modified.v2": "mail",
	}
	if len(got) != len(want) {
		t.Fatalf("jobs %v, want %v", got, want)
	}
	for k, q := range want {
		if got[k] != q {
			t.Errorf("job %s on queue %q, want %q (all: %v)", k, got[k], q, got)
		}
	}
}
