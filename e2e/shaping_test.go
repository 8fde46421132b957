package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// shapingAgent answers {"output": "got <input>", "seen": <body>}, so a
// test reads what the backend received and what the caller got of it.
func shapingAgent(t *testing.T) *testkit.Agent {
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct {
			Input string `json:"input"`
		}
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Conversation-Id", "conv-1")
		if in.Input == "fail" {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		out, _ := json.Marshal(map[string]any{"output": "got " + in.Input, "seen": json.RawMessage(body)})
		_, _ = w.Write(out)
	}
	return agent
}

const shapingGlobals = `		delivery {
			allow_networks 127.0.0.1/32
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			request ` + "`" + `{input: ((.prompt // .question) | ascii_downcase), chat: $chat.id, new: $chat.new, caller: $caller.id, lang: $query.lang, tenant: $headers["x-tenant"]}` + "`" + `
			answer ` + "`" + `if .output == "got boom" then error("the backend said boom") else {answer: .output, status: $status, chat: $chat.id} end` + "`" + `
			callback %s/shaped {
				payload ` + "`" + `{text: .result.answer, status, chat: $chat.id, task: $task.id}` + "`" + `
			}
		}
`

const shapingRoutes = `
	agenthook /td support {
		auth bearer td-token
	}
	agenthook /docsgpt support {
		auth bearer td-token
		request ` + "`" + `{input: ("Q: " + .question)}` + "`" + `
	}
	agenthook /tasks support {
		auth bearer td-token
		mode async
	}
	agenthook /raw-answer support {
		auth bearer td-token
		answer ` + "`" + `{raw: .}` + "`" + `
	}
	agenthook_status /api/task_status*
`

var tdToken = map[string]string{"Authorization": "Bearer td-token", "X-Tenant": "acme"}

