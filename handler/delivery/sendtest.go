package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// TestResult is the outcome of a test event sent by hand.
type TestResult struct {
	EventType string
	MessageID string
	Attempt   store.Attempt
}

// SendTest sends an example event of type typ to a callback at once,
// outside the queue: signed, with the callback's headers, format and
// timeout, through the deliveries' client (and so their address checks),
// but neither retried nor stored nor counted against the callback's
// health. It is for an operator checking a receiver; the request carries
// X-Agenthook-Test: true so that receivers can tell.
func (d *Dispatcher) SendTest(ctx context.Context, cb *Callback, typ string) (TestResult, error) {
	if err := CheckEvents([]string{typ}); err != nil {
		return TestResult{}, err
	}
	now := d.Now()
	payload, err := examplePayload(cb, typ, now)
	if err != nil {
		return TestResult{}, err
	}
	origin, err := d.origin(ctx)
	if err != nil {
		return TestResult{}, err
	}
	cfg := d.config()
	timeout := cfg.Timeout
	if cb.Timeout > 0 && cb.Timeout < timeout {
		timeout = cb.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	test := *cb
	test.Header = cb.Header.Clone()
	if test.Header == nil {
		test.Header = make(map[string][]string, 1)
	}
	test.Header.Set("X-Agenthook-Test", "true")
	dl := &store.Delivery{ID: "dlv_test", MessageID: "msg_" + handler.NewID(), Agent: cb.Agent, CallbackID: cb.ID, EventType: typ, Payload: payload, Hops: 1}
	att, _ := d.send(ctx, cfg, &test, dl, origin)
	return TestResult{EventType: typ, MessageID: dl.MessageID, Attempt: att}, nil
}

// examplePayload renders an example event of a type as the callback's
// format would: a task of the callback's agent that said hello, or an
// operational event about the callback itself.
func examplePayload(cb *Callback, typ string, now time.Time) ([]byte, error) {
	if IsOperational(typ) {
		ev := OpEvent{Type: typ, Agent: cb.Agent, Callback: cb, Time: now}
		switch typ {
		case EventCallbackDisabled:
			ev.Reason = "this is a test event"
			ev.FailingSince = now.Add(-time.Hour)
		case EventCallbackRecovered:
			ev.FailingSince = now.Add(-time.Minute)
		case EventDeliveryExhausted:
			ev.Delivery = &store.Delivery{ID: "dlv_example", MessageID: "msg_example", EventType: EventTaskSucceeded, TaskID: "task_example",
				ChatID: "chat_example", AttemptCount: 8, LastError: "the receiver answered 503 Service Unavailable (this is a test event)"}
			ev.LastStatus = 503
		}
		return ev.Payload()
	}
	t := &store.Task{ID: "task_example", Agent: cb.Agent, ChatID: "chat_example", Endpoint: cb.Endpoint, CreatedAt: now,
		Meta: map[string]string{"userId": "example-user", "sessionId": "example-session"}}
	ev := Event{Type: typ, Task: t, Time: now}
	switch typ {
	case EventTaskStarted:
		ev.Status = store.TaskStarted
	case EventTaskSucceeded:
		ev.Status = store.TaskSuccess
		ev.Result = &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"This is a test event from agenthook.","data":{}}`)}
	case EventTaskFailed:
		ev.Status, ev.Error = store.TaskFailure, "this is a test event"
	}
	if cb.Payload != nil {
		return RenderPayload(context.Background(), cb.Payload, ev)
	}
	f, ok := Format(cb.Format)
	if !ok {
		return nil, fmt.Errorf("unknown format %q", cb.Format)
	}
	return f.Render(ev)
}
