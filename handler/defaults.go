package handler

import "time"

// Defaults shared by the endpoints, the runner, deliveries and the API.
// Each of those packages keeps its own defaults in its defaults.go.
const (
	// StoreTimeout bounds how long a request or a worker waits on the
	// store, so that an unreachable database answers 503 (or gives the
	// work back) instead of hanging.
	StoreTimeout = 5 * time.Second
	// DefaultRetention is how long finished tasks and finished
	// deliveries are kept.
	DefaultRetention = 7 * 24 * time.Hour
)
