package mail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers a Message. A *PermanentError means retrying cannot help
// (the server refused the recipient or the message for good).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// PermanentError is a refusal that no retry fixes (an SMTP 5xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Encryptions of SMTP (MAIL_ENCRYPTION).
const (
	EncryptionSTARTTLS      = "starttls"      // STARTTLS required (port 587)
	EncryptionTLS           = "tls"           // implicit TLS (port 465)
	EncryptionOpportunistic = "opportunistic" // STARTTLS when offered
	EncryptionNone          = "none"          // plain text: only to a relay on this host or in tests
)

// SMTPConfig configures the SMTP sender.
type SMTPConfig struct {
	Host       string
	Port       int
	Username   string
	Password   string
	Encryption string // one of the Encryption constants; "" is starttls
	Timeout    time.Duration
}

// SMTP sends through an SMTP server, one connection per message.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP checks cfg and returns the sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("smtp: host and port are required")
	}
	switch cfg.Encryption {
	case "":
		cfg.Encryption = EncryptionSTARTTLS
	case EncryptionSTARTTLS, EncryptionTLS, EncryptionOpportunistic, EncryptionNone:
	default:
		return nil, fmt.Errorf("smtp: unknown encryption %q (starttls, tls, opportunistic or none)", cfg.Encryption)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.Encryption {
	case EncryptionTLS:
		opts = append(opts, gomail.WithSSL())
	case EncryptionOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case EncryptionNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	msg, err := build(m)
	if err != nil {
		return &PermanentError{Err: err}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		// A 5xx reply is the server's final word; anything else (4xx, a
		// lost connection, a timeout) may pass on a later attempt.
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return &PermanentError{Err: err}
		}
		return fmt.Errorf("smtp send %s: %w", m.ID, err)
	}
	return nil
}

// build makes the MIME message of m.
func build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", m.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Log writes each message as an .eml file into a folder (MAIL_MAILER=log):
// STORAGE_PATH/mail, private to the service user. A message already written
// is not written again.
type Log struct {
	dir string
}

// NewLog makes the folder (0700) when needed.
func NewLog(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail folder: %w", err)
	}
	return &Log{dir: dir}, nil
}

// Send writes m to <dir>/<message id>.eml.
func (l *Log) Send(_ context.Context, m Message) error {
	msg, err := build(m)
	if err != nil {
		return &PermanentError{Err: err}
	}
	name := filepath.Join(l.dir, strings.NewReplacer("/", "_", "@", "_at_").Replace(m.ID)+".eml")
	tmp, err := os.CreateTemp(l.dir, ".eml-*")
	if err != nil {
		return fmt.Errorf("write mail: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write mail: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write mail: %w", err)
	}
	// Link, not rename: a message written before stays as it was.
	if err := os.Link(tmp.Name(), name); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write mail: %w", err)
	}
	return nil
}
