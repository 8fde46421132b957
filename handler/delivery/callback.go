package delivery

import (
	"net/http"
	"slices"
	"time"

	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
)

// Registration statuses.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
	// StatusDisabled is set by agenthook, never by callers: the callback
	// answered 410 Gone or kept failing for too long.
	StatusDisabled = "disabled"
)

// Callback is where an agent's task results go: a static one from the
// config, or one registered through the management API.
type Callback struct {
	// ID is stable: "cfg-<agent>-<n>" for static callbacks, the
	// registration id otherwise.
	ID     string
	Agent  string
	URL    string
	Method string
	// Format names the payload format (see Formats); empty means raw.
	Format string
	// Payload, if set, renders the callback's body in place of Format: a
	// payload expression over the event as the raw format renders it.
	Payload *shape.Program
	// Ordered delivers one chat's results one at a time, in order.
	Ordered bool
	// Concurrency bounds the attempts in flight to this callback.
	Concurrency int

	// Signers add their headers to every attempt: Standard Webhooks
	// headers, a signature header over the body, or both.
	Signers []signing.Signer
	// BasicUser and BasicPassword, if set, go in an Authorization header,
	// as Cognigy's webhook settings allow.
	BasicUser     string
	BasicPassword string
	Header        http.Header

	// Events are the event types the callback receives; nil means
	// DefaultEvents.
	Events []string
	// Filter, if set, must say true of an event for the callback to
	// receive it (see shape.Filter).
	Filter *shape.Program
	// Endpoint, if set, restricts task events to the tasks accepted by
	// the agenthook endpoint of that name; operational events are not
	// about an endpoint and are not restricted.
	Endpoint string
	// Schedule replaces the config's retry schedule; nil keeps it.
	Schedule []time.Duration
	// Timeout, if positive and shorter than the config's, bounds each
	// attempt.
	Timeout time.Duration
	// RateLimit paces the callback's attempts to this many per second
	// (0: no pacing). A receiver's 429 with Retry-After slows it further.
	RateLimit float64

	// Registrations carry their status; static callbacks are active
	// unless agenthook disabled them.
	status      string
	registered  bool
	disabledWhy string
	// signKey names the secrets the signers were made of, so that a
	// registry refresh rebuilds them only when a secret changed.
	signKey string
}

// Status is "active", "inactive" or "disabled".
func (c *Callback) Status() string {
	if c.status == "" {
		return StatusActive
	}
	return c.status
}

// Subscribes reports whether the callback receives events of a type.
func (c *Callback) Subscribes(typ string) bool {
	if c.Events == nil {
		return slices.Contains(DefaultEvents, typ)
	}
	return slices.Contains(c.Events, typ)
}

// Usable reports whether deliveries may be sent to the callback now.
func (c *Callback) Usable() bool { return c.Status() == StatusActive }

// Registered reports whether the callback came from the management API.
func (c *Callback) Registered() bool { return c.registered }

// withStatus returns a copy with another status.
func (c *Callback) withStatus(status, why string) *Callback {
	cp := *c
	cp.status, cp.disabledWhy = status, why
	return &cp
}

// Static is the config's callbacks, by agent name.
type Static map[string][]*Callback
