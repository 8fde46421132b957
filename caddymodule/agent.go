package caddymodule

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
)

// AgentConfig declares one agent backend.
type AgentConfig struct {
	// ReverseProxy is a Caddy reverse_proxy handler: upstreams, load
	// balancing, health checks and transport are Caddy's own.
	ReverseProxyRaw json.RawMessage `json:"reverse_proxy,omitempty" caddy:"namespace=http.handlers inline_key=handler"`

	// ConversationHeader carries the backend's own conversation id.
	ConversationHeader string `json:"conversation_header,omitempty"`

	// WebhookTokens are DocsGPT-style URL tokens that select this agent
	// on endpoints with agent_from_token. Give them as "sha256:<hex>"
	// (what `caddy adapt` writes for literal tokens) or as placeholders.
	WebhookTokens []string `json:"webhook_tokens,omitempty"`

	// Callbacks receive the agent's task results.
	Callbacks []*CallbackConfig `json:"callbacks,omitempty"`

	// Request is a jq expression that turns the caller's body into the
	// backend's, with $chat, $caller, $headers, $query and $history.
	Request string `json:"request,omitempty"`
	// Answer is a jq expression that turns the backend's answer into what
	// sync callers get and tasks keep, with $status, $headers, $chat and
	// $task.
	Answer string `json:"answer,omitempty"`
	// History keeps each chat's turns (the caller's message and the
	// answer) for stateless backends; the request expression reads them
	// as $history.
	History *HistoryConfig `json:"history,omitempty"`
	// Adapter fronts a backend of a known shape with a preset of request
	// and answer expressions (the README shows them); request and answer
	// given beside it replace the preset's.
	Adapter *AdapterConfig `json:"adapter,omitempty"`

	tokens    []string             // hashed, after placeholders
	callbacks []*delivery.Callback // provisioned
	shaping   *exchange.Shaping    // provisioned
}

func (c *AgentConfig) provision(ctx caddy.Context, name string, eg *egress, maxTimeout time.Duration) (*handler.Agent, error) {
	if c.ReverseProxyRaw == nil {
		return nil, errors.New("an agent needs a reverse_proxy to its backend")
	}
	mod, err := ctx.LoadModule(c, "ReverseProxyRaw")
	if err != nil {
		return nil, fmt.Errorf("loading reverse_proxy: %w", err)
	}
	rp, ok := mod.(caddyhttp.MiddlewareHandler)
	if !ok {
		return nil, fmt.Errorf("reverse_proxy is a %T, not an HTTP handler", mod)
	}
	ag := &handler.Agent{
		Name:               name,
		Backend:            &proxyBackend{handler: rp},
		ConversationHeader: c.ConversationHeader,
	}
	sh, err := c.provisionShaping()
	if err != nil {
		return nil, err
	}
	c.shaping = sh
	c.callbacks = c.callbacks[:0]
	repl := caddy.NewReplacer()
	c.tokens = c.tokens[:0]
	for i, tok := range c.WebhookTokens {
		v, err := resolveSecret(repl, tok)
		if err != nil {
			return nil, fmt.Errorf("webhook_token %d: %w", i+1, err)
		}
		if !signing.IsHashedToken(v) {
			v = signing.HashToken(v)
		}
		c.tokens = append(c.tokens, v)
	}
	for i, cb := range c.Callbacks {
		hc, err := cb.provision(repl, name, i, eg, maxTimeout)
		if err != nil {
			return nil, fmt.Errorf("callback %d: %w", i+1, err)
		}
		c.callbacks = append(c.callbacks, hc)
	}
	return ag, nil
}

// AdapterConfig is an adapter preset and its settings.
type AdapterConfig struct {
	// Name is "openai" (chat completions) or "langserve".
	Name string `json:"name"`
	// Model is the model to ask (openai; required).
	Model string `json:"model,omitempty"`
	// System is the system message sent first (openai).
	System string `json:"system,omitempty"`
	// History is how many turns of each chat are kept and sent (openai).
	History int `json:"history,omitempty"`
	// Path is the backend path: default /v1/chat/completions (openai);
	// the runnable's path, whose /invoke is called (langserve).
	Path string `json:"path,omitempty"`
}

// preset builds the adapter's preset.
func (c *AdapterConfig) preset() (adapter.Preset, error) {
	switch c.Name {
	case "openai":
		return adapter.OpenAI(adapter.OpenAIOptions{Model: c.Model, System: c.System, History: c.History, Path: c.Path})
	case "langserve":
		if c.Model != "" || c.System != "" || c.History != 0 {
			return adapter.Preset{}, errors.New("adapter langserve takes only path")
		}
		return adapter.LangServe(adapter.LangServeOptions{Path: c.Path})
	}
	return adapter.Preset{}, fmt.Errorf("adapter %q: use openai or langserve", c.Name)
}

