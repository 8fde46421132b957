package handler

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
	"time"

	"github.com/agenthook/agenthook/store"
)

// Event types of callback payloads.
const (
	EventTaskSucceeded = "task.succeeded"
	EventTaskFailed    = "task.failed"
)

// resultJSON renders a backend answer for callers: JSON stays JSON,
// anything else becomes a JSON string, and no answer is null.
func resultJSON(r *store.Result) json.RawMessage {
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

// rawPayload is the body of a `format raw` callback.
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

// cognigyPayload is the body Cognigy's Webhook Endpoint posts to the
// operator's webhook URL.
type cognigyPayload struct {
	UserID    string          `json:"userId"`
	SessionID string          `json:"sessionId"`
	AIOutput  cognigyAIOutput `json:"AIOutput"`
}

type cognigyAIOutput struct {
	Text                    string          `json:"text"`
	Data                    json.RawMessage `json:"data"`
	TraceID                 string          `json:"traceId"`
	DisableSensitiveLogging bool            `json:"disableSensitiveLogging"`
	Source                  string          `json:"source"`
}

// cognigyTextFields are read, in order, for AIOutput.text when the
// backend answers with a JSON object.
var cognigyTextFields = []string{"text", "answer", "output", "response", "message", "content"}

// cognigyOutput derives AIOutput.text and AIOutput.data from a backend
// answer:
//   - a JSON object: text is its first string field among text, answer,
//     output, response, message and content; data is its "data" field if
//     that is an object, else {};
//   - a JSON string: it is the text, data is {};
//   - anything else: the body as text, data is {}.
//
// A failed task has empty text and data {"error": ..., "status": "FAILURE"}.
func cognigyOutput(t *store.Task, status store.TaskStatus, r *store.Result, errMsg string) (string, json.RawMessage) {
	empty := json.RawMessage("{}")
	if status == store.TaskFailure {
		b, _ := json.Marshal(map[string]string{"error": errMsg, "status": string(status)})
		return "", b
	}
	if r == nil || len(bytes.TrimSpace(r.Body)) == 0 {
		return "", empty
	}
	body := bytes.TrimSpace(r.Body)
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		text := ""
		for _, f := range cognigyTextFields {
			if s, ok := jsonString(obj[f]); ok {
				text = s
				break
			}
		}
		data := empty
		if isJSONObject(obj["data"]) {
			data = obj["data"]
		}
		return text, data
	}
	if s, ok := jsonString(body); ok {
		return s, empty
	}
	return string(r.Body), empty
}

// renderPayload builds a callback body in the callback's format.
func renderPayload(format Format, t *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) ([]byte, error) {
	if format == FormatCognigy {
		text, data := cognigyOutput(t, status, r, errMsg)
		return json.Marshal(cognigyPayload{
			UserID:    t.Meta["userId"],
			SessionID: t.Meta["sessionId"],
			AIOutput: cognigyAIOutput{
				Text:                    text,
				Data:                    data,
				TraceID:                 "agenthook-" + t.ID,
				DisableSensitiveLogging: t.Sensitive,
				Source:                  "bot",
			},
		})
	}
	p := rawPayload{
		Type:      EventTaskSucceeded,
		TaskID:    t.ID,
		Agent:     t.Agent,
		ChatID:    t.ChatID,
		Status:    status,
		Result:    resultJSON(r),
		Error:     errMsg,
		Timestamp: now.UTC(),
	}
	if status == store.TaskFailure {
		p.Type = EventTaskFailed
	}
	if r != nil {
		p.BackendStatus = r.StatusCode
	}
	return json.Marshal(p)
}
