package mail_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/jobs/mail/smtptest"
)

func reservation() booking.Reservation {
	a, _ := booking.ParseDate("2027-03-01")
	return booking.Reservation{ID: "r_abc", Property: "p1", Status: booking.StatusConfirmed, Version: 2,
		Stays:      []booking.Stay{{RoomType: "dlx", Arrival: a, Departure: a + 3, Quantity: 2}},
		Guest:      booking.Guest{Name: "Ada <Lovelace>", Email: "ada@example.com"},
		TotalPrice: 59400, Currency: "EUR"}
}

// TestRender: each event has its subject; text and HTML carry the stays,
// nights, total and the reference; the guest's name is escaped in HTML;
// the Message-ID names reservation, event and version.
func TestRender(t *testing.T) {
	r := reservation()
	for event, subject := range map[string]string{mail.EventConfirmed: "is confirmed", mail.EventModified: "was changed", mail.EventCancelled: "is cancelled"} {
		m, err := mail.Render(event, r, "hotel@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Subject, subject) || !strings.Contains(m.Subject, "r_abc") {
			t.Errorf("%s subject %q", event, m.Subject)
		}
		for _, want := range []string{"dlx", "2027-03-01", "2027-03-04", "3 night(s)", "594.00 EUR", "r_abc"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("%s text lacks %q:\n%s", event, want, m.Text)
			}
		}
		if !strings.Contains(m.HTML, "Ada &lt;Lovelace&gt;") || strings.Contains(m.HTML, "<Lovelace>") {
			t.Errorf("%s HTML does not escape the name:\n%s", event, m.HTML)
		}
		if m.ID != "r_abc."+event+".v2@staylock" || m.To != "ada@example.com" {
			t.Errorf("%s id %q to %q", event, m.ID, m.To)
		}
	}
	if _, err := mail.Render("deleted", r, "x@example.com"); err == nil {
		t.Error("unknown event rendered")
	}
	r.Guest.Email = ""
	if _, err := mail.Render(mail.EventConfirmed, r, "x@example.com"); err == nil {
		t.Error("rendered a mail without a recipient")
	}
}

// TestSMTP: a message reaches a real SMTP server with its Message-ID and
// both parts; a 5xx refusal is permanent, a 4xx one is not.
func TestSMTP(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Encryption: mail.EncryptionNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mail.Render(mail.EventConfirmed, reservation(), "hotel@example.com")
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if got.ID != m.ID || got.To[0] != "ada@example.com" || got.From != "hotel@example.com" || got.Subject != m.Subject {
		t.Errorf("accepted %+v", got)
	}
	if !strings.Contains(got.Body, "text/plain") || !strings.Contains(got.Body, "text/html") {
		t.Errorf("not multipart/alternative:\n%s", got.Body)
	}

	var perm *mail.PermanentError
	srv.Refuse(550)
	if err := s.Send(context.Background(), m); !errors.As(err, &perm) {
		t.Errorf("550: %v, want a permanent error", err)
	}
	srv.Refuse(451)
	if err := s.Send(context.Background(), m); err == nil || errors.As(err, &perm) {
		t.Errorf("451: %v, want a temporary error", err)
	}
	if _, err := mail.NewSMTP(mail.SMTPConfig{Host: "x", Port: 25, Encryption: "ssl3"}); err == nil {
		t.Error("unknown encryption accepted")
	}
}

// TestLog: the log mailer writes one private .eml per message, once.
func TestLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	l, err := mail.NewLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mail.Render(mail.EventCancelled, reservation(), "hotel@example.com")
	for range 2 {
		if err := l.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("files %v, want one", files)
	}
	b, _ := os.ReadFile(files[0])
	fi, _ := os.Stat(files[0])
	di, _ := os.Stat(dir)
	if !strings.Contains(string(b), "Message-ID: <"+m.ID+">") || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("eml %s mode %v dir %v:\n%.300s", files[0], fi.Mode().Perm(), di.Mode().Perm(), b)
	}
}

// TestRenderOccupancy: the report sums tonight over the properties, lists
// every night of each with its share booked, escapes names in HTML, and
// has one Message-ID per day.
func TestRenderOccupancy(t *testing.T) {
	day := booking.Date(20700)
	props := []booking.PropertyOccupancy{
		{Tenant: "acme", Property: "p1", Name: "Hotel <One>", Today: day, RoomTypes: 2, Nights: []booking.NightOccupancy{
			{Date: day, Total: 10, Booked: 7, Held: 1, Available: 2}, {Date: day + 1, Total: 10, Booked: 3, Available: 7}}},
		{Tenant: "acme", Property: "p2", Name: "Two", Today: day, RoomTypes: 1, Nights: []booking.NightOccupancy{
			{Date: day, Total: 5, Booked: 5}, {Date: day + 1, Total: 0}}},
	}
	m, err := mail.RenderOccupancy(day, props, "staylock@example.com", "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Occupancy " + day.String() + ": 12 of 15 rooms booked tonight (80%)"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	for _, want := range []string{"Hotel <One> (acme/p1, 2 room type(s))", day.String() + "  booked 7/10 (70%)  held 1  available 2",
		(day + 1).String() + "  booked 3/10 (30%)", "booked 5/5 (100%)", (day + 1).String() + "  booked 0/0 (0%)"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, "Hotel &lt;One&gt;") || strings.Contains(m.HTML, "<One>") {
		t.Errorf("HTML does not escape the name:\n%s", m.HTML)
	}
	if m.ID != "occupancy."+day.String()+"@staylock" || m.To != "ops@example.com" {
		t.Errorf("id %q to %q", m.ID, m.To)
	}
	if _, err := mail.RenderOccupancy(day, props, "staylock@example.com", ""); err == nil {
		t.Error("rendered a report without a recipient")
	}
}
