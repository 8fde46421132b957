package caddymodule

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsStartAtZeroForKnownAgents: the families of events that may
// not have happened yet are on /metrics, at zero, for every agent of the
// config, so an alert on increase(task_retries_total[5m]) has a series to
// read before the first retry.
func TestMetricsStartAtZeroForKnownAgents(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := registerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	const agent = "metrics-zero-agent"
	m.knownAgents([]string{agent})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]map[string]string{
		"caddy_agenthook_task_retries_total":                {{"agent": agent}},
		"caddy_agenthook_callbacks_disabled_total":          {{"agent": agent}},
		"caddy_agenthook_tasks_total":                       {{"agent": agent, "status": "SUCCESS"}, {"agent": agent, "status": "FAILURE"}},
		"caddy_agenthook_delivery_attempts_total":           {{"agent": agent, "outcome": "delivered"}, {"agent": agent, "outcome": "retry"}, {"agent": agent, "outcome": "failed"}},
		"caddy_agenthook_task_duration_seconds":             {{"agent": agent}},
		"caddy_agenthook_delivery_attempt_duration_seconds": {{"agent": agent}},
	}
	for name, series := range want {
		i := -1
		for j, f := range families {
			if f.GetName() == name {
				i = j
			}
		}
		if i < 0 {
			t.Errorf("%s is missing from the registry", name)
			continue
		}
		for _, labels := range series {
			found := false
			for _, metric := range families[i].GetMetric() {
				got := map[string]string{}
				for _, l := range metric.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if !maps.Equal(got, labels) {
					continue
				}
				found = true
				if v := metric.GetCounter().GetValue() + float64(metric.GetHistogram().GetSampleCount()); v != 0 {
					t.Errorf("%s%v starts at %v, want 0", name, labels, v)
				}
			}
			if !found {
				t.Errorf("%s has no series %v", name, labels)
			}
		}
	}
}
