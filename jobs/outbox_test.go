package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/persistence"
)

// TestOutbox: one mail job per row whose guest has an address, keyed by
// (reservation, event, version); webhook fan-out jobs (one per row, one
// per batch that changes nights, keyed by its seq) only for tenants with
// endpoints (every tenant until the set was first read).
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
	nights := func() ([]booking.NightView, bool) {
		return []booking.NightView{{Date: 20000, Total: 5, Booked: 1, Available: 4, MinStay: 1}}, false
	}
	none := func() ([]booking.NightView, bool) { return nil, false }
	batches := []persistence.OutboxBatch{
		{Tenant: "hooked", Property: "p1", RoomType: "dbl", Seq: 7, Availability: nights, Reservations: []booking.Reservation{
			{Tenant: "hooked", ID: "r_1", Status: booking.StatusConfirmed, Version: 1, Guest: booking.Guest{Name: "A", Email: "a@example.com"}}}},
		{Tenant: "hooked", Property: "p1", RoomType: "dbl", Seq: 8, Availability: none}, // changes no night: no event
		{Tenant: "plain", Property: "p1", RoomType: "dbl", Seq: 3, Availability: nights, Reservations: []booking.Reservation{
			{Tenant: "plain", ID: "r_2", Status: booking.StatusConfirmed, Version: 2, Guest: booking.Guest{Name: "B", Email: "b@example.com"}},
			{Tenant: "plain", ID: "r_3", Status: booking.StatusCancelled, Version: 3, Guest: booking.Guest{Name: "C"}}}},
	}
	outbox := func(hooks *jobs.WebhookTenants) []persistence.JobRow {
		var out []persistence.JobRow
		for _, b := range batches {
			out = append(out, jobs.Outbox(5, hooks)(b)...)
		}
		return out
	}
	hooks := &jobs.WebhookTenants{}
	if n := len(outbox(hooks)); n != 7 {
		t.Errorf("before the first read: %d jobs, want 2 mails, 3 reservation and 2 availability fan-outs", n)
	}
	if err := hooks.Refresh(ctx, store); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range outbox(hooks) {
		got[j.Kind+" "+j.Key] = j.Queue
		if j.MaxAttempts != 5 && j.Kind == jobs.KindReservationMail {
			t.Errorf("%s: %d attempts", j.Key, j.MaxAttempts)
		}
		if strings.HasPrefix(j.Key, "availability.") {
			var f jobs.FanoutArgs
			if err := json.Unmarshal(j.Args, &f.Args); err != nil || f.Args.Availability == nil || f.Args.Availability.Seq != 7 ||
				len(f.Args.Availability.Nights) != 1 || f.Args.Availability.Nights[0].Available != 4 || f.Args.Event != "availability.changed" {
				t.Errorf("availability job args %s (%v)", j.Args, err)
			}
		}
	}
	want := map[string]string{
		"reservation_mail r_1.confirmed.v1": "mail", "webhook_fanout r_1.confirmed.v1": "webhooks",
		"webhook_fanout availability.hooked.p1.dbl.s7": "webhooks",
		"reservation_mail r_2.modified.v2":             "mail",
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
