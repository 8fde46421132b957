package caddymodule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/stats"
	"github.com/agenthook/agenthook/store"
)

// metrics implements handler.Metrics with Prometheus collectors. The
// collectors are created once per process and registered on the registry
// of every config, so counts survive reloads.
type metrics struct {
	requests         *prometheus.CounterVec
	authFailures     *prometheus.CounterVec
	backendLatency   *prometheus.HistogramVec
	taskLatency      *prometheus.HistogramVec
	tasks            *prometheus.CounterVec
	taskRetries      *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	deliveryLatency  *prometheus.HistogramVec
	callbackDisabled *prometheus.CounterVec
	events           *prometheus.CounterVec
	queue            *prometheus.GaugeVec
	outbox           *prometheus.GaugeVec
	tokens           *prometheus.CounterVec

	// stats is the last hour the dashboard charts, per process like the
	// collectors (see package stats).
	stats *stats.Collector
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

func newMetrics() *metrics {
	const ns, sub = "caddy", "agenthook"
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Endpoint requests by agent, endpoint and outcome.",
		}, []string{"agent", "endpoint", "outcome"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "auth_failures_total",
			Help: "Failed authentications by scheme and reason (missing, invalid, expired, replayed).",
		}, []string{"scheme", "reason"}),
		backendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "backend_duration_seconds",
			Help: "Time the agent backend took to answer, by agent and mode.", Buckets: latency,
		}, []string{"agent", "mode"}),
		taskLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "task_duration_seconds",
			Help: "Time from a task's 202 to its final status, by agent.", Buckets: latency,
		}, []string{"agent"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "tasks_total",
			Help: "Finished tasks by agent and final status.",
		}, []string{"agent", "status"}),
		taskRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "task_retries_total",
			Help: "Task attempts that failed and were scheduled again, by agent.",
		}, []string{"agent"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "delivery_attempts_total",
			Help: "Callback delivery attempts by agent and outcome (delivered, retry, failed, disabled).",
		}, []string{"agent", "outcome"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "delivery_attempt_duration_seconds",
			Help: "Duration of callback delivery attempts, by agent.", Buckets: latency,
		}, []string{"agent"}),
		callbackDisabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "callbacks_disabled_total",
			Help: "Callbacks disabled after failing too long or answering 410, by agent.",
		}, []string{"agent"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Events that happened, by agent and type (task.started, task.succeeded, task.failed, delivery.exhausted, callback.disabled, callback.recovered), whether or not a callback receives them.",
		}, []string{"agent", "type"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "backend_tokens_total",
			Help: "Tokens the agent backends reported using, by agent and kind (prompt, completion, total), read from their answers' usage by the adapters.",
		}, []string{"agent", "kind"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "tasks_queued",
			Help: "Tasks waiting (pending) and running (started).",
		}, []string{"state"}),
		outbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "deliveries_queued",
			Help: "Deliveries pending and dead-lettered (failed).",
		}, []string{"state"}),
		stats: stats.New(func() time.Time { return nowFunc() }),
	}
	return m
}

// registerMetrics registers the process's collectors on a config's
// registry. Registering again on the same registry is not an error.
func registerMetrics(reg *prometheus.Registry) (*metrics, error) {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	m := theMetrics
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.authFailures, m.backendLatency, m.taskLatency, m.tasks, m.taskRetries,
		m.deliveries, m.deliveryLatency, m.callbackDisabled, m.events, m.tokens, gaugeRefresher{m},
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// gaugeRefresher reads queue depths at scrape time, from every open
// store, instead of keeping a goroutine to poll them.
type gaugeRefresher struct{ m *metrics }

func (g gaugeRefresher) Describe(ch chan<- *prometheus.Desc) {
	g.m.queue.Describe(ch)
	g.m.outbox.Describe(ch)
}

func (g gaugeRefresher) Collect(ch chan<- prometheus.Metric) {
	m := g.m
	var pending, started, dPending, dFailed int
	live := map[*runtime]bool{}
	runtimes.Range(func(_, v any) bool {
		if rt, ok := v.(*runtime); ok {
			live[rt] = true
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for rt := range live {
		if p, s, err := rt.store.TaskCounts(ctx); err == nil {
			pending, started = pending+p, started+s
		}
		if p, f, err := rt.store.DeliveryCounts(ctx); err == nil {
			dPending, dFailed = dPending+p, dFailed+f
		}
	}
	m.queue.WithLabelValues("pending").Set(float64(pending))
	m.queue.WithLabelValues("started").Set(float64(started))
	m.outbox.WithLabelValues("pending").Set(float64(dPending))
	m.outbox.WithLabelValues("failed").Set(float64(dFailed))
	m.queue.Collect(ch)
	m.outbox.Collect(ch)
}

// knownAgents starts every per-agent series at zero, so that a family
// with no event yet (task_retries_total, callbacks_disabled_total, …) is
// on /metrics from the start: alerts on rate() or increase() need a
// series before its first event, and a missing family reads as a broken
// exporter. Label values are those the workers emit.
func (m *metrics) knownAgents(names []string) {
	for _, agent := range names {
		m.taskRetries.WithLabelValues(agent)
		m.callbackDisabled.WithLabelValues(agent)
		m.taskLatency.WithLabelValues(agent)
		m.deliveryLatency.WithLabelValues(agent)
		for _, status := range []store.TaskStatus{store.TaskSuccess, store.TaskFailure} {
			m.tasks.WithLabelValues(agent, string(status))
		}
		for _, outcome := range []string{"delivered", "retry", "failed"} {
			m.deliveries.WithLabelValues(agent, outcome)
		}
	}
}

func (m *metrics) Request(agent, endpoint, outcome string) {
	m.requests.WithLabelValues(agent, endpoint, outcome).Inc()
	m.stats.Request(agent, endpoint, outcome)
}

func (m *metrics) AuthFailure(scheme, reason string) {
	m.authFailures.WithLabelValues(scheme, reason).Inc()
}

func (m *metrics) BackendLatency(agent, mode string, d time.Duration) {
	m.backendLatency.WithLabelValues(agent, mode).Observe(d.Seconds())
}

func (m *metrics) TaskFinished(agent, status string, d time.Duration) {
	m.tasks.WithLabelValues(agent, status).Inc()
	m.taskLatency.WithLabelValues(agent).Observe(d.Seconds())
	m.stats.TaskFinished(agent, status, d)
}

func (m *metrics) TaskRetried(agent string) { m.taskRetries.WithLabelValues(agent).Inc() }

func (m *metrics) DeliveryAttempt(agent, outcome string, d time.Duration) {
	m.deliveries.WithLabelValues(agent, outcome).Inc()
	m.deliveryLatency.WithLabelValues(agent).Observe(d.Seconds())
	m.stats.DeliveryAttempt(agent, outcome, d)
}

func (m *metrics) TaskAwaitsCallback(agent, taskID string, accepted time.Time) {
	m.stats.TaskAwaitsCallback(agent, taskID, accepted)
}

func (m *metrics) CallbackDelivered(agent, taskID string) { m.stats.CallbackDelivered(agent, taskID) }

func (m *metrics) CallbackDisabled(agent string) { m.callbackDisabled.WithLabelValues(agent).Inc() }

func (m *metrics) Event(agent, typ string) { m.events.WithLabelValues(agent, typ).Inc() }

func (m *metrics) BackendTokens(agent, kind string, n int64) {
	if n > 0 {
		m.tokens.WithLabelValues(agent, kind).Add(float64(n))
	}
}

// Interface guards
var (
	_ handler.Metrics       = (*metrics)(nil)
	_ handler.CallbackTimer = (*metrics)(nil)
)
