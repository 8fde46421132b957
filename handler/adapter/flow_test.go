package adapter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/internal/testkit/fakelangserve"
	"github.com/agenthook/agenthook/internal/testkit/fakeopenai"
)

// exchange is what the runner will do with an adapter (next round): shape
// the caller's body, POST it, shape a 2xx answer, and keep both turns.
type exchange struct {
	t    *testing.T
	a    *Adapter
	base string
	hist []history.Turn
}

func (x *exchange) send(body string) (status int, shaped string, err *APIError) {
	x.t.Helper()
	ctx := context.Background()
	in := shape.Body([]byte(body), "application/json")
	sent := history.Last(x.hist, x.a.Preset.History)
	req, rerr := x.a.Request.Run(ctx, in, shape.RequestEnv{History: sent})
	if rerr != nil {
		x.t.Fatal(rerr)
	}
	resp, herr := http.Post(x.base+x.a.Preset.Path, "application/json", bytes.NewReader(req))
	if herr != nil {
		x.t.Fatal(herr)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, "", ParseError(resp.StatusCode, answer)
	}
	out, aerr := x.a.Answer.Run(ctx, shape.Body(answer, resp.Header.Get("Content-Type")), shape.AnswerEnv{Status: resp.StatusCode})
	if aerr != nil {
		x.t.Fatal(aerr)
	}
	user, _ := x.a.Message.Run(ctx, in, shape.RequestEnv{})
	reply, _ := x.a.Reply.Run(ctx, shape.Body(out, "application/json"), shape.AnswerEnv{Status: resp.StatusCode})
	now := time.Now()
	x.hist = history.Append(x.hist, history.Limits{MaxTurns: x.a.Preset.History, MaxBytes: 1 << 20},
		history.Turn{Role: history.RoleUser, Content: user, At: now},
		history.Turn{Role: history.RoleAssistant, Content: reply, At: now})
	return resp.StatusCode, string(out), nil
}

func TestOpenAIFlowWithHistory(t *testing.T) {
	srv := fakeopenai.New(t)
	x := &exchange{t: t, a: compile(t, must(OpenAI(OpenAIOptions{Model: "m", System: "sys", History: 4}))), base: srv.URL}
	for i, body := range []string{`{"prompt":"one"}`, `{"question":"two"}`, `{"userId":"u","sessionId":"s","text":"three"}`, `{"event":"four"}`} {
		status, shaped, _ := x.send(body)
		var a struct {
			Answer string `json:"answer"`
			Usage  struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		}
		if status != 200 || json.Unmarshal([]byte(shaped), &a) != nil || a.Answer == "" || a.Usage.TotalTokens == 0 {
			t.Fatalf("turn %d: %d %s", i, status, shaped)
		}
	}
	reqs := srv.Requests()
	var roles []string
	for _, m := range reqs[3].Messages {
		roles = append(roles, m.Role+":"+m.Text())
	}
	// history 4: the last two exchanges, between the system message and
	// the new one.
	want := []string{"system:sys", "user:two", "assistant:echo: two", "user:three", "assistant:echo: three", `user:{"event":"four"}`}
	if len(roles) != len(want) {
		t.Fatalf("messages %q", roles)
	}
	for i := range want {
		if roles[i] != want[i] {
			t.Errorf("message %d: %q, want %q", i, roles[i], want[i])
		}
	}
	srv.FailNext(http.StatusTooManyRequests, 1)
	if status, _, err := x.send(`{"prompt":"five"}`); status != 429 || err == nil || err.Code != "rate_limit_exceeded" {
		t.Errorf("%d %v", status, err)
	}
}

func TestOpenAIStreamFlow(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Reply = func(fakeopenai.Request) string { return "streamed answer here" }
	a := compile(t, must(OpenAI(OpenAIOptions{Model: "m", Stream: true})))
	req, err := a.Request.Run(context.Background(), shape.Body([]byte(`{"prompt":"hi"}`), ""), shape.RequestEnv{})
	if err != nil {
		t.Fatal(err)
	}
	resp, herr := http.Post(srv.URL+a.Preset.Path, "application/json", bytes.NewReader(req))
	if herr != nil {
		t.Fatal(herr)
	}
	defer resp.Body.Close()
	// As the sync endpoint will: copy the backend's answer to the caller
	// through a StreamWriter.
	rec := httptest.NewRecorder()
	asm := NewAssembler(0)
	w := NewStreamWriter(rec, asm)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	raw, _ := io.ReadAll(io.TeeReader(resp.Body, w))
	if !bytes.Equal(rec.Body.Bytes(), raw) {
		t.Error("the caller did not get the stream as sent")
	}
	s := asm.Finish()
	if s.Text != "streamed answer here" || s.FinishReason != "stop" || !s.Done || s.Usage == nil || s.Usage.Completion != 3 {
		t.Errorf("%+v", s)
	}
}

func TestLangServeFlow(t *testing.T) {
	srv := fakelangserve.New(t, "/chain")
	srv.ChatModel = true
	x := &exchange{t: t, a: compile(t, must(LangServe(LangServeOptions{Path: "/chain"}))), base: srv.URL}
	status, shaped, _ := x.send(`{"question":"q?"}`)
	var a struct {
		Answer string `json:"answer"`
		RunID  string `json:"run_id"`
	}
	if status != 200 || json.Unmarshal([]byte(shaped), &a) != nil || a.Answer != "echo: q?" || a.RunID == "" {
		t.Errorf("%d %s", status, shaped)
	}
	srv.FailNext(http.StatusInternalServerError, 1)
	if status, _, err := x.send(`{"question":"q?"}`); status != 500 || err == nil || err.Error() != "backend answered 500 (no error message)" {
		t.Errorf("%d %v", status, err)
	}
}
