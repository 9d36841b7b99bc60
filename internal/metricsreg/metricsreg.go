// Package metricsreg is the one way Staylock registers its Prometheus
// collectors: a collector whose description is registered already is
// reused, so that several servers or nodes may share one registry (tests,
// benchmarks, a process running two roles).
package metricsreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterOrReuse registers c on reg, or returns the collector registered
// before under the same description. Any other clash (one name with other
// labels or help) is a programming error: it panics.
func RegisterOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// NewRegistry is a registry with the Go runtime and process collectors,
// which every Staylock process serves on its /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	RegisterOrReuse(reg, collectors.NewGoCollector())
	RegisterOrReuse(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
