// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) in
// the test process: it accepts mail over TCP like any relay and counts what
// it accepted by Message-ID. It can refuse mail (5xx), fail it for now
// (4xx), or hold deliveries until released, so that tests can kill a sender in
// the middle of a delivery.
package smtptest

import (
	"bufio"
	"io"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted email.
type Message struct {
	ID      string // Message-ID without angle brackets
	From    string
	To      []string
	Subject string
	Body    string // everything after the header
	At      time.Time
}

// Server is a running SMTP server.
type Server struct {
	Host string
	Port int

	srv *smtp.Server

	mu       sync.Mutex
	accepted []Message
	refuse   int // 0, or the reply code for every RCPT (e.g. 550, 451)
	hold     chan struct{}
	arrived  chan struct{} // signalled when a delivery waits at MAIL FROM while held
	changed  chan struct{} // closed and replaced on every accepted message
}

// Start serves on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s := &Server{changed: make(chan struct{}), arrived: make(chan struct{}, 64)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "smtptest.local"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.AllowInsecureAuth = true
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { s.Release(); _ = s.srv.Close() })
	return s
}

// Refuse makes every recipient answer code (550: refused for good; 451:
// try later); 0 accepts again.
func (s *Server) Refuse(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = code
}

// Hold makes each new delivery wait at MAIL FROM, before anything of the
// message is sent, until Release; Arrived tells when one is waiting. A
// sender killed meanwhile has delivered nothing.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release lets held and later messages through.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Arrived is signalled each time a delivery waits while held.
func (s *Server) Arrived() <-chan struct{} { return s.arrived }

// Messages returns every accepted message, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.accepted...)
}

// CountByID counts accepted messages by Message-ID.
func (s *Server) CountByID() map[string]int {
	out := map[string]int{}
	for _, m := range s.Messages() {
		out[m.ID]++
	}
	return out
}

// WaitFor waits until at least n messages were accepted, or fails the test
// after within.
func (s *Server) WaitFor(t testing.TB, n int, within time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.accepted), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d message(s) accepted within %s, want %d", got, within, n)
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	hold := x.s.hold
	x.s.mu.Unlock()
	if hold != nil {
		select {
		case x.s.arrived <- struct{}{}:
		default:
		}
		<-hold
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	code := x.s.refuse
	x.s.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "refused by smtptest"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(raw))))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparseable message"}
	}
	body, _ := io.ReadAll(m.Body)
	msg := Message{ID: strings.Trim(m.Header.Get("Message-Id"), "<> "), From: x.from, To: append([]string(nil), x.to...),
		Subject: m.Header.Get("Subject"), Body: string(body), At: time.Now()}
	if dec, err := new(mime.WordDecoder).DecodeHeader(msg.Subject); err == nil {
		msg.Subject = dec
	}
	x.s.mu.Lock()
	x.s.accepted = append(x.s.accepted, msg)
	close(x.s.changed)
	x.s.changed = make(chan struct{})
	x.s.mu.Unlock()
	return nil
}
