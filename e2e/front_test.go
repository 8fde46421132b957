package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/internal/testkit/fakelangserve"
	"github.com/agenthook/agenthook/internal/testkit/fakeopenai"
)

// frontSite runs examples/front/<name>.Caddyfile with only what a user
// edits changed: the backend's address (and the receiver's, and the
// test's own ports).
func frontSite(t *testing.T, name string, replace map[string]string) *site {
	t.Helper()
	b, err := os.ReadFile("../examples/front/" + name + ".Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	c := testkit.New(t)
	c.Env = []string{"AGENTHOOK_TOKEN=front-example-token"}
	s := &site{t: t, caddy: c, port: testkit.FreePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	replace[":8080"] = fmt.Sprintf(":%d", s.port)
	replace["{\n\tagenthook {"] = "{\n\tadmin " + c.Admin + "\n\tagenthook {\n\t\tstorage badger " + c.Dir + "/badger"
	cf := string(b)
	for from, to := range replace {
		if !strings.Contains(cf, from) {
			t.Fatalf("examples/front/%s.Caddyfile no longer has %q", name, from)
		}
		cf = strings.ReplaceAll(cf, from, to)
	}
	c.Start(cf, s.port)
	return s
}

var frontAuth = map[string]string{"Authorization": "Bearer front-example-token"}

func TestFrontOpenAIExample(t *testing.T) {
	t.Parallel()
	srv := fakeopenai.New(t)
	s := frontSite(t, "openai", map[string]string{"127.0.0.1:8000": strings.TrimPrefix(srv.URL, "http://")})
	resp, body := s.post("/prompts", []byte(`{"prompt": "Where is my order?"}`), frontAuth)
	wantStatus(t, resp, body, 200, "")
	var a openAIAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Answer != "echo: Where is my order?" || a.Model != "llama3" || a.Usage.TotalTokens == 0 {
		t.Fatalf("answer %s", body)
	}
	next := map[string]string{"Authorization": frontAuth["Authorization"], "X-Continue-Chat-Id": resp.Header.Get("X-Chat-Id")}
	resp, body = s.post("/prompts", []byte(`{"prompt": "Thanks"}`), next)
	wantStatus(t, resp, body, 200, "")
	if got := fmt.Sprint(lastMessages(srv)); got != "[system: You are a helpful support agent. Answer briefly. user: Where is my order? assistant: echo: Where is my order? user: Thanks]" {
		t.Fatalf("second turn %s", got)
	}
	task, _ := s.submit("/tasks", `{"question": "Async?"}`, frontAuth)
	if v := s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" || json.Unmarshal(v.Result, &a) != nil || a.Answer != "echo: Async?" {
		t.Fatalf("task %+v", v)
	}
}

func TestFrontLangServeExample(t *testing.T) {
	t.Parallel()
	srv := fakelangserve.New(t, "/chain")
	s := frontSite(t, "langserve", map[string]string{"127.0.0.1:8000": strings.TrimPrefix(srv.URL, "http://")})
	resp, body := s.post("/prompts", []byte(`{"text": "Hi"}`), frontAuth)
	wantStatus(t, resp, body, 200, "")
	if m := decode(t, body); m["answer"] != "echo: Hi" {
		t.Fatalf("answer %s", body)
	}
}

func TestFrontJQExample(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct {
			Query string `json:"query"`
		}
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"reply": %q, "sources": ["kb/1"]}`, "About "+in.Query)
	}
	sink := testkit.NewSink(t)
	s := frontSite(t, "jq", map[string]string{
		"127.0.0.1:8000": agent.Addr(),
		"127.0.0.1:9003": strings.TrimPrefix(sink.URL, "http://"),
	})
	resp, body := s.post("/prompts", []byte(`{"question": "refunds"}`), frontAuth)
	wantStatus(t, resp, body, 200, "")
	if string(body) != `{"answer":"About refunds","sources":["kb/1"]}` {
		t.Fatalf("answer %s", body)
	}
	next := map[string]string{"Authorization": frontAuth["Authorization"], "X-Continue-Chat-Id": resp.Header.Get("X-Chat-Id")}
	resp, body = s.post("/prompts", []byte(`{"prompt": "and returns?"}`), next)
	wantStatus(t, resp, body, 200, "")
	var sent struct {
		Query        string `json:"query"`
		User         string `json:"user"`
		Conversation []struct{ Role, Text string }
	}
	if err := json.Unmarshal(agent.Calls()[1].Body, &sent); err != nil || sent.Query != "and returns?" || sent.User == "" ||
		fmt.Sprint(sent.Conversation) != "[{user refunds} {assistant About refunds}]" {
		t.Fatalf("the backend got %s", agent.Calls()[1].Body)
	}
	_, chat := s.submit("/tasks", `{"text": "shipping"}`, frontAuth)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 1 }, "no delivery")
	if got := string(sink.Received()[0].Body); got != fmt.Sprintf(`{"chat":%q,"status":"SUCCESS","text":"About shipping"}`, chat) {
		t.Fatalf("payload %s", got)
	}
}
