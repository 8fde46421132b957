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

// UpstreamReporter is implemented by a Backend that knows the health of
// its upstreams: Caddy's reverse_proxy, whose own health checks (active
// and passive) decide it. The API shows it; handler packages do not
// import Caddy, so caddymodule adapts it.
type UpstreamReporter interface {
	// Upstreams returns the static upstreams, and whether upstreams are
	// also found at run time (those are not listed).
	Upstreams() (ups []Upstream, dynamic bool)
}

// Upstream is one backend address as the proxy sees it now.
type Upstream struct {
	Address string `json:"address"`
	// Healthy is the proxy's verdict from its health checks; an upstream
	// without health checks is healthy.
	Healthy bool `json:"healthy"`
	// Available is healthy and below its max_requests.
	Available   bool `json:"available"`
	NumRequests int  `json:"num_requests"`
	// Fails are the recent failures counted by passive health checks.
	Fails int `json:"fails"`
}
