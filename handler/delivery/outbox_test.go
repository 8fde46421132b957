package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

// fakeCallbacks is a Callbacks with a fixed list.
type fakeCallbacks struct {
	list []*Callback
	err  error
}

func (f *fakeCallbacks) Active(context.Context, string) ([]*Callback, error) { return f.list, f.err }

func TestOutboxFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := payloadTask()
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"hi"}`)}
	cbs := &fakeCallbacks{list: []*Callback{
		{ID: "cfg-agent-a-0", Format: FormatRaw},
		{ID: "cfg-agent-a-1", Format: "cognigy", Ordered: true},
		{ID: "wh_1", Format: FormatRaw, Ordered: true},
		{ID: "wh_2", Format: "cognigy"},
		{ID: "wh_3", Format: ""},
	}}
	ds, err := Outbox(ctx, cbs, task, store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(cbs.list) {
		t.Fatalf("%d deliveries for %d callbacks", len(ds), len(cbs.list))
	}
	seen := map[string]bool{}
	msg := ds[0].MessageID
	if !strings.HasPrefix(msg, "msg_") || strings.Contains(msg, ".") {
		t.Fatalf("message id %q: want a msg_ id without '.'", msg)
	}
	for i, d := range ds {
		cb := cbs.list[i]
		if d.CallbackID != cb.ID || d.TaskID != task.ID || d.Agent != task.Agent || d.ChatID != task.ChatID || d.EventType != EventTaskSucceeded {
			t.Errorf("delivery %d = %+v", i, d)
		}
		if !strings.HasPrefix(d.ID, "dlv_") || seen[d.ID] {
			t.Errorf("delivery id %q: want a fresh dlv_ id", d.ID)
		}
		// One event, one webhook-id: a receiver behind two of these
		// callbacks can drop the duplicate.
		if d.MessageID != msg {
			t.Errorf("delivery %d: message id %q, want the event's %q", i, d.MessageID, msg)
		}
		seen[d.ID] = true
		wantKey := ""
		if cb.Ordered {
			wantKey = cb.ID + "/" + task.ChatID
		}
		if d.OrderKey != wantKey {
			t.Errorf("delivery to %s: OrderKey %q, want %q", cb.ID, d.OrderKey, wantKey)
		}
		if d.Status != "" || !d.NextAttemptAt.IsZero() {
			t.Errorf("delivery %d has a status or time set: the store assigns them", i)
		}
	}
	// One rendering per format: deliveries of one format share the bytes.
	same := func(a, b []byte) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }
	if !same(ds[0].Payload, ds[2].Payload) || !same(ds[0].Payload, ds[4].Payload) {
		t.Errorf("raw payloads were rendered more than once")
	}
	if !same(ds[1].Payload, ds[3].Payload) {
		t.Errorf("cognigy payloads were rendered more than once")
	}
	if same(ds[0].Payload, ds[1].Payload) {
		t.Errorf("raw and cognigy share a payload")
	}
	if m := decode(t, ds[0].Payload); m["type"] != "task.succeeded" {
		t.Errorf("raw payload %s", ds[0].Payload)
	}
	if m := decode(t, ds[1].Payload); m["AIOutput"] == nil {
		t.Errorf("cognigy payload %s", ds[1].Payload)
	}

	// Failure: task.failed events, under a new message id.
	ds, _ = Outbox(ctx, cbs, task, store.TaskFailure, nil, "boom", now)
	for _, d := range ds {
		if d.EventType != EventTaskFailed || d.MessageID == msg {
			t.Fatalf("failure delivery event %q, message %q", d.EventType, d.MessageID)
		}
	}

	// No callbacks, no registry, or a registry error.
	if ds, err := Outbox(ctx, nil, task, store.TaskSuccess, r, "", now); ds != nil || err != nil {
		t.Fatalf("nil Callbacks: %v, %v", ds, err)
	}
	if ds, err := Outbox(ctx, &fakeCallbacks{}, task, store.TaskSuccess, r, "", now); len(ds) != 0 || err != nil {
		t.Fatalf("no callbacks: %v, %v", ds, err)
	}
	boom := errors.New("store down")
	if _, err := Outbox(ctx, &fakeCallbacks{err: boom}, task, store.TaskSuccess, r, "", now); !errors.Is(err, boom) {
		t.Fatalf("registry error: %v", err)
	}
}
