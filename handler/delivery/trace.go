package delivery

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// traceCacheSize bounds the tasks whose trace context is remembered; past
// it the cache starts over.
const traceCacheSize = 4096

// traces remembers the trace context of recent tasks, so that a task's
// fan-out to several callbacks, and their retries, read the task once.
// Deliveries do not carry it themselves: it lives with the task (see
// package tracing), and is only looked up while tracing is on.
type traces struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (c *traces) get(id string) (map[string]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[id]
	return m, ok
}

func (c *traces) put(id string, meta map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= traceCacheSize {
		c.m = make(map[string]map[string]string)
	}
	c.m[id] = meta
}

// traceOf returns the trace context of a delivery's task, or nil.
func (d *Dispatcher) traceOf(ctx context.Context, taskID string) map[string]string {
	if m, ok := d.traces.get(taskID); ok {
		return m
	}
	t, err := d.Store.GetTask(ctx, taskID)
	if err != nil {
		// Gone (expired) or unreadable: the delivery goes untraced. A
		// store failure is not cached, so the next attempt asks again.
		return nil
	}
	var m map[string]string
	if tp := t.Meta[tracing.MetaTraceparent]; tp != "" {
		m = map[string]string{tracing.MetaTraceparent: tp, tracing.MetaTracestate: t.Meta[tracing.MetaTracestate]}
	}
	d.traces.put(taskID, m)
	return m
}

// startDelivery starts the span of one delivery attempt, a child of its
// task's intake span, when tracing is on.
func (d *Dispatcher) startDelivery(ctx context.Context, dl *store.Delivery) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return tracing.StartTask(ctx, tracing.SpanDelivery, d.traceOf(ctx, dl.TaskID),
		tracing.AttrDeliveryID.String(dl.ID), tracing.AttrTaskID.String(dl.TaskID),
		tracing.AttrAgent.String(dl.Agent), tracing.AttrCallback.String(dl.CallbackID),
		tracing.AttrEvent.String(dl.EventType), tracing.AttrAttempt.Int(dl.AttemptCount+1))
}

// endDelivery ends it with what the receiver answered.
func endDelivery(span trace.Span, att store.Attempt) {
	tracing.End(span, att.StatusCode, att.Error)
}
