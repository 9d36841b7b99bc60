package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staylock/staylock/internal/metricsreg"
)

// metrics are the cluster's Prometheus collectors. They exist (and count)
// whether or not a registry was given, so tests can read them.
type metrics struct {
	fenced   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	retries  *prometheus.CounterVec
	members  prometheus.Gauge
	actors   prometheus.Gauge
	evicted  prometheus.Gauge
	duration *prometheus.HistogramVec
}

// Labels of the counters.
const (
	// reasonFence: the store refused a commit because another activation
	// wrote the actor's next seq first (persistence.ErrFenced).
	reasonFence = "fence"
	// reasonEvicted: this node lost its membership (paused past eviction,
	// or removed by its peers); it refuses every actor request and write.
	reasonEvicted = "evicted"
	// reasonDraining: the activation is passivating (moved to another
	// member, or this node is leaving).
	reasonDraining = "draining"

	retryDeadLetter   = "dead_letter"
	retryNotCommitted = "not_committed"
	retryMemberLeft   = "member_left"
	retryLookup       = "lookup"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fenced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotel_actor_fenced_total",
			Help: "Actor commits refused because the activation was stale: reason=fence (the store's (actor, seq) fence), reason=evicted (this node had lost its membership).",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotel_cluster_refused_total",
			Help: "Actor requests this node refused without acting, so that the caller retries elsewhere (reason: evicted, draining).",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotel_cluster_retries_total",
			Help: "Actor calls sent again because the first try provably did not act (dead_letter, not_committed, member_left, lookup).",
		}, []string{"reason"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotel_cluster_members",
			Help: "Members in this node's view of the cluster.",
		}),
		actors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotel_cluster_activations",
			Help: "Inventory actors (room types) active on this node.",
		}),
		evicted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotel_cluster_evicted",
			Help: "1 once this node has lost its membership and refuses all actor work (it then exits so that its supervisor restarts it).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotel_cluster_call_duration_seconds",
			Help:    "One actor request, by where the actor ran (local, remote).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"target"}),
	}
	for _, r := range []string{reasonFence, reasonEvicted} {
		m.fenced.WithLabelValues(r)
	}
	for _, r := range []string{reasonEvicted, reasonDraining} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		m.fenced = metricsreg.RegisterOrReuse(reg, m.fenced)
		m.refused = metricsreg.RegisterOrReuse(reg, m.refused)
		m.retries = metricsreg.RegisterOrReuse(reg, m.retries)
		m.members = metricsreg.RegisterOrReuse(reg, m.members)
		m.actors = metricsreg.RegisterOrReuse(reg, m.actors)
		m.evicted = metricsreg.RegisterOrReuse(reg, m.evicted)
		m.duration = metricsreg.RegisterOrReuse(reg, m.duration)
	}
	return m
}
