// Package webhook delivers signed events to tenants' endpoints: Standard
// Webhooks signatures (github.com/standard-webhooks/standard-webhooks),
// URL rules and an SSRF-guarded dialer (code.dny.dev/ssrf), one attempt per
// call with its status and latency. Retries and the dead-letter state are
// the queue's (package jobs).
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"code.dny.dev/ssrf"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Events an endpoint may subscribe to.
const (
	EventReservationConfirmed = "reservation.confirmed"
	EventReservationModified  = "reservation.modified"
	EventReservationCancelled = "reservation.cancelled"
	// EventAvailabilityChanged: one commit of a room type changed nights
	// (bookings, holds, cancellations, ARI updates).
	EventAvailabilityChanged = "availability.changed"
)

// Events lists every event type, sorted.
var Events = []string{EventAvailabilityChanged, EventReservationCancelled, EventReservationConfirmed, EventReservationModified}

// NewSecret makes an endpoint's signing secret: "whsec_" and 32 random
// bytes in base64, the Standard Webhooks form.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the webhook-signature header of payload for each secret,
// space separated: a receiver that knows any one of them verifies it
// (during a rotation both the current and the next secret sign).
func Sign(msgID string, at time.Time, payload []byte, secrets ...string) (string, error) {
	var sigs []string
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return "", fmt.Errorf("webhook secret: %w", err)
		}
		sig, err := wh.Sign(msgID, at, payload)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// URLPolicy decides which endpoint URLs are acceptable.
type URLPolicy struct {
	// AllowPrivate lets http:// and loopback, private and link-local
	// targets through: APP_ENV=local only (a receiver on this machine).
	AllowPrivate bool
}

// Check validates an endpoint URL; the error says what is wrong with it.
func (p URLPolicy) Check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Fragment != "" {
		return errors.New("must be an absolute http(s) URL without credentials or fragment")
	}
	if len(raw) > 2000 {
		return errors.New("must be at most 2000 characters")
	}
	if p.AllowPrivate {
		return nil
	}
	if u.Scheme != "https" {
		return errors.New("must be https outside APP_ENV=local")
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") {
		return errors.New("must not target this machine or a private network")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := guardian().SafeAddr(ip.Unmap()); err != nil {
			return errors.New("must not target a loopback, private or link-local address")
		}
	}
	return nil
}

func guardian() *ssrf.Guardian { return ssrf.New(ssrf.WithAnyPort()) }

// Attempt is the outcome of one delivery.
type Attempt struct {
	StatusCode int // 0 when no HTTP answer came
	Latency    time.Duration
	Err        error // nil only for a 2xx
}

// Sender posts signed events.
type Sender struct {
	client *http.Client
}

// NewSender makes a sender with per-attempt timeout; unless policy allows
// private targets, every connection is checked after DNS resolution
// (a name resolving to a private address is refused too), and redirects are
// never followed.
func NewSender(policy URLPolicy, timeout time.Duration) *Sender {
	dialer := &net.Dialer{Timeout: timeout}
	if !policy.AllowPrivate {
		dialer.Control = guardian().Safe
	}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, Proxy: nil}
	return &Sender{client: &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Send posts payload to url with the Standard Webhooks headers.
func (s *Sender) Send(ctx context.Context, endpointURL, msgID string, payload []byte, secrets ...string) Attempt {
	now := time.Now()
	sig, err := Sign(msgID, now, payload, secrets...)
	if err != nil {
		return Attempt{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpointURL, bytes.NewReader(payload))
	if err != nil {
		return Attempt{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Staylock-Webhooks/1")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := s.client.Do(req)
	a := Attempt{Latency: time.Since(start)}
	if err != nil {
		a.Err = err
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Err = fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return a
}

// ValidEvents checks a subscription list: known events, no repeats; it
// returns them sorted.
func ValidEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, errors.New("must name at least one event")
	}
	out := slices.Clone(events)
	slices.Sort(out)
	for i, e := range out {
		if !slices.Contains(Events, e) {
			return nil, fmt.Errorf("unknown event %q (known: %s)", e, strings.Join(Events, ", "))
		}
		if i > 0 && out[i-1] == e {
			return nil, fmt.Errorf("event %q is listed twice", e)
		}
	}
	return out, nil
}
