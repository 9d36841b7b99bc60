package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staylock/staylock/internal/metricsreg"
)

// Booking outcomes counted in hotel_bookings_total.
const (
	outcomeConfirmed  = "confirmed"
	outcomeSoldOut    = "sold_out"
	outcomeRestricted = "restricted"
	outcomeCancelled  = "cancelled"
	outcomeModified   = "modified"
)

// maxChannelLabels bounds the distinct channel label values: channels are
// named by clients, so past this many new ones are counted as "other".
const maxChannelLabels = 100

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bookings *prometheus.CounterVec

	mu       sync.Mutex
	channels map[string]bool
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{channels: map[string]bool{}}
	m.requests = metricsreg.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotel_http_requests_total",
		Help: "HTTP requests by method, route template and status.",
	}, []string{"method", "route", "status"}))
	m.duration = metricsreg.RegisterOrReuse(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hotel_http_request_duration_seconds",
		Help:    "HTTP request latency by method and route template.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"}))
	m.bookings = metricsreg.RegisterOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotel_bookings_total",
		Help: "Reservation decisions by channel and outcome (confirmed, sold_out, restricted, cancelled, modified).",
	}, []string{"channel", "outcome"}))
	return m
}

// knownMethods bound the method label: clients may send any method name.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func (m *metrics) observeRequest(method, route string, status int, d time.Duration) {
	if !knownMethods[method] {
		method = "other"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// booking counts one reservation decision.
func (m *metrics) booking(channel, outcome string) {
	m.bookings.WithLabelValues(m.channelLabel(channel), outcome).Inc()
}

func (m *metrics) channelLabel(channel string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.channels[channel] {
		return channel
	}
	if len(m.channels) >= maxChannelLabels {
		return "other"
	}
	m.channels[channel] = true
	return channel
}
