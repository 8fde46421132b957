// Package tracing carries a request's OpenTelemetry trace past its 202:
// the intake span's W3C traceparent is stored with the task, and the
// backend attempts and callback deliveries made later, by other
// goroutines or other instances, are spans of the same trace.
//
// agenthook does not set tracing up itself. Caddy's `tracing` handler
// makes the server span of each request, with a tracer provider of its
// own that it neither publishes nor sets as OpenTelemetry's global one;
// the first traced request handed to Remember tells this package which
// provider that is, and the spans of background work use it from then on.
// Until then (after a restart, work resumed before the first traced
// request), the stored traceparent is still passed on, without spans of
// agenthook's own. Without Caddy's tracing handler every function here is
// a cheap no-op and nothing is stored with tasks.
package tracing

import (
	"context"
	"net/http"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MetaTraceparent is the Task.Meta key of the W3C traceparent of the
// task's intake span; MetaTracestate holds its tracestate, if any.
const (
	MetaTraceparent = "traceparent"
	MetaTracestate  = "tracestate"
)

// Span names.
const (
	SpanIntake   = "agenthook.intake"
	SpanBackend  = "agenthook.backend"
	SpanDelivery = "agenthook.delivery"
)

// instrumentation names the tracer, as OpenTelemetry asks libraries to.
const instrumentation = "github.com/agenthook/agenthook"

// propagator is W3C Trace Context alone: that is what is stored with
// tasks and sent on, whatever propagators Caddy's handler reads.
var propagator = propagation.TraceContext{}

// provider is the tracer provider of the last traced request seen.
var provider atomic.Pointer[trace.TracerProvider]

// Remember notes the tracer provider behind ctx's span, if ctx is traced,
// so that background work can make spans with it.
func Remember(ctx context.Context) {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return
	}
	tp := span.TracerProvider()
	if cur := provider.Load(); cur == nil || *cur != tp {
		provider.Store(&tp)
	}
}

// SetProvider sets the provider outright; tests use it.
func SetProvider(tp trace.TracerProvider) {
	if tp == nil {
		provider.Store(nil)
		return
	}
	provider.Store(&tp)
}

// Enabled reports whether spans are made: a traced request has been seen.
func Enabled() bool { return provider.Load() != nil }

func tracer() trace.Tracer {
	if p := provider.Load(); p != nil {
		return (*p).Tracer(instrumentation)
	}
	return nil
}

// StartIntake starts the intake span of a request, a child of Caddy's
// server span in ctx. It returns ctx unchanged and a no-op span when the
// request is not traced.
func StartIntake(ctx context.Context, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	Remember(ctx)
	return start(ctx, SpanIntake, trace.SpanKindServer, attrs)
}

// Store writes the traceparent (and tracestate) of ctx's span into meta,
// for the task's later spans. It writes nothing when ctx is not traced.
func Store(ctx context.Context, meta map[string]string) {
	if meta == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	for _, k := range []string{MetaTraceparent, MetaTracestate} {
		if v := c[k]; v != "" {
			meta[k] = v
		}
	}
}

// parent returns ctx with the remote span context stored in meta.
func parent(ctx context.Context, meta map[string]string) context.Context {
	if meta[MetaTraceparent] == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{
		MetaTraceparent: meta[MetaTraceparent],
		MetaTracestate:  meta[MetaTracestate],
	})
}

// StartTask starts a span of a task's background work (a backend attempt
// or a delivery attempt), a child of the intake span whose traceparent
// meta holds. A task accepted without tracing gets a no-op span; so does
// every task when no tracer is known, but the returned ctx still carries
// the stored span context, so that Inject passes the trace on.
func StartTask(ctx context.Context, name string, meta map[string]string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if meta[MetaTraceparent] == "" {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = parent(ctx, meta)
	return start(ctx, name, trace.SpanKindClient, attrs)
}

func start(ctx context.Context, name string, kind trace.SpanKind, attrs []attribute.KeyValue) (context.Context, trace.Span) {
	t := tracer()
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// Inject sets traceparent and tracestate on an outgoing request from ctx's
// span, replacing whatever the stored request carried (Caddy's tracing
// handler writes its server span's traceparent into the request it
// serves, and the task's headers are stored from that request). When ctx
// is not traced, h is left as it is.
func Inject(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h.Del(MetaTraceparent)
	h.Del(MetaTracestate)
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// End ends a span with an HTTP status and, when the attempt failed, an
// error status with a message (never a body).
func End(span trace.Span, status int, failure string) {
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if failure != "" {
		span.SetStatus(codes.Error, failure)
	}
	span.End()
}

// Attribute keys of agenthook's spans.
const (
	AttrTaskID     = attribute.Key("agenthook.task_id")
	AttrChatID     = attribute.Key("agenthook.chat_id")
	AttrAgent      = attribute.Key("agenthook.agent")
	AttrAttempt    = attribute.Key("agenthook.attempt")
	AttrDeliveryID = attribute.Key("agenthook.delivery_id")
	AttrCallback   = attribute.Key("agenthook.callback")
	AttrEvent      = attribute.Key("agenthook.event")
)
