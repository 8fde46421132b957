package handler

import "time"

// Metrics receives what agenthook counts. Package caddymodule implements
// it with Prometheus collectors on Caddy's registry; this package only
// calls it, so it stays free of Prometheus.
type Metrics interface {
	// Request counts an endpoint answer; outcome is a stable word such as
	// "ok", "accepted", "unauthorized" or "backend_error".
	Request(agent, endpoint, outcome string)
	AuthFailure(scheme, reason string)
	BackendLatency(agent, mode string, d time.Duration)
	// TaskFinished observes the time from 202 to the final status.
	TaskFinished(agent string, status string, sinceAccepted time.Duration)
	TaskRetried(agent string)
	// DeliveryAttempt observes one callback attempt; outcome is
	// "delivered", "retry", "failed" or "disabled".
	DeliveryAttempt(agent, outcome string, d time.Duration)
	CallbackDisabled(agent string)
	// Event counts an event that happened, whether or not a callback
	// receives it: a task event of the agent, or an operational event
	// about one of its callbacks.
	Event(agent, eventType string)
	// BackendTokens counts tokens a backend reported using; kind is
	// "prompt", "completion" or "total".
	BackendTokens(agent, kind string, n int64)
}

// CallbackTimer is implemented by Metrics that time a task from its 202
// to its first delivered callback (the dashboard's stats). Workers check
// for it, so that Metrics without it need nothing more.
type CallbackTimer interface {
	// TaskAwaitsCallback: a task accepted at accepted finished, and has
	// callbacks to deliver.
	TaskAwaitsCallback(agent, taskID string, accepted time.Time)
	// CallbackDelivered: a callback about the task was delivered.
	CallbackDelivered(agent, taskID string)
}

// NopMetrics discards everything.
type NopMetrics struct{}

func (NopMetrics) Request(string, string, string)                {}
func (NopMetrics) AuthFailure(string, string)                    {}
func (NopMetrics) BackendLatency(string, string, time.Duration)  {}
func (NopMetrics) TaskFinished(string, string, time.Duration)    {}
func (NopMetrics) TaskRetried(string)                            {}
func (NopMetrics) DeliveryAttempt(string, string, time.Duration) {}
func (NopMetrics) CallbackDisabled(string)                       {}
func (NopMetrics) Event(string, string)                          {}
func (NopMetrics) BackendTokens(string, string, int64)           {}

// Interface guard
var _ Metrics = NopMetrics{}
