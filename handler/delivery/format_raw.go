package delivery

import (
	"encoding/json"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// rawFormat renders agenthook's own payload:
// {"type", "task_id", "agent", "chat_id", "status", "result", "timestamp"}.
type rawFormat struct{}

type rawPayload struct {
	Type          string           `json:"type"`
	TaskID        string           `json:"task_id"`
	Agent         string           `json:"agent"`
	ChatID        string           `json:"chat_id"`
	Status        store.TaskStatus `json:"status"`
	Result        json.RawMessage  `json:"result"`
	BackendStatus int              `json:"backend_status,omitempty"`
	Error         string           `json:"error,omitempty"`
	Timestamp     time.Time        `json:"timestamp"`
}

// Render implements PayloadFormat.
func (rawFormat) Render(ev Event) ([]byte, error) {
	t := ev.Task
	p := rawPayload{
		Type:      ev.Type,
		TaskID:    t.ID,
		Agent:     t.Agent,
		ChatID:    t.ChatID,
		Status:    ev.Status,
		Result:    handler.ResultJSON(ev.Result),
		Error:     ev.Error,
		Timestamp: ev.Time.UTC(),
	}
	if ev.Result != nil {
		p.BackendStatus = ev.Result.StatusCode
	}
	return json.Marshal(p)
}

// Interface guard
var _ PayloadFormat = rawFormat{}
