package delivery

import (
	"net/http"

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

	// Registrations carry their status and secret; static callbacks are
	// active unless agenthook disabled them.
	status      string
	secret      string
	registered  bool
	disabledWhy string
}

// Status is "active", "inactive" or "disabled".
func (c *Callback) Status() string {
	if c.status == "" {
		return StatusActive
	}
	return c.status
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
