package handler

import (
	"context"
	"net/http"
	"time"

	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// Callback is where an agent's results go: a static one from the config,
// or one registered through the management API.
type Callback struct {
	// ID is stable: "cfg-<agent>-<n>" for static callbacks, the
	// registration id otherwise.
	ID     string
	Agent  string
	URL    string
	Method string
	Format Format
	// Ordered delivers one chat's results one at a time, in order.
	Ordered bool
	// Concurrency bounds the attempts in flight to this callback.
	Concurrency int

	// Signer adds Standard Webhooks headers; HMAC adds one signature
	// header over the body. Either may be nil.
	Signer *signing.StandardWebhooksSigner
	HMAC   *signing.HMACSigner
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
	createdAt   time.Time
	updatedAt   time.Time
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

// Callbacks finds the callbacks of an agent: its static ones and its
// active registrations.
type Callbacks interface {
	Active(ctx context.Context, agent *Agent) ([]*Callback, error)
	// Lookup resolves a delivery's callback id at send time, so that a
	// registration changed or deleted since is honoured.
	Lookup(ctx context.Context, agent *Agent, id string) (*Callback, error)
}

// outboxFor builds one delivery per active callback of the agent, for a
// task that just reached a final status.
func outboxFor(ctx context.Context, cbs Callbacks, agent *Agent, t *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) ([]*store.Delivery, error) {
	if cbs == nil {
		return nil, nil
	}
	list, err := cbs.Active(ctx, agent)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	event := EventTaskSucceeded
	if status == store.TaskFailure {
		event = EventTaskFailed
	}
	var byFormat [2][]byte // raw, cognigy: rendered once each
	out := make([]*store.Delivery, 0, len(list))
	for _, cb := range list {
		i := 0
		if cb.Format == FormatCognigy {
			i = 1
		}
		if byFormat[i] == nil {
			b, err := renderPayload(cb.Format, t, status, r, errMsg, now)
			if err != nil {
				return nil, err
			}
			byFormat[i] = b
		}
		d := &store.Delivery{
			ID:         "msg_" + NewID(),
			TaskID:     t.ID,
			Agent:      t.Agent,
			ChatID:     t.ChatID,
			CallbackID: cb.ID,
			EventType:  event,
			Payload:    byFormat[i],
		}
		if cb.Ordered {
			d.OrderKey = cb.ID + "/" + t.ChatID
		}
		out = append(out, d)
	}
	return out, nil
}
