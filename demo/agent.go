package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Agent{})
	httpcaddyfile.RegisterHandlerDirective("agenthook_demo_agent", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		d := new(Agent)
		return d, d.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("agenthook_demo_agent", httpcaddyfile.Before, "respond")
}

// Agent is a stand-in agent backend for trying agenthook out, not for
// production. It answers every POST with the prompt it found and a turn
// count kept per conversation, in the X-Conversation-Id header's name:
//
//	{"answer": "You said: ...", "conversation_id": "conv-1", "turn": 2}
//
// With Accept: text/event-stream it streams the answer word by word.
// The query parameters ?sleep=<duration> and ?status=<code> make it slow
// or failing, to try timeouts and retries.
type Agent struct {
	// ConversationHeader is the header that carries the conversation id.
	// Default X-Conversation-Id.
	ConversationHeader string `json:"conversation_header,omitempty"`

	logger *zap.Logger
}

var (
	turns           sync.Map // conversation id -> *atomic.Int64
	conversationSeq atomic.Int64
)

// CaddyModule returns the Caddy module information.
func (Agent) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_demo_agent",
		New: func() caddy.Module { return new(Agent) },
	}
}

// Provision sets defaults.
func (d *Agent) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	if d.ConversationHeader == "" {
		d.ConversationHeader = "X-Conversation-Id"
	}
	return nil
}

// UnmarshalCaddyfile sets up the demo agent. Syntax:
//
//	agenthook_demo_agent [<conversation_header>]
func (d *Agent) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next()
	if disp.NextArg() {
		d.ConversationHeader = disp.Val()
	}
	if disp.NextArg() {
		return disp.ArgErr()
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (d *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	q := r.URL.Query()
	if s := q.Get("sleep"); s != "" {
		if dur, err := time.ParseDuration(s); err == nil && dur <= time.Minute {
			select {
			case <-time.After(dur):
			case <-r.Context().Done():
				return nil
			}
		}
	}
	if s := q.Get("status"); s != "" {
		if code, err := strconv.Atoi(s); err == nil && code >= 400 && code < 600 {
			http.Error(w, `{"error":"demo failure"}`, code)
			return nil
		}
	}
	conv := r.Header.Get(d.ConversationHeader)
	if conv == "" {
		conv = fmt.Sprintf("conv-%d", conversationSeq.Add(1))
	}
	counter, _ := turns.LoadOrStore(conv, new(atomic.Int64))
	turn := counter.(*atomic.Int64).Add(1)
	answer := "You said: " + promptOf(body)
	w.Header().Set(d.ConversationHeader, conv)
	d.logger.Info("demo agent answered", zap.String("conversation", conv), zap.Int64("turn", turn),
		zap.String("idempotency_key", r.Header.Get("Idempotency-Key")))
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for _, word := range strings.Fields(answer) {
			fmt.Fprintf(w, "data: %s\n\n", word)
			_ = rc.Flush()
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{
		"answer":          answer,
		"conversation_id": conv,
		"turn":            turn,
	})
}

// promptOf finds the prompt in common field names, or uses the body.
func promptOf(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"prompt", "question", "text", "message", "input", "event"} {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
	}
	s := string(bytes.TrimSpace(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Agent)(nil)
	_ caddyhttp.MiddlewareHandler = (*Agent)(nil)
	_ caddyfile.Unmarshaler       = (*Agent)(nil)
)
