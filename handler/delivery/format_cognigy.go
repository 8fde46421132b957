package delivery

import (
	"bytes"
	"encoding/json"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// cognigyFormat renders the body Cognigy's Webhook Endpoint posts to the
// operator's webhook URL: {"userId", "sessionId", "AIOutput": {...}}, with
// the ids the task kept from the Cognigy request.
type cognigyFormat struct{}

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

// Render implements PayloadFormat.
func (cognigyFormat) Render(ev Event) ([]byte, error) {
	t := ev.Task
	text, data := cognigyOutput(ev.Status, ev.Result, ev.Error)
	return handler.MarshalJSON(cognigyPayload{
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

// cognigyTextFields are read, in order, for AIOutput.text when the
// backend answers with a JSON object.
var cognigyTextFields = []string{"text", "answer", "output", "response", "message", "content"}

// cognigyOutput derives AIOutput.text and AIOutput.data from a backend
// answer:
//   - a JSON object: text is its first string field among text, answer,
//     output, response, message and content; data is its "data" field if
//     that is an object, else {};
//   - a JSON string: it is the text, data is {};
//   - other text: the body as text, data is {};
//   - a binary answer (see handler.AnswerOf): empty text, and data
//     {"result_base64": ..., "content_type": ...} as in raw payloads.
//
// A failed task has empty text and data {"error": ..., "status": "FAILURE"}.
func cognigyOutput(status store.TaskStatus, r *store.Result, errMsg string) (string, json.RawMessage) {
	empty := json.RawMessage("{}")
	if status == store.TaskFailure {
		b, _ := handler.MarshalJSON(map[string]string{"error": errMsg, "status": string(status)})
		return "", b
	}
	if r == nil || len(bytes.TrimSpace(r.Body)) == 0 {
		return "", empty
	}
	if a := handler.AnswerOf(r); a.Kind == handler.AnswerBinary {
		b, _ := handler.MarshalJSON(map[string]string{"result_base64": a.Base64(), "content_type": a.ContentType})
		return "", b
	}
	body := bytes.TrimSpace(r.Body)
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		text := ""
		for _, f := range cognigyTextFields {
			if s, ok := handler.JSONString(obj[f]); ok {
				text = s
				break
			}
		}
		data := empty
		if handler.IsJSONObject(obj["data"]) {
			data = obj["data"]
		}
		return text, data
	}
	if s, ok := handler.JSONString(body); ok {
		return s, empty
	}
	return string(r.Body), empty
}

// Interface guard
var _ PayloadFormat = cognigyFormat{}
