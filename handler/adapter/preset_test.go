package adapter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

func must(p Preset, err error) Preset {
	if err != nil {
		panic(err)
	}
	return p
}

func compile(t *testing.T, p Preset) *Adapter {
	t.Helper()
	// A deadline no loaded test machine meets; the default is for bodies.
	a, err := p.Compile(shape.Limits{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func runProg(t *testing.T, p *shape.Program, input any, env shape.Env) string {
	t.Helper()
	out, err := p.Run(context.Background(), input, env)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// The message of each caller style the README names.
func TestMessage(t *testing.T) {
	a := compile(t, must(OpenAI(OpenAIOptions{Model: "m"})))
	tests := []struct{ body, ct, want string }{
		{`{"prompt":"td prompt"}`, "application/json", `"td prompt"`},                                          // Treasure Data
		{`{"question":"docs question","history":[]}`, "application/json", `"docs question"`},                   // DocsGPT
		{`{"userId":"u","sessionId":"s","text":"cognigy text","data":{}}`, "", `"cognigy text"`},               // Cognigy
		{`{"message":"m","input":"i"}`, "", `"m"`},                                                             // first in order
		{`{"prompt":"","text":"second"}`, "", `"second"`},                                                      // empty strings are skipped
		{`{"prompt":5,"query":"q"}`, "", `"q"`},                                                                // so are non-strings
		{`{"event":"doc.ready","payload":{"id":7}}`, "", `"{\"event\":\"doc.ready\",\"payload\":{\"id\":7}}"`}, // UPTIQ: the event as text
		{`{"userId":"u","sessionId":"s","data":{"k":1}}`, "", `"{\"data\":{\"k\":1},\"sessionId\":\"s\",\"userId\":\"u\"}"`},
		{`{"message":{"text":"nested"}}`, "", `"{\"message\":{\"text\":\"nested\"}}"`},
		{`plain words`, "text/plain", `"plain words"`},
		{`"a JSON string"`, "application/json", `"a JSON string"`},
		{`[1,2]`, "application/json", `"[1,2]"`},
	}
	for _, tt := range tests {
		got := runProg(t, a.Message, shape.Body([]byte(tt.body), tt.ct), shape.RequestEnv{})
		if got != tt.want {
			t.Errorf("%s: message %s, want %s", tt.body, got, tt.want)
		}
	}
	_, err := a.Request.Run(context.Background(), shape.Body(nil, ""), shape.RequestEnv{})
	if err == nil || err.Error() != "expression_failed: request expression: error: the body has no message" {
		t.Errorf("an empty body: %v", err)
	}
}

func TestOpenAIRequest(t *testing.T) {
	system := `Be "brief" \(not jq) <b>&` + "\n"
	a := compile(t, must(OpenAI(OpenAIOptions{Model: "llama3.1:8b", System: system, History: 4, Stream: true})))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	env := shape.RequestEnv{History: []history.Turn{
		history.Text(history.RoleUser, "earlier", t0),
		{Role: history.RoleAssistant, Content: json.RawMessage(`{"answer":"obj"}`), At: t0},
	}}
	got := runProg(t, a.Request, shape.Body([]byte(`{"prompt":"now"}`), "application/json"), env)
	want := `{"messages":[` +
		`{"content":"Be \"brief\" \\(not jq) <b>&\n","role":"system"},` +
		`{"content":"earlier","role":"user"},` +
		`{"content":"{\"answer\":\"obj\"}","role":"assistant"},` +
		`{"content":"now","role":"user"}],` +
		`"model":"llama3.1:8b","stream":true,"stream_options":{"include_usage":true}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Without system, history or streaming the request is the minimum.
	a = compile(t, must(OpenAI(OpenAIOptions{Model: "m"})))
	if got := runProg(t, a.Request, shape.Body([]byte(`{"question":"q"}`), ""), shape.RequestEnv{}); got != `{"messages":[{"content":"q","role":"user"}],"model":"m"}` {
		t.Errorf("minimal: %s", got)
	}
}

// The expressions are shown in the README: they stay readable.
func TestOpenAIRequestText(t *testing.T) {
	p, _ := OpenAI(OpenAIOptions{Model: "gpt-4o-mini", System: "You are terse.", History: 10})
	want := messageDef + `{
  model: "gpt-4o-mini",
  messages: (
    [{role: "system", content: "You are terse."}]
    + [$history[] | {role, content: (.content | if type == "string" then . else tojson end)}]
    + [{role: "user", content: message}]
  )
}`
	if p.Request != want {
		t.Errorf("got\n%s\nwant\n%s", p.Request, want)
	}
	if p.Path != DefaultOpenAIPath || p.History != 10 || p.Stream || p.Errors != "openai" || p.Usage != "openai" {
		t.Errorf("%+v", p)
	}
}

const openAICompletion = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I assist you today?", "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default"
}`

func TestOpenAIAnswer(t *testing.T) {
	a := compile(t, must(OpenAI(OpenAIOptions{Model: "m"})))
	got := runProg(t, a.Answer, shape.Body([]byte(openAICompletion), "application/json"), shape.AnswerEnv{Status: 200})
	want := `{"answer":"Hello! How can I assist you today?","finish_reason":"stop","model":"gpt-4.1-2025-04-14",` +
		`"usage":{"completion_tokens":10,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},` +
		`"prompt_tokens":19,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},"total_tokens":29}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if reply := runProg(t, a.Reply, shape.Body([]byte(got), "application/json"), shape.AnswerEnv{}); reply != `"Hello! How can I assist you today?"` {
		t.Errorf("reply %s", reply)
	}
	// The shaped answer keeps usage where UsageOf finds it.
	if u, ok := UsageOf([]byte(got)); !ok || u != (Usage{19, 10, 29}) {
		t.Errorf("usage of the shaped answer: %+v %v", u, ok)
	}
}

// Cognigy's callback text is the shaped answer's "answer".
func TestCognigyTextIsTheAnswer(t *testing.T) {
	a := compile(t, must(OpenAI(OpenAIOptions{Model: "m"})))
	shaped := runProg(t, a.Answer, shape.Body([]byte(openAICompletion), "application/json"), shape.AnswerEnv{Status: 200})
	f, _ := delivery.Format("cognigy")
	task := &store.Task{ID: "t1", Meta: map[string]string{"userId": "u", "sessionId": "s"}}
	body, err := f.Render(delivery.Event{Type: delivery.EventTaskSucceeded, Task: task, Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(shaped)}})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		AIOutput struct {
			Text string `json:"text"`
		} `json:"AIOutput"`
	}
	if json.Unmarshal(body, &p) != nil || p.AIOutput.Text != "Hello! How can I assist you today?" {
		t.Errorf("%s", body)
	}
}

func TestLangServe(t *testing.T) {
	a := compile(t, must(LangServe(LangServeOptions{Path: "/chain/"})))
	if a.Preset.Path != "/chain/invoke" || a.Preset.History != 0 || a.Preset.Stream {
		t.Errorf("%+v", a.Preset)
	}
	if got := runProg(t, a.Request, shape.Body([]byte(`{"question":"q"}`), ""), shape.RequestEnv{}); got != `{"input":"q"}` {
		t.Errorf("request %s", got)
	}
	for _, tt := range []struct{ body, want string }{
		{`{"output":"plain","metadata":{"run_id":"r1","feedback_tokens":[]}}`, `{"answer":"plain","run_id":"r1"}`},
		{`{"output":{"content":"from a chat model","type":"ai","tool_calls":[]},"metadata":{"run_id":"r2"}}`, `{"answer":"from a chat model","run_id":"r2"}`},
		{`{"output":{"answer":"x","sources":[1]}}`, `{"answer":{"answer":"x","sources":[1]},"run_id":null}`},
		{`{"output":["a","b"]}`, `{"answer":["a","b"],"run_id":null}`},
	} {
		if got := runProg(t, a.Answer, shape.Body([]byte(tt.body), "application/json"), shape.AnswerEnv{Status: 200}); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.body, got, tt.want)
		}
	}
	for path, want := range map[string]string{"": "/invoke", "/": "/invoke", "chain": "/chain/invoke", "/a/b": "/a/b/invoke"} {
		if p, err := LangServe(LangServeOptions{Path: path}); err != nil || p.Path != want {
			t.Errorf("path %q: %q %v", path, p.Path, err)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []OpenAIOptions{{}, {Model: " "}, {Model: "m", History: -1}, {Model: "m", Path: "v1/chat"}, {Model: "m", Path: "/v1?x=1"}} {
		if _, err := OpenAI(o); err == nil || !strings.HasPrefix(err.Error(), "adapter openai: ") {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if _, err := LangServe(LangServeOptions{Path: "/a b"}); err == nil {
		t.Error("a path with a space was taken")
	}
	if _, err := (Preset{Name: "x", Request: "{"}).Compile(shape.Limits{}); err == nil || !strings.Contains(err.Error(), "adapter x: request expression: jq: ") {
		t.Errorf("%v", err)
	}
}

func TestJQString(t *testing.T) {
	for _, s := range []string{"", `"`, `\`, `\(x)`, "<&>", "\u2028", "é\x01\t"} {
		p := shape.MustCompile(shape.Request, jqString(s), shape.Limits{Timeout: 5 * time.Second})
		out := runProg(t, p, nil, shape.RequestEnv{})
		var got string
		if json.Unmarshal([]byte(out), &got) != nil || got != s {
			t.Errorf("%q came back as %s", s, out)
		}
	}
}
