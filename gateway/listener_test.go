package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staylock/staylock/gateway"
)

// TestServerOwnErrorsAreJSON: what net/http answers by itself, before any
// handler (headers too large, a malformed request, a missing Host, an
// unsupported Transfer-Encoding), comes in the API's error shape with its
// own status; ordinary answers pass through untouched.
func TestServerOwnErrorsAreJSON(t *testing.T) {
	e := newEnv(t, "sqlite")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.handler, MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(gateway.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })

	send := func(t *testing.T, raw string) *http.Response {
		t.Helper()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read answer to %.40q: %v", raw, err)
		}
		return resp
	}
	for _, tc := range []struct {
		name, raw string
		status    int
		field     string
	}{
		{"headers too large", "GET /v1/properties HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, "headers"},
		{"malformed request line", "GARBAGE\r\n\r\n", http.StatusBadRequest, "request"},
		{"missing Host", "GET /livez HTTP/1.1\r\n\r\n", http.StatusBadRequest, "request"},
		{"unsupported transfer encoding", "POST /v1/properties/p1/reservations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", http.StatusNotImplemented, "headers.transfer-encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, tc.raw)
			w := httptest.NewRecorder()
			w.Code = resp.StatusCode
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			_, _ = io.Copy(w.Body, resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, w.Body.String())
			}
			got := errorOf(t, w)
			if got.Error.Code != "invalid_request" {
				t.Errorf("code %q, want invalid_request", got.Error.Code)
			}
			if fields, _ := got.Error.Details["fields"].(map[string]any); fields[tc.field] == nil {
				t.Errorf("details %v do not name %s", got.Error.Details, tc.field)
			}
			if tc.name == "missing Host" && !strings.Contains(w.Body.String(), "Host") {
				t.Errorf("the reason is lost: %s", w.Body.String())
			}
		})
	}

	t.Run("ordinary answers pass through", func(t *testing.T) {
		resp := send(t, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"ok"`) {
			t.Errorf("GET /livez: %d %s", resp.StatusCode, b)
		}
	})
}
