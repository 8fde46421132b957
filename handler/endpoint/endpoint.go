// Package endpoint holds agenthook's inbound HTTP endpoints: the agent
// endpoint, sync or async, with who is calling (Auth), chats and the
// request formats, and the task status endpoint.
package endpoint

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// Mode says whether an endpoint waits for the backend.
type Mode string

// The endpoint modes.
const (
	ModeSync  Mode = "sync"
	ModeAsync Mode = "async"
)

// endpointStore is what an endpoint reads and writes.
type endpointStore interface {
	GetChat(ctx context.Context, id string) (*store.Chat, error)
	SaveChat(ctx context.Context, c *store.Chat) error
	TaskCounts(ctx context.Context) (pending, started int, err error)
	CreateTask(ctx context.Context, n store.NewTask) (store.Created, error)
	History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error)
	AppendHistory(ctx context.Context, a store.HistoryAppend) error
}

// Endpoint is an agenthook HTTP endpoint: it authenticates the caller,
// resolves the chat, and calls the agent, synchronously or through the
// task queue. Its fields are set once, before the first request.
type Endpoint struct {
	// Name identifies the endpoint in logs and metrics.
	Name string

	// Agent is the endpoint's backend, or nil when Tokens picks it.
	Agent *handler.Agent
	// Tokens maps DocsGPT-style URL tokens (the last path segment) to
	// agent names in Agents. A token also authenticates the caller.
	Tokens *signing.TokenSet
	Agents map[string]*handler.Agent

	Auth Auth
	// Replay remembers the messages that sync requests name (Standard
	// Webhooks' webhook-id, Stripe's signed attempt), so that a duplicate
	// of an accepted message is answered without calling the backend
	// again. Async endpoints keep them as idempotency records instead.
	Replay store.ReplayGuard
	// ReplayTTL is how long a message is remembered (at least as long as
	// its verifier needs). Default DefaultReplayTTL.
	ReplayTTL time.Duration
	Mode      Mode
	// Format reads callers' bodies; nil reads them as raw.
	Format RequestFormat
	// Shapes holds the agents' request and answer expressions, and this
	// endpoint's overrides (looked up by Name); nil shapes nothing.
	Shapes *exchange.Set

	ChatHeader     string
	ContinueHeader string
	MaxBody        int64
	ChatTTL        time.Duration
	// Timeout bounds a synchronous backend call (0: only the transport's
	// own timeouts apply).
	Timeout        time.Duration
	IdempotencyTTL time.Duration
	// MaxQueue sheds async requests with 503 once this many tasks wait
	// (0: no limit).
	MaxQueue int
	// Sensitive keeps request and response bodies out of every log line.
	Sensitive bool
	// StripHeaders are removed before forwarding, so the backend never
	// sees the caller's credentials.
	StripHeaders []string

	// Origin returns this installation's id, which its deliveries carry:
	// a request that carries it is refused (508), since it is one of them
	// coming back. MaxHops is how many agenthook callbacks a request may
	// have passed through (0: handler.DefaultMaxHops).
	Origin  OriginFunc
	MaxHops int

	// HideRequest, if set, is called for requests whose URL holds a
	// token, so the server leaves them out of its access log; the endpoint
	// logs them itself, with the token replaced by the agent's name.
	HideRequest func(r *http.Request)

	Hooks

	Store   endpointStore
	Logger  *zap.Logger
	Metrics handler.Metrics
	Now     func() time.Time
}

// call is what one request resolved to before reaching the backend.
type call struct {
	agent     *handler.Agent
	principal string
	identity  Identity
	// remembered is set once the request's message is in Replay, so a
	// failure can forget it again.
	remembered bool
	chat       *store.Chat
	newChat    bool
	body       []byte
	sensitive  bool
	msg        Message
	// tokenAgent and tokenKeyID are what a URL token picked
	// (agent_from_token).
	tokenAgent *handler.Agent
	tokenKeyID string
	hops       int // of agenthook callbacks the request passed through
}

