package delivery

import (
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// OpEvent is an operational event: something happened to a delivery or a
// callback, not to a task. Callbacks subscribed to its type receive it
// (the callback it is about excepted), as do the app's alerts callbacks;
// Observer hands it to Caddy's events app.
type OpEvent struct {
	Type     string
	Agent    string
	Callback *Callback
	// Delivery is the dead letter of delivery.exhausted, its last attempt
	// recorded.
	Delivery *store.Delivery
	// LastStatus is the status of the dead letter's last answer, if any.
	LastStatus int
	// Reason says why a callback was disabled.
	Reason string
	// FailingSince is when the callback's failures began, if known.
	FailingSince time.Time
	Time         time.Time
}

// opBody is an operational event's JSON body (see the schemas in
// events.go).
type opBody struct {
	Type         string        `json:"type"`
	Agent        string        `json:"agent"`
	CallbackID   string        `json:"callback_id"`
	CallbackURL  string        `json:"callback_url"`
	Timestamp    time.Time     `json:"timestamp"`
	Reason       string        `json:"reason,omitempty"`
	FailingSince *time.Time    `json:"failing_since,omitempty"`
	Delivery     *opDeliveryJS `json:"delivery,omitempty"`
}

type opDeliveryJS struct {
	ID           string `json:"id"`
	MessageID    string `json:"message_id"`
	EventType    string `json:"event_type"`
	TaskID       string `json:"task_id,omitempty"`
	ChatID       string `json:"chat_id,omitempty"`
	AttemptCount int    `json:"attempt_count"`
	LastStatus   int    `json:"last_status,omitempty"`
	LastError    string `json:"last_error"`
}

func (e OpEvent) body() opBody {
	b := opBody{
		Type:        e.Type,
		Agent:       e.Agent,
		CallbackID:  e.Callback.ID,
		CallbackURL: URLOrigin(e.Callback.URL),
		Timestamp:   e.Time.UTC(),
		Reason:      e.Reason,
	}
	if !e.FailingSince.IsZero() {
		t := e.FailingSince.UTC()
		b.FailingSince = &t
	}
	if d := e.Delivery; d != nil {
		b.Delivery = &opDeliveryJS{
			ID: d.ID, MessageID: d.WebhookID(), EventType: d.EventType, TaskID: d.TaskID, ChatID: d.ChatID,
			AttemptCount: d.AttemptCount, LastStatus: e.LastStatus, LastError: d.LastError,
		}
	}
	return b
}

// Payload renders the event as its deliveries carry it, whatever their
// callbacks' format: Cognigy's shape and the like have no place for
// operational events.
func (e OpEvent) Payload() ([]byte, error) { return handler.MarshalJSON(e.body()) }

// Data is the event as a map, for Caddy's events app, whose handlers read
// it through placeholders such as {event.data.callback_id}.
func (e OpEvent) Data() map[string]any {
	b := e.body()
	m := map[string]any{
		"type": b.Type, "agent": b.Agent, "callback_id": b.CallbackID, "callback_url": b.CallbackURL,
		"timestamp": b.Timestamp.Format(time.RFC3339Nano),
	}
	if b.Reason != "" {
		m["reason"] = b.Reason
	}
	if b.FailingSince != nil {
		m["failing_since"] = b.FailingSince.Format(time.RFC3339Nano)
	}
	if d := b.Delivery; d != nil {
		m["delivery_id"], m["message_id"], m["event_type"] = d.ID, d.MessageID, d.EventType
		m["task_id"], m["attempt_count"], m["last_error"] = d.TaskID, d.AttemptCount, d.LastError
		if d.LastStatus != 0 {
			m["last_status"] = d.LastStatus
		}
	}
	return m
}

// Observer is told of every operational event, once, by the instance
// where it happened: caddymodule emits it as a Caddy event.
type Observer interface {
	OperationalEvent(ev OpEvent)
}
