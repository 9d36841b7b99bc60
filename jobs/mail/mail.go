// Package mail renders and sends the reservation emails (confirmation,
// modification and cancellation) and the daily occupancy report, text and
// HTML from embedded templates,
// through SMTP (github.com/wneessen/go-mail) or into .eml files (the log
// mailer). It knows nothing of the queue that runs it.
package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/staylock/staylock/booking"
)

// Events a reservation email tells of.
const (
	EventConfirmed = "confirmed"
	EventModified  = "modified"
	EventCancelled = "cancelled"
)

//go:embed templates
var templates embed.FS

var (
	subjectTmpl = texttemplate.Must(texttemplate.ParseFS(templates, "templates/subject.txt"))
	textTmpl    = texttemplate.Must(texttemplate.ParseFS(templates, "templates/body.txt"))
	htmlTmpl    = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/body.html"))

	reportSubjectTmpl = texttemplate.Must(texttemplate.ParseFS(templates, "templates/report_subject.txt"))
	reportTextTmpl    = texttemplate.Must(texttemplate.ParseFS(templates, "templates/report_body.txt"))
	reportHTMLTmpl    = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/report_body.html"))
)

// Message is one rendered email.
type Message struct {
	// ID is the Message-ID without angle brackets. It is the same for every
	// attempt at one job, so that a receiver can drop a repeat.
	ID      string
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
}

// view is what the templates see.
type view struct {
	Event, ID, Guest, Total string
	Version                 int32
	Stays                   []stayView
}

type stayView struct {
	RoomType, Arrival, Departure string
	Quantity                     int32
	Nights                       int
}

// MessageID is the Message-ID of a reservation's email for event at its
// version: r_X.confirmed.v1@staylock.
func MessageID(r booking.Reservation, event string) string {
	return fmt.Sprintf("%s.%s.v%d@staylock", r.ID, event, r.Version)
}

// Render builds the email of event for reservation r, from address from.
func Render(event string, r booking.Reservation, from string) (Message, error) {
	switch event {
	case EventConfirmed, EventModified, EventCancelled:
	default:
		return Message{}, fmt.Errorf("render mail: unknown event %q", event)
	}
	if r.Guest.Email == "" {
		return Message{}, fmt.Errorf("render mail for %s: the guest has no email address", r.ID)
	}
	v := view{Event: event, ID: r.ID, Guest: r.Guest.Name, Version: r.Version, Total: Money(r.TotalPrice, r.Currency)}
	for _, s := range r.Stays {
		v.Stays = append(v.Stays, stayView{RoomType: s.RoomType, Arrival: s.Arrival.String(), Departure: s.Departure.String(),
			Quantity: s.Quantity, Nights: s.Nights()})
	}
	var subj, text, html bytes.Buffer
	if err := subjectTmpl.Execute(&subj, v); err != nil {
		return Message{}, fmt.Errorf("render subject: %w", err)
	}
	if err := textTmpl.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("render text: %w", err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("render html: %w", err)
	}
	return Message{ID: MessageID(r, event), From: from, To: r.Guest.Email,
		Subject: strings.TrimSpace(subj.String()), Text: text.String(), HTML: html.String()}, nil
}

// Money formats an amount in minor units: 19800 EUR → "198.00 EUR".
func Money(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}

// reportView is what the occupancy report's templates see (a Date prints
// as its day, a NightOccupancy's Percent is a method).
type reportView struct {
	Day        string
	Nights     int
	Properties []booking.PropertyOccupancy
	Tonight    booking.NightOccupancy // summed over the properties
}

// ReportMessageID is the Message-ID of the occupancy report of day: one
// per day, so that a retried or repeated report is recognisably the same.
func ReportMessageID(day booking.Date) string { return "occupancy." + day.String() + "@staylock" }

// RenderOccupancy builds the daily occupancy report of day (UTC) from the
// properties' occupancy, to address to.
func RenderOccupancy(day booking.Date, props []booking.PropertyOccupancy, from, to string) (Message, error) {
	if to == "" {
		return Message{}, fmt.Errorf("render occupancy report: no recipient")
	}
	v := reportView{Day: day.String(), Properties: props}
	for _, p := range props {
		v.Nights = max(v.Nights, len(p.Nights))
		if len(p.Nights) > 0 {
			v.Tonight.Merge(p.Nights[0])
		}
	}
	var subj, text, html bytes.Buffer
	if err := reportSubjectTmpl.Execute(&subj, v); err != nil {
		return Message{}, fmt.Errorf("render report subject: %w", err)
	}
	if err := reportTextTmpl.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("render report text: %w", err)
	}
	if err := reportHTMLTmpl.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("render report html: %w", err)
	}
	return Message{ID: ReportMessageID(day), From: from, To: to,
		Subject: strings.TrimSpace(subj.String()), Text: text.String(), HTML: html.String()}, nil
}
