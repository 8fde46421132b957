package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/agenthook/agenthook/handler/api"
	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(Endpoint{})
}

// Endpoint is the `agenthook` HTTP handler: it authenticates callers,
// keeps their chats, and forwards to an agent, waiting for the answer
// (sync) or queueing a task and answering 202 (async).
type Endpoint struct {
	// Agent names the agent, as declared in the agenthook app.
	Agent string `json:"agent,omitempty"`
	// AgentFromToken picks the agent by the last path segment, matched
	// against the agents' webhook_tokens. The token authenticates the
	// caller, so no auth is needed besides.
	AgentFromToken bool `json:"agent_from_token,omitempty"`

	// Auth lists the accepted ways to authenticate, as modules of the
	// agenthook.auth namespace named by "scheme"; any one suffices. At
	// least one is required (use scheme "none" to accept anyone). A
	// caller is this endpoint, the line that verified it and, for Basic,
	// the user: the secrets of one line are one caller.
	Auth []json.RawMessage `json:"auth,omitempty" caddy:"namespace=agenthook.auth inline_key=scheme"`

	// Mode is "sync" (default) or "async".
	Mode string `json:"mode,omitempty"`
	// Format is "raw" (default) or "cognigy".
	Format string `json:"format,omitempty"`

	// ChatHeader names the response header with the chat id. Default
	// X-Chat-Id.
	ChatHeader string `json:"chat_header,omitempty"`
	// ContinueHeader names the request header that continues a chat.
	// Default X-Continue-Chat-Id.
	ContinueHeader string `json:"continue_header,omitempty"`
	// MaxBody bounds the request body, in bytes. Default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// ChatTTL is how long an unused chat lives. Default 30 days.
	ChatTTL caddy.Duration `json:"chat_ttl,omitempty"`
	// Timeout bounds a sync backend call. Default: none beyond the
	// reverse_proxy transport's own.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Sensitive keeps bodies out of all logs for this endpoint.
	Sensitive bool `json:"sensitive,omitempty"`
	// Name identifies the endpoint: it is the first part of its callers'
	// identities, and labels it in metrics and logs. Names are unique in
	// a config. Default: the agent's name and the mode, such as
	// "support-async" ("token-async" with agent_from_token); the
	// Caddyfile adds the directive's path matcher, such as
	// "support-async:/triggers/uptiq".
	Name string `json:"name,omitempty"`
	// ReplayTTL is how long signed message ids (Standard Webhooks'
	// webhook-id, Stripe's signed attempts) are remembered, so that a
	// sender's retry of an accepted message gets the first answer instead
	// of running again. Default 24h; never less than twice the
	// signature's tolerance.
	ReplayTTL caddy.Duration `json:"replay_ttl,omitempty"`

	// Request and Answer replace the agent's request and answer
	// expressions on this endpoint (see AgentConfig).
	Request string `json:"request,omitempty"`
	Answer  string `json:"answer,omitempty"`

	ep *endpoint.Endpoint
}

// CaddyModule returns the Caddy module information.
func (Endpoint) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook",
		New: func() caddy.Module { return new(Endpoint) },
	}
}

