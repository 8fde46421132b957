package endpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenthook/agenthook/handler/tracing"
)

// Not parallel: the tracer provider is the process's.
func TestEndpointAsyncStoresTheIntakeSpan(t *testing.T) {
	t.Cleanup(func() { tracing.SetProvider(nil) })
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	f := newEpFixture(t, ModeAsync, nil)

	// What Caddy's tracing handler hands on: the server span in the
	// context.
	ctx, server := tp.Tracer("caddy").Start(context.Background(), "server")
	req := httptest.NewRequest(http.MethodPost, "/p", strings.NewReader("{}")).WithContext(ctx)
	rec := f.serve(req)
	server.End()
	var a accepted
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	task, err := f.st.GetTask(context.Background(), a.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != tracing.SpanIntake || spans[0].Parent.SpanID() != server.SpanContext().SpanID() {
		t.Fatalf("spans %v", spans)
	}
	want := "00-" + server.SpanContext().TraceID().String() + "-" + spans[0].SpanContext.SpanID().String() + "-01"
	if got := task.Meta[tracing.MetaTraceparent]; got != want {
		t.Fatalf("stored traceparent %q, want the intake span's %q", got, want)
	}

	// Without tracing, nothing is stored.
	rec = f.do(http.MethodPost, "/p", "{}")
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	if task, err = f.st.GetTask(context.Background(), a.TaskID); err != nil || task.Meta[tracing.MetaTraceparent] != "" {
		t.Fatalf("untraced task meta %v, %v", task.Meta, err)
	}
}
