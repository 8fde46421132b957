package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/internal/testkit/fakelangserve"
	"github.com/agenthook/agenthook/internal/testkit/fakeopenai"
	"github.com/agenthook/agenthook/signing"
)

// openAIAnswer is the openai adapter's answer.
type openAIAnswer struct {
	Answer       string `json:"answer"`
	Model        string `json:"model"`
	FinishReason string `json:"finish_reason"`
	Usage        struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// lastMessages is the messages of the backend's last request, as
// "role: text".
func lastMessages(srv *fakeopenai.Server) []string {
	reqs := srv.Requests()
	var out []string
	for _, m := range reqs[len(reqs)-1].Messages {
		out = append(out, m.Role+": "+m.Text())
	}
	return out
}

// TestAdapterOpenAIFiveCallers: the five caller styles (Treasure Data,
// DocsGPT, UPTIQ, Cognigy and a Tess-style registered callback) against
// one OpenAI-compatible backend, each chat continuing across turns with
// its history; streaming for a sync caller that asks for it; backend
// errors as clear agenthook errors, retried for tasks; token usage in
// results and the metric.
func TestAdapterOpenAIFiveCallers(t *testing.T) {
	t.Parallel()
	srv := fakeopenai.New(t)
	cognigySink, tessSink := testkit.NewSink(t), testkit.NewSink(t)
	// Treasure Data's prompt URLs carry Basic auth (a bcrypt hash, as
	// `caddy hash-password` makes; cost 4 keeps the test quick).
	tdHash, err := signing.HashPassword("td-pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 50ms 50ms
		}
		queue {
			backoff 50ms
		}
		agent support {
			reverse_proxy %s
			webhook_token docsgpt-token
			adapter openai {
				model gpt-test
				system "Be brief."
				history 4
			}
			callback %s/cognigy {
				format cognigy
				endpoint cognigy
			}
		}
`, strings.TrimPrefix(srv.URL, "http://"), cognigySink.URL), `
	agenthook /td support {
		auth basic {
			td-user `+tdHash+`
		}
	}
	agenthook /api/webhooks/agents/* {
		agent_from_token
		mode async
	}
	agenthook /uptiq support {
		auth bearer uptiq-token
		mode async
		name uptiq
	}
	agenthook /cognigy support {
		auth bearer cognigy-token
		mode async
		format cognigy
		name cognigy
	}
	agenthook /tess support {
		auth bearer tess-token
		mode async
		name tess
	}
	agenthook_status /api/task_status*
	@api path /api/agents/*
	agenthook_api @api {
		bearer `+apiKey+`
	}
`)
	// Treasure Data: sync, Basic auth, {"prompt"}, the chat continued by
	// header.
	tdAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("td-user:td-pw"))
	td := map[string]string{"Authorization": tdAuth}
	resp, body := s.post("/td", []byte(`{"prompt":"Hello"}`), td)
	wantStatus(t, resp, body, 200, "")
	var a openAIAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Answer != "echo: Hello" || a.Model != "gpt-test" || a.FinishReason != "stop" || a.Usage.TotalTokens == 0 {
		t.Fatalf("answer %s", body)
	}
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: Hello]" {
		t.Fatalf("first request %s", got)
	}
	td["X-Continue-Chat-Id"] = resp.Header.Get("X-Chat-Id")
	resp, body = s.post("/td", []byte(`{"prompt":"And then?"}`), td)
	wantStatus(t, resp, body, 200, "")
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: Hello assistant: echo: Hello user: And then?]" {
		t.Fatalf("second request %s", got)
	}

	// Streaming: the chunks pass through, and the assembled answer is the
	// next turn's history.
	stream := map[string]string{"Authorization": tdAuth, "X-Continue-Chat-Id": td["X-Continue-Chat-Id"], "Accept": "text/event-stream"}
	resp, body = s.post("/td", []byte(`{"prompt":"Stream it"}`), stream)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || resp.Header.Get("X-Chat-Id") == "" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	if reqs := srv.Requests(); !reqs[len(reqs)-1].Stream {
		t.Fatal("stream: true was not sent to the backend")
	}
	var chunks int
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: {") {
			chunks++
		}
	}
	if chunks < 3 || !strings.Contains(string(body), "data: [DONE]") {
		t.Fatalf("stream body %s", body)
	}
	resp, body = s.post("/td", []byte(`{"prompt":"After the stream"}`), td)
	wantStatus(t, resp, body, 200, "")
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: And then? assistant: echo: And then? user: Stream it assistant: echo: Stream it user: After the stream]" {
		t.Fatalf("after the stream %s", got)
	}

	// A backend error is a clear agenthook error.
	srv.FailNext(http.StatusTooManyRequests, 1)
	resp, body = s.post("/td", []byte(`{"prompt":"again"}`), td)
	wantStatus(t, resp, body, 502, "backend_error")
	if !strings.Contains(string(body), "backend answered 429") {
		t.Fatalf("429: %s", body)
	}

	// DocsGPT: async by URL token, {"question"}, the chat continued.
	task, chat := s.submit("/api/webhooks/agents/docsgpt-token", `{"question":"What is agenthook?"}`, nil)
	v := s.waitFinal(task, 10*time.Second)
	if v.Status != "SUCCESS" || json.Unmarshal(v.Result, &a) != nil || a.Answer != "echo: What is agenthook?" || a.Usage.TotalTokens == 0 {
		t.Fatalf("docsgpt task %+v %s", v, v.Result)
	}
	// A 503 is retried, and the chat goes on.
	srv.FailNext(http.StatusServiceUnavailable, 1)
	task, _ = s.submit("/api/webhooks/agents/docsgpt-token", `{"question":"Really?"}`, map[string]string{"X-Continue-Chat-Id": chat})
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "SUCCESS" || v.Attempts != 2 {
		t.Fatalf("retried task %+v", v)
	}
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: What is agenthook? assistant: echo: What is agenthook? user: Really?]" {
		t.Fatalf("docsgpt second turn %s", got)
	}
	// A 400 is not retried, and says why.
	srv.FailNext(http.StatusUnauthorized, 1)
	task, _ = s.submit("/api/webhooks/agents/docsgpt-token", `{"question":"x"}`, nil)
	if v = s.waitFinal(task, 10*time.Second); v.Status != "FAILURE" || v.Attempts != 1 || !strings.Contains(v.Error, "backend answered 401 invalid_api_key") {
		t.Fatalf("401 task %+v", v)
	}

	// UPTIQ: an event without a message field goes as its JSON text.
	uptiq := map[string]string{"Authorization": "Bearer uptiq-token"}
	task, chat = s.submit("/uptiq", `{"event":"loan.updated","data":{"id":7}}`, uptiq)
	if v = s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("uptiq %+v", v)
	}
	uptiq["X-Continue-Chat-Id"] = chat
	task, _ = s.submit("/uptiq", `{"event":"loan.closed"}`, uptiq)
	if v = s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("uptiq %+v", v)
	}
	if got := lastMessages(srv); len(got) != 4 || got[1] != `user: {"data":{"id":7},"event":"loan.updated"}` || got[3] != `user: {"event":"loan.closed"}` {
		t.Fatalf("uptiq messages %q", got)
	}

	// Cognigy: its session continues the chat, and the callback's text is
	// the answer.
	cognigy := map[string]string{"Authorization": "Bearer cognigy-token"}
	for _, text := range []string{"I need help", "With my order"} {
		task, _ = s.submit("/cognigy", `{"userId":"u1","sessionId":"s1","text":"`+text+`"}`, cognigy)
		if v = s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("cognigy %+v", v)
		}
	}
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: I need help assistant: echo: I need help user: With my order]" {
		t.Fatalf("cognigy second turn %s", got)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(cognigySink.Received()) == 2 }, "cognigy deliveries")
	// The callback is not ordered: the two turns' deliveries may arrive
	// either way round. Each must be there, for u1, with its answer.
	texts := map[string]bool{}
	for _, r := range cognigySink.Received() {
		var cp struct {
			UserID   string `json:"userId"`
			AIOutput struct {
				Text string `json:"text"`
			} `json:"AIOutput"`
		}
		if err := json.Unmarshal(r.Body, &cp); err != nil || cp.UserID != "u1" {
			t.Fatalf("cognigy payload %s", r.Body)
		}
		texts[cp.AIOutput.Text] = true
	}
	if !texts["echo: I need help"] || !texts["echo: With my order"] {
		t.Fatalf("cognigy answers %v, want one for each turn", texts)
	}

	// Tess: a callback registered through the API for its endpoint gets
	// the answers of a chat that continues.
	resp, body = s.post("/api/agents/support/webhooks", []byte(fmt.Sprintf(`{"url":%q,"method":"POST","endpoint":"tess"}`, tessSink.URL+"/tess")), apiAuth)
	wantStatus(t, resp, body, 201, "")
	tess := map[string]string{"Authorization": "Bearer tess-token"}
	task, chat = s.submit("/tess", `{"message":"Hi from Tess"}`, tess)
	s.waitFinal(task, 10*time.Second)
	tess["X-Continue-Chat-Id"] = chat
	task, _ = s.submit("/tess", `{"message":"Second"}`, tess)
	s.waitFinal(task, 10*time.Second)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(tessSink.Received()) == 2 }, "tess deliveries")
	var raw struct {
		ChatID string       `json:"chat_id"`
		Result openAIAnswer `json:"result"`
	}
	if err := json.Unmarshal(tessSink.Received()[1].Body, &raw); err != nil || raw.ChatID != chat || raw.Result.Answer != "echo: Second" || raw.Result.Usage.TotalTokens == 0 {
		t.Fatalf("tess payload %s", tessSink.Received()[1].Body)
	}
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: Be brief. user: Hi from Tess assistant: echo: Hi from Tess user: Second]" {
		t.Fatalf("tess second turn %s", got)
	}

	// Token usage is counted.
	_, metrics := do(t, http.MethodGet, "http://"+s.caddy.Admin+"/metrics", nil, nil)
	for _, kind := range []string{"prompt", "completion", "total"} {
		if !strings.Contains(string(metrics), `caddy_agenthook_backend_tokens_total{agent="support",kind="`+kind+`"}`) {
			t.Errorf("/metrics lacks the %s tokens", kind)
		}
	}
}

// TestAdapterLangServe: POST <path>/invoke with {"input"}, the output as
// the answer, FastAPI's errors as agenthook's.
func TestAdapterLangServe(t *testing.T) {
	t.Parallel()
	srv := fakelangserve.New(t, "/chain")
	srv.ChatModel = true
	s := startSite(t, fmt.Sprintf(`		agent chain {
			reverse_proxy %s
			adapter langserve {
				path /chain
			}
		}
`, strings.TrimPrefix(srv.URL, "http://")), `
	agenthook /ask chain {
		auth none
	}
`)
	resp, body := s.post("/ask", []byte(`{"question":"What is LangServe?"}`), nil)
	wantStatus(t, resp, body, 200, "")
	var a struct {
		Answer string `json:"answer"`
		RunID  string `json:"run_id"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Answer != "echo: What is LangServe?" || a.RunID == "" {
		t.Fatalf("answer %s", body)
	}
	if in := srv.Inputs(); len(in) != 1 || string(in[0]) != `"What is LangServe?"` {
		t.Fatalf("inputs %s", in)
	}
	srv.FailNext(http.StatusInternalServerError, 1)
	resp, body = s.post("/ask", []byte(`{"question":"again"}`), nil)
	wantStatus(t, resp, body, 502, "backend_error")
	// A body without a message is the request expression's error.
	resp, body = s.post("/ask", []byte(``), nil)
	wantStatus(t, resp, body, 502, "expression_failed")
}
