package tracing

import (
	"context"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTaskSpansShareTheRequestsTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { SetProvider(nil) })
	SetProvider(nil)

	// What Caddy's tracing handler hands agenthook: a request context
	// with its server span.
	reqCtx, server := tp.Tracer("caddy").Start(context.Background(), "POST /hook", trace.WithSpanKind(trace.SpanKindServer))
	ctx, intake := StartIntake(reqCtx, AttrTaskID.String("t1"))
	if !Enabled() {
		t.Fatal("a traced request did not make tracing enabled")
	}
	meta := map[string]string{}
	Store(ctx, meta)
	intake.End()
	server.End()
	if !strings.HasPrefix(meta[MetaTraceparent], "00-"+server.SpanContext().TraceID().String()+"-"+intake.SpanContext().SpanID().String()) {
		t.Fatalf("stored traceparent %q is not the intake span's", meta[MetaTraceparent])
	}

	// Later, in a worker: one backend attempt and one delivery.
	bctx, backend := StartTask(context.Background(), SpanBackend, meta, AttrAttempt.Int(1))
	h := http.Header{"Traceparent": {"00-stale-from-the-stored-request"}}
	Inject(bctx, h)
	End(backend, 502, "the agent backend answered 502 Bad Gateway")
	_, delivery := StartTask(context.Background(), SpanDelivery, meta)
	End(delivery, 200, "")

	spans := exp.GetSpans()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want 4", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
		if s.SpanContext.TraceID() != server.SpanContext().TraceID() {
			t.Errorf("span %s is in trace %s, not the request's", s.Name, s.SpanContext.TraceID())
		}
	}
	if p := byName[SpanIntake].Parent.SpanID(); p != server.SpanContext().SpanID() {
		t.Errorf("intake's parent is %s, want the server span", p)
	}
	for _, name := range []string{SpanBackend, SpanDelivery} {
		s := byName[name]
		if s.Parent.SpanID() != intake.SpanContext().SpanID() || !s.Parent.IsRemote() {
			t.Errorf("%s's parent is %v, want the intake span, remote", name, s.Parent)
		}
		if s.SpanKind != trace.SpanKindClient {
			t.Errorf("%s kind %v", name, s.SpanKind)
		}
	}
	if got := byName[SpanBackend].Status.Description; got == "" {
		t.Error("a failed backend attempt's span has no error status")
	}
	want := "00-" + server.SpanContext().TraceID().String() + "-" + byName[SpanBackend].SpanContext.SpanID().String() + "-01"
	if got := h.Get("Traceparent"); got != want {
		t.Errorf("backend request traceparent %q, want %q", got, want)
	}
}

func TestUntracedRequestsStoreNothing(t *testing.T) {
	t.Cleanup(func() { SetProvider(nil) })
	SetProvider(nil)
	ctx, span := StartIntake(context.Background())
	span.End()
	meta := map[string]string{}
	Store(ctx, meta)
	if len(meta) != 0 || Enabled() {
		t.Fatalf("untraced intake stored %v (enabled %v)", meta, Enabled())
	}
	bctx, s := StartTask(context.Background(), SpanBackend, meta)
	h := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	Inject(bctx, h)
	End(s, 200, "")
	if h.Get("Traceparent") != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("a caller's own traceparent was replaced without tracing: %q", h.Get("Traceparent"))
	}
}

func TestStoredTraceIsPassedOnWithoutATracer(t *testing.T) {
	// After a restart, before the first traced request: no spans of our
	// own, but the backend still joins the caller's trace.
	t.Cleanup(func() { SetProvider(nil) })
	SetProvider(nil)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, span := StartTask(context.Background(), SpanBackend, map[string]string{MetaTraceparent: tp})
	h := http.Header{}
	Inject(ctx, h)
	End(span, 200, "")
	if h.Get("Traceparent") != tp {
		t.Fatalf("traceparent %q, want the stored %q", h.Get("Traceparent"), tp)
	}
}