// HistoryConfig bounds the turns kept per chat.
type HistoryConfig struct {
	// Turns is how many turns are kept (a question and its answer are
	// two).
	Turns int `json:"turns"`
	// MaxBytes bounds their size. Default 256 KiB.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// DefaultHistoryBytes is the size bound of a chat's history when none is
// given.
const DefaultHistoryBytes = 256 << 10

// maxHistoryBytes keeps a history well inside one stored record.
const maxHistoryBytes = 4 << 20

func (h *HistoryConfig) limits() (history.Limits, error) {
	if h == nil {
		return history.Limits{}, nil
	}
	if h.Turns <= 0 {
		return history.Limits{}, errors.New("history: the number of turns must be positive")
	}
	if h.MaxBytes < 0 || h.MaxBytes > maxHistoryBytes {
		return history.Limits{}, fmt.Errorf("history: the size bound must be positive and at most %d bytes", maxHistoryBytes)
	}
	return history.Limits{MaxTurns: h.Turns, MaxBytes: int(cmp.Or(h.MaxBytes, DefaultHistoryBytes))}, nil
}

// provisionShaping compiles the agent's expressions.
func (c *AgentConfig) provisionShaping() (*exchange.Shaping, error) {
	sh := new(exchange.Shaping)
	if c.Adapter != nil {
		p, err := c.Adapter.preset()
		if err != nil {
			return nil, err
		}
		a, err := p.Compile(exchange.Limits)
		if err != nil {
			return nil, err
		}
		sh.Adapter, sh.Request, sh.Answer, sh.Message, sh.Reply, sh.Path = a, a.Request, a.Answer, a.Message, a.Reply, p.Path
		if p.History > 0 {
			sh.History = history.Limits{MaxTurns: p.History, MaxBytes: DefaultHistoryBytes}
		}
	}
	var err error
	own := exchange.Override{}
	if own.Request, err = compileExpr(shape.Request, "request", c.Request); err != nil {
		return nil, err
	}
	if own.Answer, err = compileExpr(shape.Answer, "answer", c.Answer); err != nil {
		return nil, err
	}
	if own.Request != nil {
		sh.Request = own.Request
	}
	if own.Answer != nil {
		sh.Answer = own.Answer
	}
	if c.History != nil {
		if sh.History, err = c.History.limits(); err != nil {
			return nil, err
		}
	}
	return sh, nil
}

// compileExpr compiles an optional request or answer expression; "" is
// none.
func compileExpr(stage shape.Stage, opt, src string) (*shape.Program, error) {
	if src == "" {
		return nil, nil
	}
	p, err := shape.Compile(stage, src, exchange.Limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt, err)
	}
	return p, nil
}

// staticCallbacks returns the provisioned callbacks of every agent.
func (a *App) staticCallbacks() delivery.Static {
	static := make(delivery.Static, len(a.Agents))
	for name, ag := range a.Agents {
		if len(ag.callbacks) > 0 {
			static[name] = ag.callbacks
		}
	}
	return static
}

// resolveSecret replaces placeholders such as {env.X} and {file./path}.
// Errors name the placeholder, never its value.
func resolveSecret(repl *caddy.Replacer, s string) (string, error) {
	v, err := repl.ReplaceOrErr(s, true, true)
	if err != nil {
		return "", fmt.Errorf("resolving placeholder: %w", err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("the secret is empty")
	}
	return v, nil
}

// proxyBackend calls an agent through its reverse_proxy handler.
type proxyBackend struct {
	handler caddyhttp.MiddlewareHandler
}

// Upstreams implements handler.UpstreamReporter with reverse_proxy's
// own view of its upstreams.
func (b *proxyBackend) Upstreams() ([]handler.Upstream, bool) {
	rp, ok := b.handler.(*reverseproxy.Handler)
	if !ok {
		return nil, false
	}
	out := make([]handler.Upstream, 0, len(rp.Upstreams))
	for _, u := range rp.Upstreams {
		if u == nil || u.Host == nil {
			continue
		}
		out = append(out, handler.Upstream{Address: u.String(), Healthy: u.Healthy(), Available: u.Available(),
			NumRequests: u.NumRequests(), Fails: u.Fails()})
	}
	return out, rp.DynamicUpstreams != nil
}

// workerServer stands in for the HTTP server in requests that workers
// build themselves: reverse_proxy reads the server from the request
// context and panics without one.
var workerServer = &caddyhttp.Server{}

var noNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// Forward implements handler.Backend.
func (b *proxyBackend) Forward(w http.ResponseWriter, r *http.Request) error {
	if r.Context().Value(caddy.ReplacerCtxKey) == nil {
		// A worker's request: give it what Caddy gives a live one.
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, workerServer)
	}
	err := b.handler.ServeHTTP(w, r, noNext)
	if err == nil {
		return nil
	}
	status := http.StatusBadGateway
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		status = he.StatusCode
	}
	if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	return &handler.BackendError{Status: status, Err: err}
}

// Interface guard
var _ handler.UpstreamReporter = (*proxyBackend)(nil)

// nowFunc is the clock of every module; a variable for tests.
var nowFunc = time.Now
