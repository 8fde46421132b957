package handler

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
	"time"

	"github.com/agenthook/agenthook/store"
)

// MetaChatTTL is the task Meta key carrying the endpoint's chat TTL, so
// that the runner can push the chat's expiry out when the task finishes.
const MetaChatTTL = "agenthook.chat_ttl"

// TaskView is a task as callers see it, on the status endpoint and in the
// management API.
type TaskView struct {
	TaskID        string           `json:"task_id"`
	Status        store.TaskStatus `json:"status"`
	Result        json.RawMessage  `json:"result"`
	BackendStatus int              `json:"backend_status,omitempty"`
	Error         string           `json:"error,omitempty"`
	ChatID        string           `json:"chat_id"`
	Agent         string           `json:"agent"`
	Attempts      int              `json:"attempts"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
}

// ViewOf renders a task for callers. On FAILURE without an answer, the
// result is the error sentence, as DocsGPT reports failures.
func ViewOf(t *store.Task) TaskView {
	v := TaskView{
		TaskID:    t.ID,
		Status:    t.Status,
		Result:    ResultJSON(t.Result),
		Error:     t.Error,
		ChatID:    t.ChatID,
		Agent:     t.Agent,
		Attempts:  t.Attempts,
		CreatedAt: t.CreatedAt.UTC(),
		UpdatedAt: t.UpdatedAt.UTC(),
	}
	if t.Result != nil {
		v.BackendStatus = t.Result.StatusCode
	}
	if t.Status == store.TaskFailure && t.Result == nil {
		v.Result, _ = json.Marshal(t.Error)
	}
	if !t.Status.Final() {
		v.Result = json.RawMessage("null")
	}
	return v
}

// ResultJSON renders a backend answer for callers: JSON stays JSON,
// anything else becomes a JSON string, and no answer is null.
func ResultJSON(r *store.Result) json.RawMessage {
	if r == nil || len(r.Body) == 0 {
		return json.RawMessage("null")
	}
	body := bytes.TrimSpace(r.Body)
	if isJSONType(r.ContentType) || r.ContentType == "" {
		if json.Valid(body) {
			return json.RawMessage(body)
		}
	}
	b, _ := json.Marshal(string(r.Body))
	return b
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
