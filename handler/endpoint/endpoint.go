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
	Mode Mode
	// Format reads callers' bodies; nil reads them as raw.
	Format RequestFormat

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
	chat      *store.Chat
	newChat   bool
	body      []byte
	sensitive bool
	msg       Message
	hops      int // of agenthook callbacks the request passed through
}

// ServeHTTP implements http.Handler.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agentName := "unknown"
	if e.Agent != nil {
		agentName = e.Agent.Name
	}
	c := &call{sensitive: e.Sensitive}
	start := time.Now()
	outcome, err := e.serve(w, r, c, &agentName)
	if err != nil || outcome == "backend_error" {
		// The sender will retry a failed message with the same id.
		e.Auth.Release(r.Context(), c.identity)
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
		// r.URL no longer holds the token (see redactToken).
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

// authenticate picks the agent and the principal.
func (e *Endpoint) authenticate(r *http.Request, c *call) error {
	if e.Tokens != nil {
		agent, principal, err := e.agentFromToken(r)
		if err != nil {
			return err
		}
		c.agent, c.principal = agent, principal
		if !e.Auth.Enabled() {
			return nil
		}
	} else {
		c.agent = e.Agent
	}
	id, err := e.Auth.Authenticate(r.Context(), r, c.body, e.Now())
	if err != nil {
		return err
	}
	c.identity, c.principal = id, id.Principal
	return nil
}

// Interface guard
var _ http.Handler = (*Endpoint)(nil)
