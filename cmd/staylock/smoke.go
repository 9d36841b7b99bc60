package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// smokeProperty and smokeRoomType are where the smoke test books: a
// property of its own, so that it never takes a real room.
const (
	smokeProperty = "smoke"
	smokeRoomType = "smoke"
)

func newSmokeCmd(a *app) *cobra.Command {
	var (
		url, key, email string
		timeout         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "smoke --url URL --key KEY",
		Short: "Check a deployed node end to end (after each deploy)",
		Long: `Checks a running node the way a deploy pipeline should before calling it done:
/health and /readyz, the dashboard page, then with an admin key of the tenant it
uses: sets up the property "smoke" (a room type with 1000 rooms), books one
night for a guest with --email, waits until the confirmation email's job has
completed (the SMTP server accepted it; on Postgres a worker must run), cancels
the reservation, and checks that hotel_http_requests_total and
hotel_bookings_total moved. Each step prints its time; the command exits 1
naming the step that failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
				return usagef("--url %q: want the node's http:// or https:// URL", url)
			}
			if key == "" {
				return usagef("--key is required: an admin key (staylock keys create --tenant T --role admin)")
			}
			s := &smoke{base: strings.TrimSuffix(url, "/"), key: key, email: email, out: a.stdout,
				http: &http.Client{Timeout: 10 * time.Second}, timeout: timeout}
			return s.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the node's URL, e.g. http://10.0.0.21:8080")
	cmd.Flags().StringVar(&key, "key", "", "an admin API key")
	cmd.Flags().StringVar(&email, "email", "smoke@example.com", "the smoke guest's address: one your relay accepts")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the confirmation email")
	return cmd
}

type smoke struct {
	base, key, email string
	out              io.Writer
	http             *http.Client
	timeout          time.Duration
}

type smokeStep struct {
	name string
	run  func(ctx context.Context) error
}

func (s *smoke) run(ctx context.Context) error {
	var before, after map[string]float64
	var resID string
	steps := []smokeStep{
		{"health", func(ctx context.Context) error {
			var h struct{ Status string }
			if err := s.get(ctx, "/health", false, http.StatusOK, &h); err != nil {
				return err
			}
			if h.Status == "failing" {
				return errors.New(`/health says "failing"`)
			}
			return nil
		}},
		{"readyz", func(ctx context.Context) error { return s.get(ctx, "/readyz", false, http.StatusOK, nil) }},
		{"dashboard page", func(ctx context.Context) error {
			body, ct, err := s.raw(ctx, "GET", "/", false, nil, http.StatusOK)
			if err == nil && (!strings.HasPrefix(ct, "text/html") || !bytes.Contains(body, []byte("Staylock"))) {
				err = fmt.Errorf("GET / answered %s without the dashboard", ct)
			}
			return err
		}},
		{"metrics before", func(ctx context.Context) (err error) { before, err = s.metrics(ctx); return err }},
		{"smoke property", func(ctx context.Context) error {
			if err := s.do(ctx, "PUT", "/v1/properties/"+smokeProperty, map[string]any{"name": "Smoke test (staylock smoke)",
				"timezone": "UTC", "currency": "EUR"}, nil, http.StatusOK, http.StatusCreated); err != nil {
				return err
			}
			return s.do(ctx, "PUT", "/v1/properties/"+smokeProperty+"/room-types/"+smokeRoomType,
				map[string]any{"name": "Smoke", "rooms": 1000, "price": 100}, nil, http.StatusOK, http.StatusCreated)
		}},
		{"book", func(ctx context.Context) error {
			arrival := time.Now().UTC().AddDate(0, 0, 7+mrand.IntN(300))
			var r struct{ ID, Status string }
			err := s.do(ctx, "POST", "/v1/properties/"+smokeProperty+"/reservations", map[string]any{
				"stays": []map[string]any{{"room_type": smokeRoomType, "arrival": arrival.Format(time.DateOnly),
					"departure": arrival.AddDate(0, 0, 1).Format(time.DateOnly), "quantity": 1}},
				"guest": map[string]string{"name": "Smoke Test", "email": s.email}, "channel": "smoke"}, &r, http.StatusCreated)
			if err == nil && (r.ID == "" || r.Status != "confirmed") {
				err = fmt.Errorf("201 with status %q, id %q", r.Status, r.ID)
			}
			resID = r.ID
			return err
		}},
		{"confirmation email", func(ctx context.Context) error { return s.awaitEmail(ctx, resID) }},
		{"cancel", func(ctx context.Context) error {
			var r struct{ Status string }
			err := s.do(ctx, "POST", "/v1/reservations/"+resID+"/cancel", nil, &r, http.StatusOK)
			if err == nil && r.Status != "cancelled" {
				err = fmt.Errorf("cancel answered status %q", r.Status)
			}
			return err
		}},
		{"metrics moved", func(ctx context.Context) (err error) {
			if after, err = s.metrics(ctx); err != nil {
				return err
			}
			for _, m := range []string{"hotel_http_requests_total", "hotel_bookings_total"} {
				if after[m] <= before[m] {
					return fmt.Errorf("%s did not move (%g before, %g after)", m, before[m], after[m])
				}
			}
			return nil
		}},
	}
	total := time.Now()
	for i, st := range steps {
		start := time.Now()
		err := st.run(ctx)
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			fmt.Fprintf(s.out, "FAIL %d/%d %-20s %8s  %v\n", i+1, len(steps), st.name, took, err)
			return fmt.Errorf("smoke test failed at step %q: %w", st.name, err)
		}
		fmt.Fprintf(s.out, "ok   %d/%d %-20s %8s\n", i+1, len(steps), st.name, took)
	}
	fmt.Fprintf(s.out, "smoke test passed in %s\n", time.Since(total).Round(time.Millisecond))
	return nil
}

// awaitEmail polls the reservation's notifications until its confirmation
// email completed; a job cancelled or discarded, or the timeout, fails.
func (s *smoke) awaitEmail(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	last := "no email job yet"
	for {
		var n struct {
			Notifications []struct {
				C        string `json:"channel"`
				E        string `json:"event"`
				S        string `json:"state"`
				Err      string `json:"last_error"`
				Attempts int    `json:"attempts"`
			} `json:"notifications"`
		}
		if err := s.get(ctx, "/v1/reservations/"+id+"/notifications", true, http.StatusOK, &n); err != nil {
			return err
		}
		for _, x := range n.Notifications {
			if x.C != "email" || x.E != "confirmed" {
				continue
			}
			switch x.S {
			case "completed":
				return nil
			case "cancelled", "discarded":
				return fmt.Errorf("the confirmation email was given up (%s after %d attempt(s)): %s", x.S, x.Attempts, x.Err)
			}
			last = fmt.Sprintf("job %s after %d attempt(s)", x.S, x.Attempts)
			if x.Err != "" {
				last += ": " + x.Err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the confirmation email did not complete within %s (%s; is a worker running?)", s.timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// metrics sums each hotel_* counter the smoke test watches over its labels.
func (s *smoke) metrics(ctx context.Context) (map[string]float64, error) {
	body, _, err := s.raw(ctx, "GET", "/metrics", false, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, m := range []string{"hotel_http_requests_total", "hotel_bookings_total"} {
			if rest, ok := strings.CutPrefix(line, m); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
				f := strings.Fields(line)
				if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
					out[m] += v
				}
			}
		}
	}
	if _, ok := out["hotel_http_requests_total"]; !ok {
		return nil, errors.New("/metrics has no hotel_http_requests_total")
	}
	return out, sc.Err()
}

func (s *smoke) get(ctx context.Context, path string, auth bool, want int, out any) error {
	body, _, err := s.raw(ctx, "GET", path, auth, nil, want)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (s *smoke) do(ctx context.Context, method, path string, in, out any, want ...int) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, _, err := s.raw(ctx, method, path, true, body, want...)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// raw sends one request and checks its status is one of want.
func (s *smoke) raw(ctx context.Context, method, path string, auth bool, body []byte, want ...int) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		var idem [12]byte
		_, _ = rand.Read(idem[:])
		req.Header.Set("Idempotency-Key", "smoke-"+hex.EncodeToString(idem[:]))
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return b, resp.Header.Get("Content-Type"), nil
		}
	}
	return nil, "", fmt.Errorf("%s %s answered %d: %.300s", method, path, resp.StatusCode, bytes.TrimSpace(b))
}
