package delivery

import (
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// Not parallel: the tracer provider is the process's.
func TestDeliveryAttemptsJoinTheTasksTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracing.SetProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { tracing.SetProvider(nil) })
	const traceID, intake = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	f := newDispFixture(t, Config{})
	a, b := f.static(nil), f.static(nil)
	task := &store.Task{
		ID: handler.NewID(), Agent: f.agent, ChatID: handler.NewID(), Principal: "p",
		Request: store.Request{Method: http.MethodPost, Path: "/x"},
		Meta:    map[string]string{tracing.MetaTraceparent: "00-" + traceID + "-" + intake + "-01"},
	}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: task}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.ClaimTasks(f.ctx, store.Claim{Owner: "runner", Limit: 1, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	var ds []*store.Delivery
	for _, cb := range []*Callback{a, b} {
		ds = append(ds, &store.Delivery{ID: "msg_" + handler.NewID(), TaskID: task.ID, Agent: f.agent, ChatID: task.ChatID,
			CallbackID: cb.ID, EventType: EventTaskSucceeded, Payload: []byte(`{}`)})
	}
	if err := f.st.FinishTask(f.ctx, store.TaskFinish{ID: task.ID, Owner: "runner", Status: store.TaskSuccess, ExpiresAt: f.now().Add(time.Hour), Deliveries: ds}); err != nil {
		t.Fatal(err)
	}
	// An untraced task's delivery goes out as before.
	plain := f.enqueue(a.ID, 1)
	f.step()

	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per delivery of the traced task", len(spans))
	}
	sent := map[string]string{} // webhook-id -> traceparent
	for _, r := range f.requests() {
		sent[r.Header.Get("Webhook-Id")] = r.Header.Get("Traceparent")
	}
	if sent[plain[0]] != "" {
		t.Fatalf("an untraced task's delivery carries traceparent %q", sent[plain[0]])
	}
	for _, s := range spans {
		attrs := map[string]any{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		id, _ := attrs["agenthook.delivery_id"].(string)
		if s.Name != tracing.SpanDelivery || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != intake ||
			attrs["agenthook.task_id"] != task.ID || attrs["http.response.status_code"] != int64(200) {
			t.Fatalf("span %s in %s under %s, attributes %v", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), attrs)
		}
		if want := "00-" + traceID + "-" + s.SpanContext.SpanID().String() + "-01"; sent[id] != want {
			t.Fatalf("delivery %s sent traceparent %q, want its span's %q", id, sent[id], want)
		}
	}
}
