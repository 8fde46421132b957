package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
)

// FuzzShaping feeds any caller body and any backend answer, in any
// content type, through the built-in shaping: the openai and langserve
// presets' request and answer, the history turns, and a stream request.
// Nothing panics, every output is JSON, every turn can be kept, and every
// error is a *shape.Error.
func FuzzShaping(f *testing.F) {
	for _, seed := range []struct{ body, ct, answer string }{
		{`{"prompt":"hi"}`, "application/json", `{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"total_tokens":3},"model":"m"}`},
		{`{"userId":"u","sessionId":"s","text":"t","data":{}}`, "", `{"output":{"content":"c","type":"ai"},"metadata":{"run_id":"r"}}`},
		{`{"event":"x","n":[1,2]}`, "application/json", `{"choices":[]}`},
		{`plain text`, "text/plain", `"just a string"`},
		{``, "application/json", ``},
		{`[1,2]`, "application/json", `{"error":{"message":"m","type":"t"}}`},
		{"\x00\xff", "application/octet-stream", "\xff"},
		{`{"question":""}`, "application/json", `{"choices":[{"message":{"content":null}}]}`},
		{`1e400`, "application/json", `{"usage":{"prompt_tokens":-1}}`},
	} {
		f.Add([]byte(seed.body), seed.ct, []byte(seed.answer))
	}
	var shapings []*Shaping
	for _, p := range []func() (adapter.Preset, error){
		func() (adapter.Preset, error) {
			return adapter.OpenAI(adapter.OpenAIOptions{Model: "m", System: "s", History: 4})
		},
		func() (adapter.Preset, error) { return adapter.LangServe(adapter.LangServeOptions{Path: "/c"}) },
	} {
		preset, err := p()
		if err != nil {
			f.Fatal(err)
		}
		a, err := preset.Compile(Limits)
		if err != nil {
			f.Fatal(err)
		}
		shapings = append(shapings, &Shaping{Adapter: a, Request: a.Request, Answer: a.Answer, Message: a.Message, Reply: a.Reply, History: history.Limits{MaxTurns: 4, MaxBytes: 1 << 16}})
	}
	shapings = append(shapings, &Shaping{History: history.Limits{MaxTurns: 4, MaxBytes: 1 << 16}})
	hist := []history.Turn{history.Text(history.RoleUser, "q", time.Time{}), {Role: history.RoleAssistant, Content: []byte(`{"a":1}`)}}
	f.Fuzz(func(t *testing.T, body []byte, ct string, answer []byte) {
		if len(body) > 4096 || len(answer) > 4096 || len(ct) > 100 {
			return
		}
		ctx := context.Background()
		for _, sh := range shapings {
			req, err := sh.ShapeRequest(ctx, body, ct, shape.RequestEnv{History: hist})
			check(t, "request", req, err, sh.Request != nil)
			if err == nil && sh.Request != nil {
				if s, err := StreamBody(req); err != nil || !json.Valid(s) {
					t.Fatalf("StreamBody(%s): %v", req, err)
				}
			}
			for _, status := range []int{200, 429} {
				out, err := sh.ShapeAnswer(ctx, status, http.Header{"Content-Type": {ct}}, answer, shape.AnswerEnv{})
				check(t, "answer", out, err, sh.Answer != nil && status == 200)
				_ = sh.BackendError(status, answer)
				if err == nil {
					_, _ = sh.Usage(out)
					turns, err := sh.Turns(ctx, body, ct, out, time.Time{})
					if err != nil {
						check(t, "turns", nil, err, true)
						continue
					}
					for _, turn := range turns {
						if !turn.Valid() {
							t.Fatalf("a turn that cannot be kept: %+v", turn)
						}
					}
				}
			}
		}
	})
}

// check: an error is a *shape.Error; an output of an expression is JSON.
func check(t *testing.T, what string, out []byte, err error, shaped bool) {
	t.Helper()
	if err != nil {
		var se *shape.Error
		if !errors.As(err, &se) {
			t.Fatalf("%s: error of type %T: %v", what, err, err)
		}
		return
	}
	if shaped && !json.Valid(out) {
		t.Fatalf("%s: output is not JSON: %q", what, out)
	}
}
