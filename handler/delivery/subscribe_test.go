package delivery

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

// reportingCallbacks is fakeCallbacks that records failing filters.
type reportingCallbacks struct {
	fakeCallbacks
	failed []string
}

func (r *reportingCallbacks) FilterFailed(cb *Callback, typ string, err error) {
	r.failed = append(r.failed, cb.ID+" "+typ)
}

func filter(t *testing.T, src string) *shape.Program {
	t.Helper()
	p, err := shape.Compile(shape.Filter, src, shape.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func callbackIDs(ds []*store.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.CallbackID)
	}
	return out
}

// TestOutboxSubscriptions: a callback receives the event types it names
// (the final two by default), of its endpoint's tasks if it names one,
// and only when its filter says true.
func TestOutboxSubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := payloadTask()
	task.Endpoint = "support-async"
	cbs := &reportingCallbacks{fakeCallbacks: fakeCallbacks{list: []*Callback{
		{ID: "default"},
		{ID: "failures", Events: []string{EventTaskFailed}},
		{ID: "started", Events: []string{EventTaskStarted, EventTaskSucceeded}},
		{ID: "this-endpoint", Endpoint: "support-async"},
		{ID: "other-endpoint", Endpoint: "cognigy"},
		{ID: "high", Filter: filter(t, `.result.priority == "high"`)},
		{ID: "low", Filter: filter(t, `.result.priority == "low"`)},
		{ID: "user", Filter: filter(t, `$task.meta.userId == "u-1"`)},
		{ID: "broken", Filter: filter(t, `.result.priority`)},
		{ID: "ops", Events: []string{EventDeliveryExhausted}},
	}}}
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"priority":"high"}`)}
	ds, err := Outbox(ctx, cbs, task, store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"default", "started", "this-endpoint", "high", "user"}
	if got := callbackIDs(ds); !slices.Equal(got, want) {
		t.Fatalf("task.succeeded went to %v, want %v", got, want)
	}
	if !slices.Equal(cbs.failed, []string{"broken task.succeeded"}) {
		t.Fatalf("failing filters reported: %v", cbs.failed)
	}

	ds, _ = Outbox(ctx, cbs, task, store.TaskFailure, nil, "boom", now)
	want = []string{"default", "failures", "this-endpoint", "user"}
	if got := callbackIDs(ds); !slices.Equal(got, want) {
		t.Fatalf("task.failed went to %v, want %v", got, want)
	}
}

// TestStartedOutbox: task.started goes only to subscribers, under ids
// derived from the task, so that a second claim queues nothing new.
func TestStartedOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := payloadTask()
	none := &fakeCallbacks{list: []*Callback{{ID: "a"}, {ID: "b", Events: []string{EventTaskFailed}}}}
	if ds, err := StartedOutbox(ctx, none, task, now); err != nil || len(ds) != 0 {
		t.Fatalf("no subscriber: %v, %v", ds, err)
	}
	cbs := &fakeCallbacks{list: []*Callback{
		{ID: "a"},
		{ID: "s1", Events: []string{EventTaskStarted}, Format: FormatRaw, Ordered: true},
		{ID: "s2", Events: []string{EventTaskStarted}, Format: "cognigy"},
	}}
	ds, err := StartedOutbox(ctx, cbs, task, now)
	if err != nil || !slices.Equal(callbackIDs(ds), []string{"s1", "s2"}) {
		t.Fatalf("StartedOutbox = %v, %v", callbackIDs(ds), err)
	}
	again, _ := StartedOutbox(ctx, cbs, task, now.Add(time.Minute))
	for i, d := range ds {
		if d.ID != again[i].ID || d.MessageID != again[i].MessageID || d.MessageID != ds[0].MessageID || d.ID == ds[1-i].ID {
			t.Fatalf("ids are not stable per task and callback: %s/%s vs %s/%s", d.ID, d.MessageID, again[i].ID, again[i].MessageID)
		}
		if d.EventType != EventTaskStarted {
			t.Fatalf("event type %q", d.EventType)
		}
	}
	if ds[0].OrderKey != "s1/"+task.ChatID {
		t.Fatalf("order key %q", ds[0].OrderKey)
	}
	m := decode(t, ds[0].Payload)
	if m["type"] != "task.started" || m["status"] != "STARTED" || m["result"] != nil {
		t.Fatalf("raw task.started payload %s", ds[0].Payload)
	}
	other := payloadTask()
	other.ID = "task_2"
	ds2, _ := StartedOutbox(ctx, cbs, other, now)
	if ds2[0].ID == ds[0].ID || ds2[0].MessageID == ds[0].MessageID {
		t.Fatal("two tasks share task.started ids")
	}
	if _, err := StartedOutbox(ctx, &fakeCallbacks{err: errors.New("down")}, task, now); err == nil {
		t.Fatal("a registry error was swallowed")
	}
}

func TestCheckEvents(t *testing.T) {
	t.Parallel()
	if err := CheckEvents(nil); err != nil {
		t.Fatal(err)
	}
	if err := CheckEvents(EventTypeNames()); err != nil {
		t.Fatal(err)
	}
	if err := CheckEvents([]string{}); err == nil {
		t.Fatal("an empty list was accepted")
	}
	if err := CheckEvents([]string{"task.succeeded", "task.done"}); err == nil || err.Error() != `unknown event type "task.done": use task.started, task.succeeded, task.failed, delivery.exhausted, callback.disabled or callback.recovered` {
		t.Fatalf("unknown type: %v", err)
	}
	if got := OperationalEventNames(); !slices.Equal(got, []string{EventDeliveryExhausted, EventCallbackDisabled, EventCallbackRecovered}) {
		t.Fatalf("operational: %v", got)
	}
}
