package delivery

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

func payloadTask() *store.Task {
	return &store.Task{
		ID: "task_1", Agent: "agent-a", ChatID: "chat_1", Status: store.TaskSuccess,
		Meta: map[string]string{"format": "cognigy", "userId": "u-1", "sessionId": "s-1"},
	}
}

// render renders the event of a task that reached status, in a format.
func render(t *testing.T, format string, task *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) ([]byte, error) {
	t.Helper()
	f, ok := Format(format)
	if !ok {
		t.Fatalf("no format %q", format)
	}
	return f.Render(taskEvent(task, status, r, errMsg, now))
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %s is not a JSON object: %v", b, err)
	}
	return m
}

func TestRenderRawSucceeded(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	r := &store.Result{StatusCode: 201, ContentType: "application/json", Body: []byte(`{"answer":"42"}`)}
	b, err := render(t, FormatRaw, payloadTask(), store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	want := map[string]any{
		"type": "task.succeeded", "task_id": "task_1", "agent": "agent-a", "chat_id": "chat_1",
		"status": "SUCCESS", "backend_status": float64(201), "timestamp": "2030-01-02T02:04:05.0000006Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if res, ok := m["result"].(map[string]any); !ok || res["answer"] != "42" {
		t.Errorf("result = %#v, want the backend's JSON", m["result"])
	}
	if _, ok := m["error"]; ok {
		t.Errorf("a success has an error field: %s", b)
	}
	if len(m) != len(want)+1 {
		t.Errorf("unexpected fields in %s", b)
	}
}

func TestRenderRawFailed(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := render(t, FormatRaw, payloadTask(), store.TaskFailure, nil, "the agent backend could not be reached (after 3 attempts)", now)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if m["type"] != "task.failed" || m["status"] != "FAILURE" || m["error"] != "the agent backend could not be reached (after 3 attempts)" {
		t.Fatalf("payload %s", b)
	}
	if v, ok := m["result"]; !ok || v != nil {
		t.Fatalf("result = %#v, want null", v)
	}
	if _, ok := m["backend_status"]; ok {
		t.Fatalf("a failure without an answer has backend_status: %s", b)
	}
	// A failure with an answer (a 4xx) keeps it.
	r := &store.Result{StatusCode: 422, ContentType: "text/plain", Body: []byte("nope")}
	b, _ = render(t, FormatRaw, payloadTask(), store.TaskFailure, r, "the agent backend answered 422 Unprocessable Entity", now)
	m = decode(t, b)
	if m["result"] != "nope" || m["backend_status"] != float64(422) || m["type"] != "task.failed" {
		t.Fatalf("payload %s", b)
	}
}

func TestCognigyOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ct, body string
		text     string
		data     string
	}{
		{"text field", "application/json", `{"text":"hello","data":{"k":1}}`, "hello", `{"k":1}`},
		{"answer field", "application/json", `{"answer":"a"}`, "a", `{}`},
		{"output field", "application/json", `{"output":"o"}`, "o", `{}`},
		{"response field", "application/json", `{"response":"r"}`, "r", `{}`},
		{"message field", "application/json", `{"message":"m"}`, "m", `{}`},
		{"content field", "application/json", `{"content":"c"}`, "c", `{}`},
		{"order: text first", "application/json", `{"content":"c","message":"m","response":"r","output":"o","answer":"a","text":"t"}`, "t", `{}`},
		{"order: answer before output", "application/json", `{"output":"o","answer":"a"}`, "a", `{}`},
		{"order: message before content", "application/json", `{"content":"c","message":"m"}`, "m", `{}`},
		{"non-string fields skipped", "application/json", `{"text":5,"answer":[],"output":{"x":1},"response":"r"}`, "r", `{}`},
		{"empty string counts", "application/json", `{"text":"","answer":"a"}`, "", `{}`},
		{"no known field", "application/json", `{"foo":"bar"}`, "", `{}`},
		{"data not an object", "application/json", `{"text":"t","data":[1,2]}`, "t", `{}`},
		{"data a string", "application/json", `{"text":"t","data":"x"}`, "t", `{}`},
		{"data null", "application/json", `{"text":"t","data":null}`, "t", `{}`},
		{"nested data kept", "application/json", `{"data":{"a":{"b":[1]}}}`, "", `{"a":{"b":[1]}}`},
		{"JSON string", "application/json", `"just words"`, "just words", `{}`},
		{"JSON string, untyped", "", ` "spaced" `, "spaced", `{}`},
		{"JSON array", "application/json", `[1,2]`, "[1,2]", `{}`},
		{"JSON number", "application/json", `42`, "42", `{}`},
		{"plain text", "text/plain", "Hi there", "Hi there", `{}`},
		{"plain text kept as is", "text/plain", " Hi\n", " Hi\n", `{}`},
		{"empty", "application/json", "", "", `{}`},
		{"blank", "text/plain", "  \n", "", `{}`},
		{"JSON object as text/plain", "text/plain", `{"text":"still read"}`, "still read", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &store.Result{StatusCode: 200, ContentType: tt.ct, Body: []byte(tt.body)}
			text, data := cognigyOutput(store.TaskSuccess, r, "")
			if text != tt.text || !jsonEqual(t, data, tt.data) {
				t.Fatalf("cognigyOutput = %q, %s; want %q, %s", text, data, tt.text, tt.data)
			}
		})
	}
	if text, data := cognigyOutput(store.TaskSuccess, nil, ""); text != "" || string(data) != "{}" {
		t.Fatalf("no result: %q, %s", text, data)
	}
}

