package delivery

import (
	"context"

	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

// filterReporter is told when a callback's filter fails on an event; the
// callback then does not receive it. The registry implements it with a
// log line, so that Outbox keeps its signature.
type filterReporter interface {
	FilterFailed(cb *Callback, eventType string, err error)
}

// occurrence is what deciding the recipients of an event needs.
type occurrence struct {
	typ string
	// endpoint is the task's endpoint, empty for operational events,
	// which callbacks of any endpoint receive.
	endpoint string
	task     *store.Task
	// body renders the event as filters read it: its raw JSON body.
	body func() ([]byte, error)
}

// recipients keeps the callbacks that receive an event: subscribed to its
// type, of its task's endpoint if they name one, and whose filter, if any,
// says true. The body is rendered and decoded once, and only when some
// callback has a filter.
func recipients(ctx context.Context, list []*Callback, o occurrence, report filterReporter) []*Callback {
	var out []*Callback
	var input any
	var inputErr error
	decoded := false
	for _, cb := range list {
		if !cb.Subscribes(o.typ) {
			continue
		}
		if cb.Endpoint != "" && o.task != nil && cb.Endpoint != o.endpoint {
			continue
		}
		if cb.Filter != nil {
			if !decoded {
				decoded = true
				var b []byte
				if b, inputErr = o.body(); inputErr == nil {
					input, inputErr = shape.Decode(b)
				}
			}
			ok, err := false, inputErr
			if err == nil {
				ok, err = cb.Filter.Match(ctx, input, shape.FilterEnv{Task: filterTask(o.task)})
			}
			if err != nil {
				if report != nil {
					report.FilterFailed(cb, o.typ, err)
				}
				continue
			}
			if !ok {
				continue
			}
		}
		out = append(out, cb)
	}
	return out
}

// filterTask is $task of a filter: nil (null) for operational events.
func filterTask(t *store.Task) *shape.Task {
	if t == nil {
		return nil
	}
	return &shape.Task{ID: t.ID, Agent: t.Agent, ChatID: t.ChatID, Status: string(t.Status), Attempts: t.Attempts, Meta: t.Meta, CreatedAt: t.CreatedAt}
}
