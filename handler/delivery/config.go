package delivery

import (
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler"
)

// Config tunes callback deliveries. It may change at a reload.
type Config struct {
	// Client sends the deliveries. It must not follow redirects, and its
	// dialer should refuse private addresses (see caddymodule).
	Client *http.Client
	// Workers bounds the attempts in flight on this instance.
	Workers int
	// Concurrency bounds the attempts in flight to one callback, unless
	// the callback sets its own.
	Concurrency int
	// AgentWorkers bounds the attempts in flight for one agent, so that
	// one agent's slow receivers cannot take every worker (0, or more
	// than Workers: Workers, which shares nothing).
	AgentWorkers int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Schedule is the wait before each retry; the first attempt is
	// immediate. Each wait gets ±20% jitter.
	Schedule []time.Duration
	// DisableAfter disables a callback that has failed, without a
	// success in between, for this long.
	DisableAfter time.Duration
	// BreakerThreshold failures in a row pause a callback for
	// BreakerCooldown; then one attempt probes it.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Retention is how long a delivered or dead-lettered delivery is kept.
	Retention time.Duration
	// ResponseExcerpt is how many bytes of a receiver's answer an attempt
	// keeps (DefaultResponseExcerpt when zero).
	ResponseExcerpt int
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.AgentWorkers <= 0 || c.AgentWorkers > c.Workers {
		c.AgentWorkers = c.Workers
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.Retention <= 0 {
		c.Retention = handler.DefaultRetention
	}
	if c.ResponseExcerpt <= 0 {
		c.ResponseExcerpt = DefaultResponseExcerpt
	}
	return c
}

// agentShare is how many attempts one agent may have in flight.
func (c Config) agentShare() int { return c.AgentWorkers }
