package delivery

import (
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// rawFormat renders agenthook's own payload: {"type", "task_id", "agent",
// "chat_id", "status", "backend_status", "error", "timestamp"} and the
// result fields as the status answer has them (see handler.AnswerOf).
type rawFormat struct{}

type rawHead struct {
	Type          string           `json:"type"`
	TaskID        string           `json:"task_id"`
	Agent         string           `json:"agent"`
	ChatID        string           `json:"chat_id"`
	Status        store.TaskStatus `json:"status"`
	BackendStatus int              `json:"backend_status,omitempty"`
	Error         string           `json:"error,omitempty"`
	Timestamp     time.Time        `json:"timestamp"`
}

// Render implements PayloadFormat.
func (rawFormat) Render(ev Event) ([]byte, error) {
	t := ev.Task
	h := rawHead{
		Type:      ev.Type,
		TaskID:    t.ID,
		Agent:     t.Agent,
		ChatID:    t.ChatID,
		Status:    ev.Status,
		Error:     ev.Error,
		Timestamp: ev.Time.UTC(),
	}
	if ev.Result != nil {
		h.BackendStatus = ev.Result.StatusCode
	}
	env, err := handler.NewEnvelope(h, handler.AnswerOf(ev.Result))
	if err != nil {
		return nil, err
	}
	return env.Bytes(), nil
}

// Interface guard
var _ PayloadFormat = rawFormat{}