// Provision sets up the endpoint against the agenthook app.
func (e *Endpoint) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("agenthook")
	if err != nil {
		return fmt.Errorf("loading the agenthook app: %w", err)
	}
	app := appIface.(*App)
	if err := e.validate(); err != nil {
		return err
	}
	name := or(e.Name, e.defaultName())
	if err := app.ids.claim(name, e); err != nil {
		return err
	}
	auth, strip, err := loadAuth(ctx, e.Auth, false)
	if err != nil {
		return err
	}
	auth.Metrics = app.metrics
	format, _ := endpoint.Format(e.Format) // validate checked the name
	var over exchange.Override
	if over.Request, err = compileExpr(shape.Request, "request", e.Request); err != nil {
		return err
	}
	if over.Answer, err = compileExpr(shape.Answer, "answer", e.Answer); err != nil {
		return err
	}
	app.shapes.SetEndpoint(name, over)
	ep := &endpoint.Endpoint{
		Name:           name,
		Auth:           auth,
		Replay:         app.rt.store,
		ReplayTTL:      time.Duration(e.ReplayTTL),
		Hooks:          hooks(),
		Mode:           endpoint.Mode(e.Mode),
		Format:         format,
		Shapes:         app.shapes,
		ChatHeader:     or(e.ChatHeader, DefaultChatHeader),
		ContinueHeader: or(e.ContinueHeader, DefaultContinueHeader),
		MaxBody:        e.MaxBody,
		ChatTTL:        time.Duration(e.ChatTTL),
		Timeout:        time.Duration(e.Timeout),
		IdempotencyTTL: DefaultIdempotencyTTL,
		MaxQueue:       app.maxQueue(),
		Sensitive:      e.Sensitive,
		StripHeaders:   strip,
		Store:          app.rt.store,
		Origin:         app.rt.store.InstallationID,
		MaxHops:        app.Delivery.MaxHops,
		Logger:         ctx.Logger(),
		Metrics:        app.metrics,
		Now:            nowFunc,
	}
	if ep.Mode == "" {
		ep.Mode = DefaultMode
	}
	if ep.MaxBody == 0 {
		ep.MaxBody = DefaultMaxBody
	}
	if ep.ChatTTL == 0 {
		ep.ChatTTL = DefaultChatTTL
	}
	if e.AgentFromToken {
		ep.Tokens = signing.NewTokenSet()
		ep.Agents = app.agents
		for _, name := range app.agentNames() {
			for _, tok := range app.Agents[name].tokens {
				if err := ep.Tokens.Add(name, tok); err != nil {
					return fmt.Errorf("agent %s: webhook_token: %w", name, err)
				}
			}
		}
		if ep.Tokens.Len() == 0 {
			return errors.New("agent_from_token: no agent has a webhook_token")
		}
		ep.HideRequest = func(r *http.Request) {
			// Caddy's access log copies the request before any handler
			// runs, so the token can only be kept out by skipping it.
			caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
		}
	} else {
		ag, ok := app.agent(e.Agent)
		if !ok {
			return fmt.Errorf("agent %q is not declared in the agenthook global option", e.Agent)
		}
		ep.Agent = ag
	}
	app.ids.add(ep.KeyIDs())
	view := api.EndpointView{Name: name, Mode: string(ep.Mode), Sensitive: e.Sensitive, AgentFromToken: e.AgentFromToken}
	if e.AgentFromToken {
		for _, agent := range app.agentNames() {
			if len(app.Agents[agent].tokens) > 0 {
				app.ids.addEndpoint(agent, view)
			}
		}
	} else {
		app.ids.addEndpoint(e.Agent, view)
	}
	e.ep = ep
	return nil
}

// defaultName is the endpoint's name when none is given: the agent's name
// (or "token") and the mode.
func (e *Endpoint) defaultName() string {
	agent := e.Agent
	if e.AgentFromToken {
		agent = "token"
	}
	return agent + "-" + or(e.Mode, string(DefaultMode))
}

// validate checks the settings that need nothing else.
func (e *Endpoint) validate() error {
	if e.AgentFromToken && e.Agent != "" {
		return errors.New("give either an agent name or agent_from_token, not both")
	}
	if !e.AgentFromToken && e.Agent == "" {
		return errors.New("an agenthook endpoint needs an agent name (or agent_from_token)")
	}
	if len(e.Auth) == 0 && !e.AgentFromToken {
		return errors.New("an agenthook endpoint needs auth: add an auth line, or `auth none` to accept anyone")
	}
	if err := checkAuthSchemes(e.Auth); err != nil {
		return err
	}
	if e.ReplayTTL < 0 {
		return errors.New("replay_ttl must be positive")
	}
	switch e.Mode {
	case "", "sync", "async":
	default:
		return fmt.Errorf("mode %q: use sync or async", e.Mode)
	}
	if _, ok := endpoint.Format(e.Format); !ok {
		return fmt.Errorf("format %q: use %s", e.Format, strings.Join(endpoint.FormatNames(), " or "))
	}
	if e.MaxBody < 0 {
		return errors.New("max_body must be positive")
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The endpoint answers
// every request it matches; it never calls next.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	e.ep.ServeHTTP(w, r)
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Endpoint)(nil)
	_ caddyhttp.MiddlewareHandler = (*Endpoint)(nil)
)