// TestCognigyOutputNullField: a null field is not a string field, so
// the next one in the list gives the text.
func TestCognigyOutputNullField(t *testing.T) {
	t.Parallel()
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":null,"answer":"from answer"}`)}
	if text, _ := cognigyOutput(store.TaskSuccess, r, ""); text != "from answer" {
		t.Fatalf("text = %q, want \"from answer\"", text)
	}
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestRenderCognigy(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := payloadTask()
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"answer":"Hello","data":{"intent":"greet"}}`)}
	b, err := render(t, "cognigy", task, store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		UserID    string         `json:"userId"`
		SessionID string         `json:"sessionId"`
		AIOutput  map[string]any `json:"AIOutput"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.UserID != "u-1" || p.SessionID != "s-1" {
		t.Fatalf("ids %q, %q", p.UserID, p.SessionID)
	}
	out := p.AIOutput
	if out["text"] != "Hello" || out["traceId"] != "agenthook-task_1" || out["source"] != "bot" || out["disableSensitiveLogging"] != false {
		t.Fatalf("AIOutput = %v", out)
	}
	if d, ok := out["data"].(map[string]any); !ok || d["intent"] != "greet" {
		t.Fatalf("AIOutput.data = %#v", out["data"])
	}
	if len(out) != 5 || len(decode(t, b)) != 3 {
		t.Fatalf("unexpected fields in %s", b)
	}

	// Failure shape, with the sensitive flag carried over.
	task.Sensitive = true
	b, _ = render(t, "cognigy", task, store.TaskFailure, &store.Result{StatusCode: 500, Body: []byte(`{"text":"ignored"}`)}, "the agent backend answered 500 Internal Server Error", now)
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	out = p.AIOutput
	if out["text"] != "" || out["disableSensitiveLogging"] != true || out["source"] != "bot" {
		t.Fatalf("failure AIOutput = %v", out)
	}
	d, _ := out["data"].(map[string]any)
	if d["error"] != "the agent backend answered 500 Internal Server Error" || d["status"] != "FAILURE" || len(d) != 2 {
		t.Fatalf("failure data = %#v", out["data"])
	}

	// No meta: empty ids rather than a crash.
	b, err = render(t, "cognigy", &store.Task{ID: "t"}, store.TaskSuccess, nil, "", now)
	if err != nil || !strings.Contains(string(b), `"userId":""`) {
		t.Fatalf("payload without meta: %s, %v", b, err)
	}
}

func TestFormatNames(t *testing.T) {
	t.Parallel()
	if got := FormatNames(); !slices.Equal(got, []string{"raw", "cognigy"}) {
		t.Fatalf("FormatNames = %v, want raw first", got)
	}
	for _, name := range []string{"", "raw", "cognigy"} {
		if _, ok := Format(name); !ok {
			t.Errorf("Format(%q) unknown", name)
		}
	}
	if _, ok := Format("xml"); ok {
		t.Error("Format(xml) known")
	}
}

// The built-in Cognigy payload runs on the delivering goroutine (see
// shape.Program.Inline): it calls nothing that can outrun its deadline.
func TestCognigyPayloadRunsInline(t *testing.T) {
	if !cognigyProgram.Inline() {
		t.Errorf("the Cognigy payload runs on a goroutine of its own: %s", cognigyProgram)
	}
}
