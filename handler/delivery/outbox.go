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

// Outbox builds one delivery per active callback of the task's agent that
// receives the final event of a task that just reached a final status
// (see recipients). Each format renders the payload once; deliveries of
// one format share its bytes. All of them share one message id.
func Outbox(ctx context.Context, cbs Callbacks, t *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) ([]*store.Delivery, error) {
	ev := taskEvent(t, status, r, errMsg, now)
	return taskDeliveries(ctx, cbs, ev, "msg_"+handler.NewID(), func(*Callback) string { return "dlv_" + handler.NewID() })
}

// StartedOutbox builds the task.started deliveries of a task a worker has
// just claimed, or none when no callback of its agent receives them, so
// that a claim costs no write unless someone subscribed. The ids derive
// from the task's, so that the event of a task claimed again (after a
// crash, or a retry) is queued once: store.EnqueueDeliveries skips the
// ids it has.
func StartedOutbox(ctx context.Context, cbs Callbacks, t *store.Task, now time.Time) ([]*store.Delivery, error) {
	ev := Event{Type: EventTaskStarted, Task: t, Status: store.TaskStarted, Time: now}
	msg := "msg_" + handler.DerivedID(EventTaskStarted, t.ID)
	return taskDeliveries(ctx, cbs, ev, msg, func(cb *Callback) string { return "dlv_" + handler.DerivedID(msg, cb.ID) })
}

// taskDeliveries builds the deliveries of a task event.
func taskDeliveries(ctx context.Context, cbs Callbacks, ev Event, msg string, idOf func(*Callback) string) ([]*store.Delivery, error) {
	if cbs == nil {
		return nil, nil
	}
	t := ev.Task
	list, err := cbs.Active(ctx, t.Agent)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	rendered := make(map[string][]byte, 2)
	report, _ := cbs.(filterReporter)
	list = recipients(ctx, list, occurrence{typ: ev.Type, endpoint: t.Endpoint, task: t, body: func() ([]byte, error) {
		// Filters read the raw body; raw callbacks reuse it.
		b, err := formats.Default().Render(ev)
		if err == nil {
			rendered[FormatRaw] = b
		}
		return b, err
	}}, report)
	if len(list) == 0 {
		return nil, nil
	}
	// One more than the request that made the task carried.
	hops := handler.TaskHops(t.Meta) + 1
	out := make([]*store.Delivery, 0, len(list))
	var raw []byte
	for _, cb := range list {
		if cb.Payload != nil {
			if raw == nil {
				if raw, err = rawPayload(ev, rendered); err != nil {
					return nil, err
				}
			}
			payload, err := runPayload(ctx, cb.Payload, ev, raw)
			if err != nil {
				// The callback's own expression failed on this event: the
				// others still get theirs, and the operator learns why.
				if pr, ok := cbs.(payloadReporter); ok {
					pr.PayloadFailed(cb, ev.Type, err)
				}
				continue
			}
			out = append(out, newDelivery(cb, ev, t, msg, idOf, hops, payload))
			continue
		}
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
				f = formats.Default()
			}
			if payload, err = f.Render(ev); err != nil {
				return nil, err
			}
			rendered[name] = payload
		}
		out = append(out, newDelivery(cb, ev, t, msg, idOf, hops, payload))
	}
	return out, nil
}

// payloadReporter is told when a callback's payload expression fails on
// an event; the callback then does not receive it.
type payloadReporter interface {
	PayloadFailed(cb *Callback, eventType string, err error)
}

// rawPayload is the event's raw body, rendered once.
func rawPayload(ev Event, rendered map[string][]byte) ([]byte, error) {
	if b, ok := rendered[FormatRaw]; ok {
		return b, nil
	}
	b, err := formats.Default().Render(ev)
	if err == nil {
		rendered[FormatRaw] = b
	}
	return b, err
}

func newDelivery(cb *Callback, ev Event, t *store.Task, msg string, idOf func(*Callback) string, hops int, payload []byte) *store.Delivery {
	d := &store.Delivery{
		ID:         idOf(cb),
		MessageID:  msg,
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
	return d
}
