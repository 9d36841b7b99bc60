package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Codes the client gives to failures that have no API error code.
const (
	codeTimeout    = "timeout"           // an attempt outlived Config.Timeout
	codeTransport  = "transport"         // connection refused, reset, …
	codeCanceled   = "canceled"          // the run was interrupted
	codeBadBody    = "bad_response"      // a 2xx whose body did not decode
	codeOverloaded = "client_overloaded" // open loop: too many operations in flight
)

// API codes the client treats specially.
const (
	codeSoldOut    = "sold_out"
	codeRestricted = "restricted"
	codeConflict   = "conflict"
	codeRateLimit  = "rate_limited"
)

// client sends requests round robin over the targets, with the bearer key,
// an attempt timeout and retries under the same idempotency key.
type client struct {
	http    *http.Client
	targets []string
	key     string
	timeout time.Duration
	retries int
	next    atomic.Uint64
}

func newClient(cfg Config) *client {
	hc := cfg.HTTPClient
	if hc == nil {
		tr := &http.Transport{
			Proxy:               nil, // never send load through a proxy
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxConnsPerHost:     cfg.MaxConns,
			MaxIdleConns:        cfg.MaxConns * len(cfg.Targets),
			MaxIdleConnsPerHost: cfg.MaxConns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		hc = &http.Client{Transport: tr}
	}
	return &client{http: hc, targets: cfg.Targets, key: cfg.Key, timeout: cfg.Timeout, retries: cfg.Retries}
}

// close drops idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// request is one logical API call; retries repeat it exactly.
type request struct {
	method string
	path   string // with query
	body   any    // JSON-encoded once; nil sends no body
	// idemKey is sent as Idempotency-Key when set.
	idemKey string
	// retryConflict retries 409 conflict too: for a create with a key, it
	// means "the same key is still in flight" and the retry gets the replay.
	retryConflict bool
}

// result is the final outcome of a request after its retries.
type result struct {
	status   int
	code     string // "" when 2xx; else the API code or one of the client codes
	message  string
	body     []byte
	attempts int
	retried  []string // the codes of the attempts that were retried
}

func (r result) ok() bool { return r.code == "" }

// refused: the server decided no (a business outcome, not an error).
func (r result) refused() bool { return r.code == codeSoldOut || r.code == codeRestricted }

// ambiguous: the request failed in a way that may still have taken effect.
func (r result) ambiguous() bool {
	return r.code == codeTimeout || r.code == codeTransport || r.code == codeCanceled || r.status >= 500
}

// decode unmarshals a 2xx body into v; a bad body turns the result into
// an error.
func (r *result) decode(v any) {
	if !r.ok() {
		return
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		r.code, r.message = codeBadBody, err.Error()
	}
}

// do runs req with retries. It stops retrying when ctx ends.
func (c *client) do(ctx context.Context, req request) result {
	var payload []byte
	if req.body != nil {
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return result{code: codeBadBody, message: err.Error()}
		}
	}
	var res result
	var retried []string
	for attempt := 0; ; attempt++ {
		res = c.once(ctx, req, payload)
		res.attempts, res.retried = attempt+1, retried
		if attempt >= c.retries || !retryable(req, res) || ctx.Err() != nil {
			return res
		}
		retried = append(retried, res.code)
		if !sleep(ctx, backoff(attempt, res)) {
			return res
		}
	}
}

func retryable(req request, res result) bool {
	switch {
	case res.code == "":
		return false
	case res.code == codeTimeout, res.code == codeTransport, res.status >= 500, res.code == codeRateLimit:
		return true
	case res.code == codeConflict && req.retryConflict:
		return true
	}
	return false
}

// backoff grows from 10 ms to 1 s with jitter; a 429's Retry-After wins
// (capped at 2 s).
func backoff(attempt int, res result) time.Duration {
	if res.code == codeRateLimit {
		if s, err := strconv.Atoi(res.message); err == nil && s > 0 {
			return min(time.Duration(s)*time.Second, 2*time.Second)
		}
	}
	d := min(10*time.Millisecond<<attempt, time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// once sends one attempt to the next target.
func (c *client) once(ctx context.Context, req request, payload []byte) result {
	target := c.targets[int(c.next.Add(1)-1)%len(c.targets)]
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(actx, req.method, target+req.path, body)
	if err != nil {
		return result{code: codeTransport, message: err.Error()}
	}
	hr.Header.Set("Authorization", "Bearer "+c.key)
	hr.Header.Set("Accept", "application/json")
	if payload != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.idemKey != "" {
		hr.Header.Set("Idempotency-Key", req.idemKey)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return transportResult(ctx, actx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return transportResult(ctx, actx, err)
	}
	res := result{status: resp.StatusCode, body: b}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
		res.code, res.message = eb.Error.Code, eb.Error.Message
	} else {
		res.code = "http_" + strconv.Itoa(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		res.message = resp.Header.Get("Retry-After")
	}
	return res
}

func transportResult(ctx, actx context.Context, err error) result {
	switch {
	case ctx.Err() != nil:
		return result{code: codeCanceled, message: err.Error()}
	case actx.Err() != nil || isTimeout(err):
		return result{code: codeTimeout, message: err.Error()}
	}
	return result{code: codeTransport, message: err.Error()}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// getJSON is a GET that decodes the body, for setup and the audit.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	res := c.do(ctx, request{method: http.MethodGet, path: path})
	res.decode(v)
	if !res.ok() {
		return fmt.Errorf("GET %s: %s", path, res.describe())
	}
	return nil
}

// describe is the result as "status code: message" for error messages.
func (r result) describe() string {
	s := r.code
	if r.status != 0 {
		s = strconv.Itoa(r.status) + " " + s
	}
	if r.message != "" {
		s += ": " + r.message
	}
	return s
}
