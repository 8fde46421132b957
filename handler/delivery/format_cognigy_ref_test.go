package delivery

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// The Go code below is how the cognigy format was written before it became
// the payload expression CognigyPayload. It stays as the reference the
// expression is checked against, so the format's output did not change.

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

// TestCognigyPayloadMatchesReference renders answers of every kind with
// CognigyPayload and compares text and data with the reference.
func TestCognigyPayloadMatchesReference(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	results := []*store.Result{
		nil,
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"answer":"Hello","data":{"intent":"greet"}}`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":null,"answer":"from answer","data":[1]}`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"output":"o","response":"r"}`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"answer":"x","model":"m","usage":{"total_tokens":3},"finish_reason":"stop"}`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"nothing":1}`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`"a JSON string"`)},
		{StatusCode: 200, ContentType: "text/plain", Body: []byte("plain text\nanswer")},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`[1,2]`)},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`42`)},
		{StatusCode: 200, ContentType: "application/x-thing", Body: []byte{0, 1, 2, 0xff}},
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`  `)},
	}
	for _, status := range []store.TaskStatus{store.TaskSuccess, store.TaskFailure} {
		for _, r := range results {
			errMsg := ""
			if status == store.TaskFailure {
				errMsg = "the agent backend answered 500 Internal Server Error"
			}
			b, err := render(t, "cognigy", payloadTask(), status, r, errMsg, now)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				AIOutput struct {
					Text string          `json:"text"`
					Data json.RawMessage `json:"data"`
				} `json:"AIOutput"`
			}
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			text, data := cognigyOutput(status, r, errMsg)
			if p.AIOutput.Text != text || !sameJSON(t, p.AIOutput.Data, data) {
				t.Errorf("%s %+v: got %q %s, reference %q %s", status, r, p.AIOutput.Text, p.AIOutput.Data, text, data)
			}
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
