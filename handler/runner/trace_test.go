package runner

import (
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// Not parallel: the tracer provider is the process's.
func TestRunnerTracesBackendAttempts(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracing.SetProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { tracing.SetProvider(nil) })
	const traceID, intake = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	f := newRunFixture(t, Config{Attempts: 2})
	f.backend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	now := f.clock.Now()
	chat := &store.Chat{ID: handler.NewID(), Agent: "agent-a", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(chatTTL)}
	task := &store.Task{ID: handler.NewID(), Agent: "agent-a", ChatID: chat.ID, Principal: "p",
		// As intake stores it, with Caddy's tracing handler having written
		// its server span's traceparent into the stored headers.
		Request: store.Request{Method: http.MethodPost, Path: "/p", Header: http.Header{"Traceparent": {"00-" + traceID + "-1111111111111111-01"}}},
		Meta:    map[string]string{tracing.MetaTraceparent: "00-" + traceID + "-" + intake + "-01"}}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: task, Chat: chat}); err != nil {
		t.Fatal(err)
	}
	f.step()
	f.clock.Advance(f.task(task.ID).RunAfter.Sub(f.clock.Now()))
	f.step()

	spans := exp.GetSpans()
	if len(spans) != 2 || len(f.seen) != 2 {
		t.Fatalf("%d spans for %d attempts, want 2", len(spans), len(f.seen))
	}
	for i, s := range spans {
		if s.Name != tracing.SpanBackend || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != intake {
			t.Fatalf("span %d: %s in %s under %s", i, s.Name, s.SpanContext.TraceID(), s.Parent.SpanID())
		}
		attrs := map[string]any{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		if attrs["agenthook.task_id"] != task.ID || attrs["agenthook.attempt"] != int64(i+1) || attrs["http.response.status_code"] != int64(503) {
			t.Fatalf("span %d attributes %v", i, attrs)
		}
		want := "00-" + traceID + "-" + s.SpanContext.SpanID().String() + "-01"
		if got := f.seen[i].Header.Get("Traceparent"); got != want {
			t.Fatalf("attempt %d sent traceparent %q, want its span's %q", i+1, got, want)
		}
	}
}
