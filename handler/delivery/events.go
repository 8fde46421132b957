package delivery

import (
	"encoding/json"
	"fmt"
	"slices"
)

// More event types; task.succeeded and task.failed are in format.go.
const (
	// EventTaskStarted: a task was claimed and its backend call begins.
	EventTaskStarted = "task.started"
	// EventDeliveryExhausted: a delivery was dead-lettered.
	EventDeliveryExhausted = "delivery.exhausted"
	// EventCallbackDisabled: agenthook disabled a callback (410 Gone, or
	// failing for too long).
	EventCallbackDisabled = "callback.disabled"
	// EventCallbackRecovered: a callback the circuit breaker had paused
	// answered 2xx again.
	EventCallbackRecovered = "callback.recovered"
)

// DefaultEvents are what a callback receives when it names none: the two
// final task events, which is all agenthook sent before subscriptions.
var DefaultEvents = []string{EventTaskSucceeded, EventTaskFailed}

// EventType describes one event type for GET /api/event-types: its name,
// what it tells, whether it is operational (about deliveries and
// callbacks, not about a task), and the JSON Schema of its body as agenthook's
// own (raw) format renders it.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Operational bool            `json:"operational"`
	Schema      json.RawMessage `json:"schema"`
}

// eventTypes lists every type, in the order the API shows them.
var eventTypes = []EventType{
	{EventTaskStarted, "A task was claimed by a worker and its backend call begins. Sent once per task, before its final event.", false, json.RawMessage(taskEventSchema)},
	{EventTaskSucceeded, "A task finished with SUCCESS; the payload carries the backend's answer.", false, json.RawMessage(taskEventSchema)},
	{EventTaskFailed, "A task finished with FAILURE; the payload carries the error and, when there was one, the backend's answer.", false, json.RawMessage(taskEventSchema)},
	{EventDeliveryExhausted, "A delivery was dead-lettered: its callback kept failing until the retry schedule ran out, answered 410 Gone, or was disabled by it. It can be replayed through the API.", true, json.RawMessage(deliveryExhaustedSchema)},
	{EventCallbackDisabled, "agenthook disabled a callback: it answered 410 Gone, or failed without a success for longer than disable_after. Enable it again through the API.", true, json.RawMessage(callbackDisabledSchema)},
	{EventCallbackRecovered, "A callback the circuit breaker had paused answered 2xx again.", true, json.RawMessage(callbackRecoveredSchema)},
}

// EventTypes returns every event type, task events first.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

// EventTypeNames lists the names of every event type.
func EventTypeNames() []string {
	names := make([]string, len(eventTypes))
	for i, t := range eventTypes {
		names[i] = t.Name
	}
	return names
}

// OperationalEventNames lists the operational event types: what an
// alerts callback receives unless it names others.
func OperationalEventNames() []string {
	var names []string
	for _, t := range eventTypes {
		if t.Operational {
			names = append(names, t.Name)
		}
	}
	return names
}

// IsOperational reports whether an event type is operational.
func IsOperational(name string) bool {
	for _, t := range eventTypes {
		if t.Name == name {
			return t.Operational
		}
	}
	return false
}

// CheckEvents refuses a list of event types with an unknown name or none
// at all; the error names the first unknown one (event names are config,
// not secrets).
func CheckEvents(events []string) error {
	if events != nil && len(events) == 0 {
		return fmt.Errorf("events must name at least one event type")
	}
	for _, e := range events {
		if !slices.Contains(EventTypeNames(), e) {
			return fmt.Errorf("unknown event type %q: use %s", e, joinNames(EventTypeNames()))
		}
	}
	return nil
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " or "
		default:
			out += ", "
		}
		out += n
	}
	return out
}

// The JSON Schemas of the raw bodies. openapi.yaml holds the same shapes
// (RawCallbackPayload and the operational payloads); the end-to-end tests
// check received bodies against these. They keep to what JSON Schema and
// OpenAPI 3.0 share, plus OpenAPI's "nullable" where null is a value,
// which JSON Schema validators ignore.
const taskEventSchema = `{
	"type": "object",
	"additionalProperties": false,
	"required": ["type", "task_id", "agent", "chat_id", "status", "result", "timestamp"],
	"properties": {
		"type": {"type": "string", "enum": ["task.started", "task.succeeded", "task.failed"]},
		"task_id": {"type": "string"},
		"agent": {"type": "string"},
		"chat_id": {"type": "string"},
		"status": {"type": "string", "enum": ["STARTED", "SUCCESS", "FAILURE"]},
		"result": {"nullable": true, "description": "The backend's answer, as the task status shows it: JSON, a string, or null (always null for task.started)."},
		"result_base64": {"type": "string", "description": "The answer in standard base64, when it is neither UTF-8 JSON nor UTF-8 text."},
		"content_type": {"type": "string", "description": "The answer's content type; only with result_base64."},
		"backend_status": {"type": "integer"},
		"error": {"type": "string", "description": "Why the task failed."},
		"timestamp": {"type": "string", "format": "date-time"}
	}
}`

// opCommon are the properties every operational body has.
const opCommon = `
		"agent": {"type": "string", "description": "The agent of the callback the event is about."},
		"callback_id": {"type": "string"},
		"callback_url": {"type": "string", "description": "The callback URL's scheme and host only: its path and query may hold a secret."},
		"timestamp": {"type": "string", "format": "date-time"}`

const deliveryExhaustedSchema = `{
	"type": "object",
	"additionalProperties": false,
	"required": ["type", "agent", "callback_id", "callback_url", "timestamp", "delivery"],
	"properties": {
		"type": {"type": "string", "enum": ["delivery.exhausted"]},` + opCommon + `,
		"delivery": {
			"type": "object",
			"additionalProperties": false,
			"required": ["id", "message_id", "event_type", "attempt_count", "last_error"],
			"properties": {
				"id": {"type": "string", "description": "The dead letter's id, for GET /api/deliveries/{id} and its retry."},
				"message_id": {"type": "string", "description": "The webhook-id it was sent with."},
				"event_type": {"type": "string"},
				"task_id": {"type": "string"},
				"chat_id": {"type": "string"},
				"attempt_count": {"type": "integer"},
				"last_status": {"type": "integer", "description": "The status of the last answer, if there was one."},
				"last_error": {"type": "string"}
			}
		}
	}
}`

const callbackDisabledSchema = `{
	"type": "object",
	"additionalProperties": false,
	"required": ["type", "agent", "callback_id", "callback_url", "timestamp", "reason"],
	"properties": {
		"type": {"type": "string", "enum": ["callback.disabled"]},` + opCommon + `,
		"reason": {"type": "string"},
		"failing_since": {"type": "string", "format": "date-time"}
	}
}`

const callbackRecoveredSchema = `{
	"type": "object",
	"additionalProperties": false,
	"required": ["type", "agent", "callback_id", "callback_url", "timestamp"],
	"properties": {
		"type": {"type": "string", "enum": ["callback.recovered"]},` + opCommon + `,
		"failing_since": {"type": "string", "format": "date-time", "description": "When the failures began, if this instance knows."}
	}
}`
