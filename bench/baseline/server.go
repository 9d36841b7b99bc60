package baseline

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Limits of one request.
const (
	maxBody        = 1 << 20
	maxRangeNights = 400
	maxStays       = 20
	maxStayNights  = 60
	maxQuantity    = 1000
	defaultPage    = 100
	maxPage        = 1000
)

// Server is the HTTP API of a baseline engine.
type Server struct {
	engine Engine
	key    string
	log    *zap.Logger
	now    func() time.Time
}

// NewServer serves engine to clients that present key as their bearer key.
func NewServer(engine Engine, key string, log *zap.Logger) *Server {
	return &Server{engine: engine, key: key, log: log, now: time.Now}
}

// Handler is the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	api := http.NewServeMux()
	api.HandleFunc("PUT /v1/properties/{property}", s.putProperty)
	api.HandleFunc("PUT /v1/properties/{property}/room-types/{room_type}", s.putRoomType)
	api.HandleFunc("GET /v1/properties/{property}/room-types", s.roomTypes)
	api.HandleFunc("POST /v1/properties/{property}/reservations", s.book)
	api.HandleFunc("GET /v1/properties/{property}/reservations", s.reservations)
	api.HandleFunc("GET /v1/reservations/{id}", s.reservation)
	api.HandleFunc("GET /v1/properties/{property}/availability", s.availability)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, notFound("no such endpoint in the baseline: %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/v1/", s.auth(api))
	return mux
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.key)) != 1 {
			s.fail(w, &Error{Code: "unauthorized", Message: "missing or unknown API key"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) putProperty(w http.ResponseWriter, r *http.Request) {
	p := Property{ID: r.PathValue("property")}
	var body struct {
		Name     string `json:"name"`
		Timezone string `json:"timezone"`
		Currency string `json:"currency"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	p.Name, p.Timezone, p.Currency = body.Name, body.Timezone, body.Currency
	switch {
	case !validID(p.ID):
		s.fail(w, invalid("property", "must match ^[a-z0-9][a-z0-9_-]{0,63}$"))
		return
	case p.Name == "":
		s.fail(w, invalid("name", "required"))
		return
	case len(p.Currency) != 3:
		s.fail(w, invalid("currency", "an ISO 4217 code"))
		return
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	created, err := s.engine.PutProperty(r.Context(), p)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, createdStatus(created), p)
}

func (s *Server) putRoomType(w http.ResponseWriter, r *http.Request) {
	property := r.PathValue("property")
	rt := RoomType{ID: r.PathValue("room_type")}
	var body struct {
		Name  string `json:"name"`
		Rooms int    `json:"rooms"`
		Price int64  `json:"price"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	rt.Name, rt.Rooms, rt.Price = body.Name, body.Rooms, body.Price
	switch {
	case !validID(rt.ID):
		s.fail(w, invalid("room_type", "must match ^[a-z0-9][a-z0-9_-]{0,63}$"))
		return
	case rt.Rooms < 0 || rt.Rooms > 1_000_000:
		s.fail(w, invalid("rooms", "between 0 and 1000000"))
		return
	case rt.Price < 0:
		s.fail(w, invalid("price", "must not be negative"))
		return
	}
	if rt.Name == "" {
		rt.Name = rt.ID
	}
	created, err := s.engine.PutRoomType(r.Context(), property, rt)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, createdStatus(created), rt)
}

func (s *Server) roomTypes(w http.ResponseWriter, r *http.Request) {
	rts, err := s.engine.RoomTypes(r.Context(), r.PathValue("property"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room_types": rts})
}

// bookingRequest is the body of a create.
type bookingRequest struct {
	Stays       []Stay  `json:"stays"`
	Guest       Guest   `json:"guest"`
	Channel     string  `json:"channel"`
	ExternalRef string  `json:"external_ref"`
	HoldID      *string `json:"hold_id"`
}

func (s *Server) book(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		s.fail(w, &Error{Code: "invalid_request", Message: "read the body: " + err.Error()})
		return
	}
	if len(raw) > maxBody {
		s.fail(w, &Error{Code: "payload_too_large", Message: "the body is over 1 MiB"})
		return
	}
	var req bookingRequest
	if err := decodeStrict(raw, &req); err != nil {
		s.fail(w, err)
		return
	}
	needs, verr := needsOf(req)
	if verr != nil {
		s.fail(w, verr)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 || strings.IndexFunc(key, func(c rune) bool { return c < 0x20 || c > 0x7e }) >= 0 {
		s.fail(w, invalid("Idempotency-Key", "1–200 printable ASCII characters"))
		return
	}
	property := r.PathValue("property")
	now := s.now().UTC().Truncate(time.Microsecond)
	sum := sha256.Sum256(append([]byte(property+"\x00"), raw...))
	b := NewBooking{Needs: needs, Key: key, Hash: hex.EncodeToString(sum[:16]), R: Reservation{
		ID: newID(), Property: property, Status: "confirmed", Stays: req.Stays, Guest: req.Guest,
		Channel: req.Channel, ExternalRef: req.ExternalRef, Version: 1, CreatedAt: now, UpdatedAt: now,
	}}
	res, _, err := s.engine.Book(r.Context(), b)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// needsOf validates the stays and sums them per room type and night.
func needsOf(req bookingRequest) ([]Need, *Error) {
	if req.HoldID != nil {
		return nil, invalid("hold_id", "the baseline has no holds")
	}
	if len(req.Stays) == 0 || len(req.Stays) > maxStays {
		return nil, invalid("stays", "1 to 20 stays")
	}
	type k struct {
		rt string
		d  Date
	}
	sum := map[k]int{}
	for _, st := range req.Stays {
		switch {
		case !validID(st.RoomType):
			return nil, invalid("stays.room_type", "must match ^[a-z0-9][a-z0-9_-]{0,63}$")
		case st.Quantity < 1 || st.Quantity > maxQuantity:
			return nil, invalid("stays.quantity", "1 to 1000")
		case st.Departure <= st.Arrival || st.Departure-st.Arrival > maxStayNights:
			return nil, invalid("stays.departure", "after the arrival, at most 60 nights")
		}
		for d := st.Arrival; d < st.Departure; d++ {
			sum[k{st.RoomType, d}] += st.Quantity
		}
	}
	needs := make([]Need, 0, len(sum))
	for key, q := range sum {
		needs = append(needs, Need{RoomType: key.rt, Night: key.d, Quantity: q})
	}
	slices.SortFunc(needs, func(a, b Need) int {
		if c := strings.Compare(a.RoomType, b.RoomType); c != 0 {
			return c
		}
		return int(a.Night - b.Night)
	})
	return needs, nil
}

func (s *Server) reservation(w http.ResponseWriter, r *http.Request) {
	res, err := s.engine.Reservation(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) reservations(w http.ResponseWriter, r *http.Request) {
	limit := defaultPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			s.fail(w, invalid("limit", "1 to 1000"))
			return
		}
		limit = n
	}
	rs, next, err := s.engine.Reservations(r.Context(), r.PathValue("property"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	if rs == nil {
		rs = []Reservation{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reservations": rs, "next_cursor": cursor})
}

func (s *Server) availability(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var from, to Date
	if err := from.UnmarshalText([]byte(q.Get("from"))); err != nil {
		s.fail(w, invalid("from", err.Error()))
		return
	}
	if err := to.UnmarshalText([]byte(q.Get("to"))); err != nil {
		s.fail(w, invalid("to", err.Error()))
		return
	}
	if to <= from || to-from > maxRangeNights {
		s.fail(w, invalid("to", "after from, at most 400 nights"))
		return
	}
	property := r.PathValue("property")
	rts, err := s.engine.Availability(r.Context(), property, from, to, q.Get("room_type"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"property": property, "from": from, "to": to, "room_types": rts})
}

// decode reads a JSON body strictly (unknown fields are a 400).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(raw) > maxBody {
		s.fail(w, &Error{Code: "payload_too_large", Message: "the body is over 1 MiB"})
		return false
	}
	if err == nil {
		if e := decodeStrict(raw, v); e != nil {
			s.fail(w, e)
			return false
		}
		return true
	}
	s.fail(w, &Error{Code: "invalid_request", Message: "read the body: " + err.Error()})
	return false
}

func decodeStrict(raw []byte, v any) *Error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Code: "invalid_request", Message: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return &Error{Code: "invalid_request", Message: "malformed JSON: data after the object"}
	}
	return nil
}

// fail writes err in the API's error shape; an unnamed error is a 500
// (logged, its text not shown).
func (s *Server) fail(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.log.Error("request failed", zap.Error(err))
		e = &Error{Code: "internal", Message: "internal error"}
	}
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	writeJSON(w, e.status(), map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message, "details": details}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// newID is a reservation id: "r" and 20 random hex digits.
func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return "r" + hex.EncodeToString(b)
}
