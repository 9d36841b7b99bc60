package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/staylock/staylock/gateway"
)

// TestCORS: a page on an allowed origin may call the REST API (preflight
// 204 with the methods and headers it needs, then the call with its origin
// echoed, never "*"); another origin gets no Access-Control-* headers and
// its preflight is refused in the API's error shape; every answer varies by
// Origin; requests without an Origin are not CORS and are untouched.
func TestCORS(t *testing.T) {
	const allowed = "https://app.example.com"
	e := newEnv(t, "sqlite", func(o *gateway.Options) {
		o.Stream.AllowedOrigins = []string{allowed, "http://localhost:3000"}
	})

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		w := e.do(http.MethodOptions, "/v1/stream-tokens", "", "",
			"Origin", allowed, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
		if w.Code != http.StatusNoContent {
			t.Fatalf("preflight: %d %s", w.Code, w.Body.String())
		}
		h := w.Header()
		if got := h.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Allow-Origin %q, want %q", got, allowed)
		}
		for _, want := range []string{"POST", "PATCH", "DELETE"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), want) {
				t.Errorf("Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), want)
			}
		}
		for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("credentials allowed: keys travel in Authorization, never cookies")
		}
		if !varyOrigin(h) {
			t.Errorf("no Vary: Origin: %v", h)
		}
	})

	t.Run("a call from an allowed origin", func(t *testing.T) {
		w := e.do(http.MethodPost, "/v1/stream-tokens", "a-viewer", "", "Origin", "https://APP.example.com:443")
		if w.Code != http.StatusCreated && w.Code != http.StatusOK {
			t.Fatalf("stream token: %d %s", w.Code, w.Body.String())
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "https://APP.example.com:443" {
			t.Errorf("Allow-Origin %q: want the request's origin echoed", got)
		}
		if !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Errorf("Expose-Headers %q lacks X-Request-Id", w.Header().Get("Access-Control-Expose-Headers"))
		}
	})

	t.Run("another origin", func(t *testing.T) {
		w := e.do(http.MethodOptions, "/v1/properties", "", "",
			"Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
		mustError(t, w, http.StatusForbidden, "forbidden")
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("refused preflight carries Allow-Origin %q", got)
		}
		w = e.do(http.MethodGet, "/v1/properties", "a-viewer", "", "Origin", "https://evil.example")
		if w.Code != http.StatusOK {
			t.Fatalf("GET with a foreign Origin: %d", w.Code)
		}
		for k := range w.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("foreign origin got %s: %q", k, w.Header().Get(k))
			}
		}
		if !varyOrigin(w.Header()) {
			t.Errorf("no Vary: Origin on a foreign origin's answer")
		}
	})

	t.Run("no Origin", func(t *testing.T) {
		w := e.do(http.MethodGet, "/v1/properties", "a-viewer", "")
		if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("plain request: %d %v", w.Code, w.Header())
		}
	})
}

func varyOrigin(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "Origin") {
				return true
			}
		}
	}
	return false
}
