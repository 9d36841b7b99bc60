package metricsreg_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staylock/staylock/internal/metricsreg"
)

func counter(help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotel_test_total", Help: help}, []string{"outcome"})
}

func TestRegisterOrReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := metricsreg.RegisterOrReuse(reg, counter("Tests."))
	second := metricsreg.RegisterOrReuse(reg, counter("Tests."))
	if first != second {
		t.Fatal("the second registration did not return the first collector")
	}
	second.WithLabelValues("ok").Inc()
	if got := testCount(t, reg); got != 1 {
		t.Fatalf("counted %v through the reused collector, want 1", got)
	}

	t.Run("a clash panics", func(t *testing.T) {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "hotel_test_total") {
				t.Fatalf("recovered %v, want a panic naming the metric", r)
			}
		}()
		metricsreg.RegisterOrReuse(reg, counter("Other help."))
	})
}

func testCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hotel_test_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("hotel_test_total not gathered")
	return 0
}

func TestNewRegistryServesTheRuntime(t *testing.T) {
	mfs, err := metricsreg.NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "process_start_time_seconds"} {
		if !names[want] {
			t.Errorf("%s is not gathered", want)
		}
	}
}