// ServeHTTP implements http.Handler.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agentName := "unknown"
	if e.Agent != nil {
		agentName = e.Agent.Name
	}
	c := &call{sensitive: e.Sensitive}
	start := time.Now()
	if e.Tokens != nil {
		e.hideToken(r, c)
		if c.tokenAgent != nil {
			agentName = c.tokenAgent.Name
		}
	}
	outcome, err := e.serve(w, r, c, &agentName)
	if err != nil || outcome == "backend_error" {
		// The sender will retry a failed message with the same id.
		e.forget(r.Context(), c)
	}
	if err != nil {
		var he *handler.Error
		if errors.As(err, &he) {
			outcome = he.Code
			if he.Status >= 500 && he.Err != nil {
				e.Logger.Error("request failed", zap.String("agent", agentName), zap.String("code", he.Code), zap.Error(he.Err))
			}
		} else {
			outcome = handler.CodeInternal
			e.Logger.Error("request failed", zap.String("agent", agentName), zap.Error(err))
		}
		handler.WriteError(w, err)
	}
	e.Metrics.Request(agentName, e.Name, outcome)
	if e.Tokens != nil {
		// r.URL no longer holds the token (see hideToken).
		e.Logger.Info("token request", zap.String("agent", agentName), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("remote_addr", r.RemoteAddr),
			zap.String("outcome", outcome), zap.Duration("duration", time.Since(start)))
	}
}

func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request, c *call, agentName *string) (string, error) {
	hops, err := e.checkLoop(r)
	if err != nil {
		return "", err
	}
	c.hops = hops
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "use POST")
	}
	body, err := readBody(r, e.MaxBody)
	if err != nil {
		return "", err
	}
	c.body = body
	if err := e.authenticate(r, c); err != nil {
		return "", err
	}
	*agentName = c.agent.Name
	e.value(r, ValueAgent, c.agent.Name)
	if e.Mode != ModeAsync {
		if dup, err := e.remember(w, r, c); dup || err != nil {
			return "duplicate", err
		}
	}
	msg, err := e.format().Read(c.body)
	if err != nil {
		return "", err
	}
	c.msg = msg
	if msg.Sensitive {
		c.sensitive = true
	}
	if err := e.resolveChat(r, c); err != nil {
		return "", err
	}
	if e.Mode == ModeAsync {
		return e.serveAsync(w, r, c)
	}
	return e.serveSync(w, r, c)
}

func (e *Endpoint) format() RequestFormat {
	if e.Format == nil {
		return rawRequest{}
	}
	return e.Format
}

// authenticate picks the agent and the caller's identity.
func (e *Endpoint) authenticate(r *http.Request, c *call) error {
	var id Identity
	if e.Tokens != nil {
		agent, keyID, err := e.agentFromToken(c)
		if err != nil {
			return err
		}
		// Every token of one agent is one principal, so rotating a
		// token keeps its callers' chats.
		c.agent, id = agent, Identity{Line: "token:" + agent.Name, KeyID: keyID}
	} else {
		c.agent = e.Agent
	}
	if e.Tokens == nil || e.Auth.Enabled() {
		var err error
		if id, err = e.Auth.Authenticate(r, c.body, e.Now()); err != nil {
			return err
		}
	}
	id.bind(e.Name)
	c.identity, c.principal = id, id.Principal
	e.identity(r, id)
	return nil
}

// KeyIDs maps every principal this endpoint can produce to the KeyIDs of
// the credentials behind it (see Auth.KeyIDs), URL tokens included.
func (e *Endpoint) KeyIDs() map[string][]string {
	m := e.Auth.KeyIDs(e.Name)
	if e.Tokens != nil && !e.Auth.Enabled() {
		for name := range e.Agents {
			if ids := e.Tokens.KeyIDs(name); len(ids) > 0 {
				m[Principal(e.Name, "token:"+name, "")] = ids
			}
		}
	}
	return m
}

// Interface guard
var _ http.Handler = (*Endpoint)(nil)
