package runner

import (
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/exchange"
)

// Config tunes the task runner. It may change at a config reload; the
// runner reads it afresh for every claim and every task.
type Config struct {
	Workers int
	// Attempts is how many times a task's backend call is tried when it
	// fails with a connection error, a timeout, 408, 429 or 5xx.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further one (with ±20% jitter), up to five minutes.
	Backoff time.Duration
	// Timeout bounds one backend call.
	Timeout time.Duration
	// Lease is how long a claimed task stays ours; another instance may
	// run it after that. It must exceed Timeout.
	Lease time.Duration
	// MaxResult bounds the backend answer kept as a task's result.
	MaxResult int64
	// Retention is how long a finished task, and its result, is kept.
	Retention time.Duration
	// QuietSuccess logs the line of a task that succeeded at debug level
	// instead of info; failures stay at info.
	QuietSuccess bool
	// Shapes holds the agents' request and answer expressions, with the
	// endpoints' overrides (by the task's endpoint); nil shapes nothing.
	Shapes *exchange.Set
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease <= c.Timeout {
		c.Lease = c.Timeout + leaseMargin
	}
	if c.MaxResult <= 0 {
		c.MaxResult = DefaultMaxResult
	}
	if c.Retention <= 0 {
		c.Retention = handler.DefaultRetention
	}
	return c
}
