package runner

import "time"

// Defaults of Config, also documented in the README.
const (
	DefaultWorkers   = 16
	DefaultAttempts  = 3
	DefaultBackoff   = time.Second
	DefaultTimeout   = 2 * time.Minute
	DefaultMaxResult = 4 << 20
	// leaseMargin is added to Timeout for the default lease.
	leaseMargin = 30 * time.Second
	// maxBackoff bounds the wait between attempts of a task.
	maxBackoff = 5 * time.Minute
	// unknownAgentDelay is how long a task of an agent this instance does
	// not have waits before it is offered again.
	unknownAgentDelay = time.Minute
	// shutdownStoreTimeout is how long a store call of a task may go on
	// once a shutdown has abandoned it.
	shutdownStoreTimeout = time.Second
)
