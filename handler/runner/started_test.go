package runner

import (
	"io"
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// TestRunnerStarted: task.started is queued before the backend is called,
// once per task across attempts, and only when a callback receives it.
func TestRunnerStarted(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{Attempts: 2, Backoff: 1})
	reg := f.r.Callbacks.(*delivery.Registry)
	reg.Configure(delivery.Static{"agent-a": {
		{ID: "cfg-agent-a-0", Agent: "agent-a", URL: "http://192.0.2.1/hook", Method: http.MethodPost, Format: delivery.FormatRaw},
		{ID: "cfg-agent-a-1", Agent: "agent-a", URL: "http://192.0.2.1/started", Method: http.MethodPost, Format: delivery.FormatRaw,
			Events: []string{delivery.EventTaskStarted, delivery.EventTaskFailed}},
	}})
	var pendingAtCall []int
	calls := 0
	f.backend(func(w http.ResponseWriter, r *http.Request) error {
		p, _, _ := f.st.DeliveryCounts(f.ctx)
		pendingAtCall = append(pendingAtCall, p)
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return nil
		}
		_, _ = io.WriteString(w, `{"text":"done"}`)
		return nil
	})
	task := f.submit()
	f.step()
	f.clock.Advance(2)
	f.step()
	if calls != 2 || pendingAtCall[0] != 1 || pendingAtCall[1] != 1 {
		t.Fatalf("%d calls; pending deliveries at each call %v, want task.started queued once before the first", calls, pendingAtCall)
	}
	ds, _, err := f.st.ClaimDeliveries(f.ctx, store.DeliveryClaim{Owner: "x", Limit: 10, Lease: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, d := range ds {
		types[d.CallbackID] = d.EventType
		if d.TaskID != task.ID || d.MessageID == "" {
			t.Fatalf("delivery %+v", d)
		}
	}
	// The success goes to the default subscriber only; task.started to
	// the one that asked for it.
	if len(ds) != 2 || types["cfg-agent-a-1"] != delivery.EventTaskStarted || types["cfg-agent-a-0"] != delivery.EventTaskSucceeded {
		t.Fatalf("deliveries %v", types)
	}
}

// TestRunnerStartedNoSubscriber: without a subscriber no write is made.
func TestRunnerStartedNoSubscriber(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{})
	pending := -1
	f.backend(func(w http.ResponseWriter, r *http.Request) error {
		pending, _, _ = f.st.DeliveryCounts(f.ctx)
		return nil
	})
	f.submit()
	f.step()
	if pending != 0 {
		t.Fatalf("%d deliveries queued before the call, want none", pending)
	}
}
