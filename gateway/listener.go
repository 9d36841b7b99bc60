package gateway

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/staylock/staylock/booking"
)

// Listener wraps the API's listener so that the answers net/http writes by
// itself, before any handler runs, have the API's one JSON error shape:
// 431 (request headers over http.Server.MaxHeaderBytes), 400 (a malformed
// request line or header, a missing Host) and 501 (an unsupported
// Transfer-Encoding). net/http writes those as text/plain straight to the
// connection; nothing else it sends looks like them.
func Listener(ln net.Listener) net.Listener { return serverErrorListener{ln} }

type serverErrorListener struct{ net.Listener }

func (l serverErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return serverErrorConn{c}, nil
}

type serverErrorConn struct{ net.Conn }

func (c serverErrorConn) Write(p []byte) (int, error) {
	if out, ok := rewriteServerError(p); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// goErrorHeaders are the headers of net/http's own error answers
// (net/http/server.go, conn.serve): each is one Write of
// "HTTP/1.1 <status>" + goErrorHeaders + <text>.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewriteServerError turns one of net/http's own error answers into the
// same answer in the API's error shape; ok is false for anything else.
func rewriteServerError(p []byte) (out []byte, ok bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	end := bytes.Index(p, []byte(goErrorHeaders))
	if end < 0 || end < len(proto)+3 {
		return nil, false
	}
	status := string(p[len(proto):end])
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	field, problem := "request", "is malformed"
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		field, problem = "headers", "are too large"
	case http.StatusNotImplemented:
		field, problem = "headers.transfer-encoding", "is not supported"
	default:
		// "400 Bad Request: missing required Host header": keep net/http's
		// reason, which names what is wrong and echoes nothing.
		if _, reason, found := strings.Cut(status, ": "); found {
			problem = reason
		}
	}
	fe := booking.FieldErrors{}
	fe.Add(field, problem)
	body := marshalError(fe.Err().(*booking.Error))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%d %s\r\n", proto, code, http.StatusText(code))
	fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n", contentTypeJSON, len(body))
	b.WriteString("Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes(), true
}
