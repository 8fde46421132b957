package handler

import (
	"encoding/json"
	"time"

	"github.com/agenthook/agenthook/store"
)

// MetaChatTTL is the task Meta key carrying the endpoint's chat TTL, so
// that the runner can push the chat's expiry out when the task finishes.
const MetaChatTTL = "agenthook.chat_ttl"

// TaskHead is a task as callers see it, but for its result.
type TaskHead struct {
	TaskID        string           `json:"task_id"`
	Status        store.TaskStatus `json:"status"`
	BackendStatus int              `json:"backend_status,omitempty"`
	Error         string           `json:"error,omitempty"`
	ChatID        string           `json:"chat_id"`
	Agent         string           `json:"agent"`
	Attempts      int              `json:"attempts"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
}

// TaskView is a task as callers see it, on the status endpoint and in the
// management API; the result fields follow AnswerOf.
type TaskView struct {
	TaskHead
	Result       json.RawMessage `json:"result"`
	ResultBase64 string          `json:"result_base64,omitempty"`
	ContentType  string          `json:"content_type,omitempty"`
}

// ViewOf renders a task for callers, whole in memory.
func ViewOf(t *store.Task) TaskView {
	a := TaskAnswer(t)
	return TaskView{TaskHead: HeadOf(t), Result: a.JSON(), ResultBase64: a.Base64(), ContentType: a.ContentType}
}

// ViewEnvelope renders a task for callers with its result written from
// the stored bytes, for answers streamed to the connection.
func ViewEnvelope(t *store.Task) (Envelope, error) {
	return NewEnvelope(HeadOf(t), TaskAnswer(t))
}

// HeadOf is the task's view without its result.
func HeadOf(t *store.Task) TaskHead {
	h := TaskHead{
		TaskID:    t.ID,
		Status:    t.Status,
		Error:     t.Error,
		ChatID:    t.ChatID,
		Agent:     t.Agent,
		Attempts:  t.Attempts,
		CreatedAt: t.CreatedAt.UTC(),
		UpdatedAt: t.UpdatedAt.UTC(),
	}
	if t.Result != nil {
		h.BackendStatus = t.Result.StatusCode
	}
	return h
}

// TaskAnswer is what a task shows as its result: nothing until it is
// final; then the backend's answer; on FAILURE without an answer body,
// the error sentence, as DocsGPT reports failures.
func TaskAnswer(t *store.Task) Answer {
	if !t.Status.Final() {
		return Answer{}
	}
	if t.Status == store.TaskFailure && (t.Result == nil || len(t.Result.Body) == 0) {
		return TextAnswer(t.Error)
	}
	return AnswerOf(t.Result)
}
