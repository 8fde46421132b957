package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(OpenAI{})
	httpcaddyfile.RegisterHandlerDirective("agenthook_demo_openai", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		d := new(OpenAI)
		return d, d.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("agenthook_demo_openai", httpcaddyfile.Before, "respond")
}

// OpenAI is a stand-in for an OpenAI-compatible chat-completions server
// (POST /v1/chat/completions), for trying `adapter openai`, not for
// production. It is stateless, as those servers are: it answers from the
// messages it is sent, and says how many of the caller's messages the
// conversation holds, so that the history agenthook keeps shows:
//
//	You said: "Where is my order?" (message 2 of this chat; I was told: Be brief.)
//
// With "stream": true it streams the answer word by word as
// chat.completion.chunk events, with the usage in a last chunk when
// stream_options.include_usage asks for it.
type OpenAI struct{}

var completionSeq atomic.Int64

// CaddyModule returns the Caddy module information.
func (OpenAI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_demo_openai",
		New: func() caddy.Module { return new(OpenAI) },
	}
}

// UnmarshalCaddyfile sets up the demo server. Syntax:
//
//	agenthook_demo_openai
func (d *OpenAI) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next()
	if disp.NextArg() {
		return disp.ArgErr()
	}
	return nil
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func (m chatMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	return string(m.Content)
}

type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func openAIError(w http.ResponseWriter, status int, msg, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nilIfEmpty(param), "code": nil,
	}})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (d *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		openAIError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "")
		return nil
	}
	var req chatRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &req) != nil {
		openAIError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "")
		return nil
	}
	if req.Model == "" {
		openAIError(w, http.StatusBadRequest, "you must provide a model parameter", "model")
		return nil
	}
	if len(req.Messages) == 0 {
		openAIError(w, http.StatusBadRequest, "[] is too short - 'messages'", "messages")
		return nil
	}
	users, system, prompt := 0, "", 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.text()))
		switch m.Role {
		case "user":
			users++
		case "system", "developer":
			system = m.text()
		}
	}
	answer := fmt.Sprintf("You said: %q (message %d of this chat", req.Messages[len(req.Messages)-1].text(), users)
	if system != "" {
		answer += "; I was told: " + system
	}
	answer += ")"
	completion := len(strings.Fields(answer))
	usage := map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	id := fmt.Sprintf("chatcmpl-demo%d", completionSeq.Add(1))
	created := time.Now().Unix()
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{
				"index": 0, "message": map[string]any{"role": "assistant", "content": answer, "refusal": nil},
				"logprobs": nil, "finish_reason": "stop",
			}},
			"usage": usage,
		})
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	chunk := func(delta map[string]any, finish any, u any) {
		choices := []any{}
		if delta != nil {
			choices = append(choices, map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish})
		}
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model, "choices": choices, "usage": u})
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)
	for i, word := range strings.Fields(answer) {
		if i > 0 {
			word = " " + word
		}
		chunk(map[string]any{"content": word}, nil, nil)
		time.Sleep(20 * time.Millisecond)
	}
	chunk(map[string]any{}, "stop", nil)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		chunk(nil, nil, usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler       = (*OpenAI)(nil)
)
