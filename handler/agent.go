package handler

import (
	"fmt"
	"net/http"
)

// Backend sends a request to an agent backend and writes its answer to w.
// In Caddy it is the agent's reverse_proxy handler, so upstreams, load
// balancing, health checks and transports are Caddy's own.
type Backend interface {
	// Forward returns nil once an answer was written to w, whatever its
	// status. When no answer came it returns a *BackendError.
	Forward(w http.ResponseWriter, r *http.Request) error
}

// BackendError means the backend gave no answer: Status is 502 when it
// could not be reached and 504 when it timed out.
type BackendError struct {
	Status int
	Err    error
}

func (e *BackendError) Error() string { return fmt.Sprintf("backend: %d: %v", e.Status, e.Err) }
func (e *BackendError) Unwrap() error { return e.Err }

// Agent is a named backend. Its callbacks are kept by package delivery,
// by agent name.
type Agent struct {
	Name    string
	Backend Backend
	// ConversationHeader carries the backend's own conversation id, both
	// ways: agenthook reads it from answers and sends it with the next
	// message of the chat.
	ConversationHeader string
}