// TestShapingSync: the request expression shapes what the backend gets,
// with its variables; the answer expression what the caller gets; an
// endpoint overrides either; a failing expression is a 502 with its
// error, and no body reaches the log.
func TestShapingSync(t *testing.T) {
	t.Parallel()
	agent := shapingAgent(t)
	sink := testkit.NewSink(t)
	s := startSite(t, fmt.Sprintf(shapingGlobals, agent.Addr(), sink.URL), shapingRoutes)

	resp, body := s.post("/td?lang=de", []byte(`{"prompt":"hello"}`), tdToken)
	wantStatus(t, resp, body, 200, "")
	var a struct {
		Answer string `json:"answer"`
		Status int    `json:"status"`
		Chat   string `json:"chat"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s", body)
	}
	chat := resp.Header.Get("X-Chat-Id")
	if a.Answer != "got hello" || a.Status != 200 || chat == "" || a.Chat != chat || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %s, chat %q", body, chat)
	}
	if resp.Header.Get("X-Conversation-Id") != "" {
		t.Fatal("the backend's conversation id reached the caller")
	}
	calls := agent.Calls()
	var sent map[string]any
	if err := json.Unmarshal(calls[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["input"] != "hello" || sent["chat"] != chat || sent["new"] != true || sent["lang"] != "de" || sent["tenant"] != "acme" ||
		!strings.HasPrefix(sent["caller"].(string), "support-sync:/td/") || calls[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("the backend got %s", calls[0].Body)
	}
	if calls[0].Header.Get("Authorization") != "" {
		t.Fatal("the caller's credentials reached the backend")
	}

	// The chat continues: $chat.new is false and the conversation id goes
	// back to the backend.
	resp, body = s.post("/td", []byte(`{"prompt":"again"}`), map[string]string{"Authorization": "Bearer td-token", "X-Continue-Chat-Id": chat})
	wantStatus(t, resp, body, 200, "")
	calls = agent.Calls()
	_ = json.Unmarshal(calls[1].Body, &sent)
	if sent["new"] != false || sent["chat"] != chat || calls[1].Header.Get("X-Conversation-Id") != "conv-1" {
		t.Fatalf("second turn sent %s with conversation %q", calls[1].Body, calls[1].Header.Get("X-Conversation-Id"))
	}

	// The endpoint's request replaces the agent's; the agent's answer stays.
	resp, body = s.post("/docsgpt", []byte(`{"question":"why?"}`), tdToken)
	wantStatus(t, resp, body, 200, "")
	if err := json.Unmarshal(body, &a); err != nil || a.Answer != "got Q: why?" {
		t.Fatalf("override: %s", body)
	}
	// The endpoint's answer replaces the agent's.
	resp, body = s.post("/raw-answer", []byte(`{"prompt":"x"}`), tdToken)
	wantStatus(t, resp, body, 200, "")
	if m := decode(t, body); m["raw"] == nil {
		t.Fatalf("answer override: %s", body)
	}

	// A non-2xx answer is shaped too, and keeps its status.
	resp, body = s.post("/td", []byte(`{"prompt":"fail"}`), tdToken)
	if resp.StatusCode != 422 || !strings.Contains(string(body), `"status":422`) {
		t.Fatalf("backend 422: %d %s", resp.StatusCode, body)
	}

	// The answer expression fails: 502 with its error.
	resp, body = s.post("/td", []byte(`{"prompt":"boom","secret":"SECRET-BODY-4711"}`), tdToken)
	wantStatus(t, resp, body, 502, "expression_failed")
	if !strings.Contains(string(body), "answer expression: error: the backend said boom") {
		t.Fatalf("answer failure: %s", body)
	}
	// The request expression fails: 502, and the backend is not called.
	before := agent.Requests()
	resp, body = s.post("/td", []byte(`{"prompt":{"SECRET-BODY-4711":1}}`), tdToken)
	wantStatus(t, resp, body, 502, "expression_failed")
	if !strings.Contains(string(body), "request expression") || strings.Contains(string(body), "SECRET-BODY") || agent.Requests() != before {
		t.Fatalf("request failure: %s", body)
	}
	resp, body = s.post("/td", []byte(`"just a string"`), tdToken)
	wantStatus(t, resp, body, 502, "expression_failed")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.caddy.WaitLog(ctx, "expression failed") || strings.Contains(s.caddy.Log(), "SECRET-BODY") {
		t.Fatal("the failure was not logged, or the log holds a body")
	}
}

// TestShapingAsync: a task's request and answer are shaped by the worker,
// a failing expression fails the task with its error, and a callback's
// payload expression renders its body.
func TestShapingAsync(t *testing.T) {
	t.Parallel()
	agent := shapingAgent(t)
	sink := testkit.NewSink(t)
	s := startSite(t, fmt.Sprintf(shapingGlobals, agent.Addr(), sink.URL), shapingRoutes)

	task, chat := s.submit("/tasks?lang=fr", `{"question":"hi"}`, tdToken)
	v := s.waitFinal(task, 10*time.Second)
	var a struct {
		Answer string `json:"answer"`
		Chat   string `json:"chat"`
	}
	if v.Status != "SUCCESS" || json.Unmarshal(v.Result, &a) != nil || a.Answer != "got hi" || a.Chat != chat {
		t.Fatalf("task %+v %s", v, v.Result)
	}
	var sent map[string]any
	_ = json.Unmarshal(agent.Calls()[0].Body, &sent)
	if sent["input"] != "hi" || sent["lang"] != "fr" || sent["tenant"] != "acme" || sent["chat"] != chat || sent["new"] != true {
		t.Fatalf("the backend got %s", agent.Calls()[0].Body)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 1 }, "no delivery")
	var p map[string]any
	if err := json.Unmarshal(sink.Received()[0].Body, &p); err != nil || p["text"] != "got hi" || p["status"] != "SUCCESS" || p["chat"] != chat || p["task"] != task {
		t.Fatalf("payload %s", sink.Received()[0].Body)
	}

	// The answer expression fails: FAILURE with its error, not retried.
	task, _ = s.submit("/tasks", `{"prompt":"boom"}`, tdToken)
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "FAILURE" || !strings.Contains(v.Error, "answer expression: error: the backend said boom") || v.Attempts != 1 {
		t.Fatalf("answer failure: %+v", v)
	}
	// The request expression fails: FAILURE, and the backend is not called.
	before := agent.Requests()
	task, _ = s.submit("/tasks", `[1,2]`, tdToken)
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "FAILURE" || !strings.Contains(v.Error, "request expression") || agent.Requests() != before {
		t.Fatalf("request failure: %+v", v)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 3 }, "the failures were not delivered")
}

// TestShapingHistory: with history on, each chat's exchanges are kept and
// the request expression reads them as $history, on sync and async
// endpoints alike; another chat has its own.
func TestShapingHistory(t *testing.T) {
	t.Parallel()
	agent := shapingAgent(t)
	s := startSite(t, fmt.Sprintf(`		agent support {
			reverse_proxy %s
			history 4
			request `+"`"+`{input: .prompt, past: [$history[] | "\(.role): \(.content)"]}`+"`"+`
			answer `+"`"+`{answer: .output}`+"`"+`
		}
`, agent.Addr()), shapingRoutes)
	past := func(i int) []string {
		var sent struct {
			Past []string `json:"past"`
		}
		_ = json.Unmarshal(agent.Calls()[i].Body, &sent)
		return sent.Past
	}
	resp, body := s.post("/td", []byte(`{"prompt":"one"}`), tdToken)
	wantStatus(t, resp, body, 200, "")
	chat := map[string]string{"Authorization": "Bearer td-token", "X-Continue-Chat-Id": resp.Header.Get("X-Chat-Id")}
	for _, p := range []string{"two", "three"} {
		resp, body = s.post("/td", []byte(`{"prompt":"`+p+`"}`), chat)
		wantStatus(t, resp, body, 200, "")
	}
	want := []string{"user: two", "assistant: got two"}
	if got := past(2); fmt.Sprint(got) != fmt.Sprint(append([]string{"user: one", "assistant: got one"}, want...)) {
		t.Fatalf("third turn's history %q", got)
	}
	// A new chat starts with none.
	resp, body = s.post("/td", []byte(`{"prompt":"other"}`), tdToken)
	wantStatus(t, resp, body, 200, "")
	if got := past(3); len(got) != 0 {
		t.Fatalf("a new chat's history %q", got)
	}
	// History 4 keeps the last two exchanges.
	resp, body = s.post("/td", []byte(`{"prompt":"four"}`), chat)
	wantStatus(t, resp, body, 200, "")
	if got := past(4); fmt.Sprint(got) != fmt.Sprint([]string{"user: two", "assistant: got two", "user: three", "assistant: got three"}) {
		t.Fatalf("fourth turn's history %q", got)
	}
	// Async: the worker reads and keeps the history, task after task.
	task, achat := s.submit("/tasks", `{"prompt":"a1"}`, tdToken)
	if v := s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("task %+v", v)
	}
	task, _ = s.submit("/tasks", `{"prompt":"a2"}`, map[string]string{"Authorization": "Bearer td-token", "X-Continue-Chat-Id": achat})
	if v := s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("task %+v", v)
	}
	if got := past(6); fmt.Sprint(got) != fmt.Sprint([]string{"user: a1", "assistant: got a1"}) {
		t.Fatalf("async turn's history %q", got)
	}
}
