package jobs

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/persistence"
)

// Kinds and queues the metrics always report (0 until something happens),
// so that dashboards and alerts have a series from the start.
var (
	allKinds  = []string{KindReservationMail, KindWebhookFanout, KindWebhookDelivery, KindPurgeIdempotency, KindSweepHolds}
	allQueues = []string{QueueMail, QueueWebhooks, QueueMaintenance, QueueEngine}
)

// Metrics count the outcomes of the jobs this process runs.
type Metrics struct {
	completed, failed, cancelled *prometheus.CounterVec
	latency                      *prometheus.HistogramVec
}

// NewMetrics registers the job outcome metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotel_jobs_completed_total",
			Help: "Jobs this process ran to completion, by kind."}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotel_jobs_failed_total",
			Help: "Job attempts that failed (retried later, or discarded after the last), by kind."}, []string{"kind"}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotel_jobs_cancelled_total",
			Help: "Jobs given up for good without retries (an SMTP 5xx, an unusable address), by kind."}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hotel_jobs_latency_seconds",
			Help:    "From the job's commit (with its booking) to its completion, by kind.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"kind"}),
	}
	m.completed = metricsreg.RegisterOrReuse(reg, m.completed)
	m.failed = metricsreg.RegisterOrReuse(reg, m.failed)
	m.cancelled = metricsreg.RegisterOrReuse(reg, m.cancelled)
	m.latency = metricsreg.RegisterOrReuse(reg, m.latency)
	for _, k := range allKinds {
		m.completed.WithLabelValues(k)
		m.failed.WithLabelValues(k)
		m.cancelled.WithLabelValues(k)
	}
	return m
}

// observe counts River's job events until the channel closes.
func (m *Metrics) observe(events <-chan *river.Event) {
	for ev := range events {
		if ev == nil || ev.Job == nil {
			continue
		}
		kind := ev.Job.Kind
		switch ev.Kind {
		case river.EventKindJobCompleted:
			m.completed.WithLabelValues(kind).Inc()
			if ev.Job.FinalizedAt != nil {
				m.latency.WithLabelValues(kind).Observe(ev.Job.FinalizedAt.Sub(ev.Job.CreatedAt).Seconds())
			}
		case river.EventKindJobFailed:
			m.failed.WithLabelValues(kind).Inc()
		case river.EventKindJobCancelled:
			m.cancelled.WithLabelValues(kind).Inc()
		}
	}
}

// queueCollector reports the queue's state from the database at each scrape:
// any process may report it (dashboards take the max over processes).
type queueCollector struct {
	store                        persistence.Store
	available, oldest, discarded *prometheus.Desc
}

// RegisterQueueCollector registers hotel_jobs_available,
// hotel_jobs_oldest_available_seconds and hotel_jobs_discarded on reg,
// read from store at each scrape.
func RegisterQueueCollector(reg prometheus.Registerer, store persistence.Store) {
	metricsreg.RegisterOrReuse(reg, &queueCollector{store: store,
		available: prometheus.NewDesc("hotel_jobs_available", "Jobs waiting to run, by queue.", []string{"queue"}, nil),
		oldest: prometheus.NewDesc("hotel_jobs_oldest_available_seconds",
			"Age of the oldest job waiting to run, by queue (0 when none waits).", []string{"queue"}, nil),
		discarded: prometheus.NewDesc("hotel_jobs_discarded",
			"Jobs in the dead-letter state (discarded after their last attempt), by kind.", []string{"kind"}, nil),
	})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.available
	ch <- c.oldest
	ch <- c.discarded
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.store.JobQueueStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.available, err)
		return
	}
	queues := append([]string(nil), allQueues...)
	for q := range st.Available {
		if !slices.Contains(queues, q) {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		ch <- prometheus.MustNewConstMetric(c.available, prometheus.GaugeValue, float64(st.Available[q]), q)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestAvailable[q].Seconds(), q)
	}
	kinds := append([]string(nil), allKinds...)
	for k := range st.Discarded {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		ch <- prometheus.MustNewConstMetric(c.discarded, prometheus.GaugeValue, float64(st.Discarded[k]), k)
	}
}
