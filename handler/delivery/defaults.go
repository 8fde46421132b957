package delivery

import "time"

// Defaults of Config, also documented in the README.
const (
	DefaultWorkers          = 256
	DefaultConcurrency      = 16
	DefaultTimeout          = 15 * time.Second
	DefaultDisableAfter     = 5 * 24 * time.Hour
	DefaultBreakerThreshold = 10
	DefaultBreakerCooldown  = 30 * time.Second
)

// DefaultSchedule is the retry schedule after the first, immediate
// attempt: Standard Webhooks' suggestion of 5s, 5m, 30m, 2h, 5h, 10h, 10h.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

const (
	// maxRetryAfter clamps a receiver's Retry-After.
	maxRetryAfter = 12 * time.Hour
	// leaseMargin is added to the attempt timeout for a claim's lease: it
	// covers recording the attempt.
	leaseMargin = 10 * time.Second
	// defaultSlowDown holds a callback back after a 429 without a
	// Retry-After.
	defaultSlowDown = 5 * time.Second
	// defaultRefresh bounds how stale the registry's cache may be.
	defaultRefresh = 2 * time.Second
)
