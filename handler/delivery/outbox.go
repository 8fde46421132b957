package delivery

import (
	"context"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// Callbacks lists the callbacks of an agent that take new deliveries.
type Callbacks interface {
	Active(ctx context.Context, agent string) ([]*Callback, error)
}

// Outbox builds one delivery per active callback of the task's agent,
// for a task that just reached a final status. Each format renders the
// payload once; deliveries of one format share its bytes.
func Outbox(ctx context.Context, cbs Callbacks, t *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) ([]*store.Delivery, error) {
	if cbs == nil {
		return nil, nil
	}
	list, err := cbs.Active(ctx, t.Agent)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	ev := taskEvent(t, status, r, errMsg, now)
	// One more than the request that made the task carried.
	hops := handler.TaskHops(t.Meta) + 1
	rendered := make(map[string][]byte, 2)
	out := make([]*store.Delivery, 0, len(list))
	for _, cb := range list {
		name := cb.Format
		if name == "" {
			name = FormatRaw
		}
		payload, ok := rendered[name]
		if !ok {
			f, known := Format(name)
			if !known {
				// Config and API refuse unknown names; a stored one from
				// elsewhere still gets a payload rather than no delivery.
				f = formats[FormatRaw]
			}
			if payload, err = f.Render(ev); err != nil {
				return nil, err
			}
			rendered[name] = payload
		}
		d := &store.Delivery{
			ID:         "msg_" + handler.NewID(),
			TaskID:     t.ID,
			Agent:      t.Agent,
			ChatID:     t.ChatID,
			CallbackID: cb.ID,
			EventType:  ev.Type,
			Hops:       hops,
			Payload:    payload,
		}
		if cb.Ordered {
			d.OrderKey = cb.ID + "/" + t.ChatID
		}
		out = append(out, d)
	}
	return out, nil
}
