package endpoint

import (
	"context"
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler"
)

// duplicate is a sync endpoint's answer to a message it already accepted:
// the first answer went to the backend's caller and is not kept, so this
// one says what happened instead.
type duplicate struct {
	Status    string `json:"status"`
	MessageID string `json:"message_id"`
}

// replayTTL is how long c's message is remembered: the endpoint's setting,
// but never less than its verifier needs to refuse a replay within the
// signature's tolerance.
func (e *Endpoint) replayTTL(c *call) time.Duration {
	ttl := e.ReplayTTL
	if ttl <= 0 {
		ttl = DefaultReplayTTL
	}
	return max(ttl, c.identity.ReplayTTL)
}

// remember records a sync request's message as seen. A message seen
// before is a sender's retry of one that was accepted (a failed one is
// forgotten): it is answered 200 with Idempotent-Replayed, and dup is
// true. Senders such as Svix count anything else as a failure and retry.
func (e *Endpoint) remember(w http.ResponseWriter, r *http.Request, c *call) (dup bool, err error) {
	id := c.identity
	if id.ReplayKey == "" || e.Replay == nil {
		return false, nil
	}
	ctx, cancel := handler.WithStoreTimeout(r.Context())
	defer cancel()
	fresh, err := e.Replay.Remember(ctx, id.ReplayKey, e.replayTTL(c))
	if err != nil {
		return false, handler.StoreError(err)
	}
	if !fresh {
		w.Header().Set("Idempotent-Replayed", "true")
		handler.WriteJSON(w, http.StatusOK, duplicate{Status: "duplicate", MessageID: id.MessageID})
		return true, nil
	}
	c.remembered = true
	return false, nil
}

// forget drops a remembered message after its request failed, so that
// the sender's retry runs.
func (e *Endpoint) forget(ctx context.Context, c *call) {
	if c.remembered {
		ctx, cancel := handler.WithStoreTimeout(context.WithoutCancel(ctx))
		defer cancel()
		_ = e.Replay.Forget(ctx, c.identity.ReplayKey)
	}
}
