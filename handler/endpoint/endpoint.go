package handler

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

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

// Format says how an endpoint reads requests and shapes results.
type Format string

// The formats.
const (
	FormatRaw     Format = "raw"
	FormatCognigy Format = "cognigy"
)

// Defaults, also documented in the README.
const (
	DefaultChatHeader     = "X-Chat-Id"
	DefaultContinueHeader = "X-Continue-Chat-Id"
	DefaultMaxBody        = 1 << 20
	DefaultChatTTL        = 30 * 24 * time.Hour
	DefaultIdempotencyTTL = 24 * time.Hour
	// storeTimeout bounds how long a request waits on the store, so that
	// an unreachable database answers 503 instead of hanging.
	storeTimeout = 5 * time.Second
)

// Endpoint is an agenthook HTTP endpoint: it authenticates the caller,
// resolves the chat, and calls the agent, synchronously or through the
// task queue. Its fields are set once, before the first request.
type Endpoint struct {
	// Name identifies the endpoint in logs and metrics.
	Name string

	// Agent is the endpoint's backend, or nil when Tokens picks it.
	Agent *Agent
	// Tokens maps DocsGPT-style URL tokens (the last path segment) to
	// agent names in Agents. A token also authenticates the caller.
	Tokens *signing.TokenSet
	Agents map[string]*Agent

	Auth   Auth
	Mode   Mode
	Format Format

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

	// HideRequest, if set, is called for requests whose URL holds a
	// token, so the server leaves them out of its access log; the endpoint
	// logs them itself, with the token replaced by the agent's name.
	HideRequest func(r *http.Request)

	Store   store.Store
	Logger  *zap.Logger
	Metrics Metrics
	Now     func() time.Time
}

// call is what one request resolved to before reaching the backend.
type call struct {
	agent     *Agent
	principal string
	identity  Identity
	chat      *store.Chat
	newChat   bool
	body      []byte
	sensitive bool
	meta      map[string]string
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
		var he *Error
		if errors.As(err, &he) {
			outcome = he.Code
			if he.Status >= 500 && he.Err != nil {
				e.Logger.Error("request failed", zap.String("agent", agentName), zap.String("code", he.Code), zap.Error(he.Err))
			}
		} else {
			outcome = CodeInternal
			e.Logger.Error("request failed", zap.String("agent", agentName), zap.Error(err))
		}
		WriteError(w, err)
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
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST")
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
	if e.Format == FormatCognigy {
		if err := e.readCognigy(c); err != nil {
			return "", err
		}
	}
	if err := e.resolveChat(r, c); err != nil {
		return "", err
	}
	if e.Mode == ModeAsync {
		return e.serveAsync(w, r, c)
	}
	return e.serveSync(w, r, c)
}

// readBody reads at most limit bytes; more is a 413. The exact bytes are
// kept: signatures are checked on them and the backend receives them.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	tooLarge := Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	size := r.ContentLength
	if size < 0 || size > 64<<10 {
		size = 64 << 10 // grow as needed rather than trust a large header
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "the request body could not be read")
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// authenticate picks the agent and the principal.
func (e *Endpoint) authenticate(r *http.Request, c *call) error {
	ctx := r.Context()
	now := e.Now()
	if e.Tokens != nil {
		// The token is the last path segment. Every token is compared, so
		// timing says nothing about which agents exist, and a miss is the
		// same 404 as a path that does not exist.
		if e.HideRequest != nil {
			e.HideRequest(r)
		}
		seg := lastSegment(r.URL.Path)
		name, ok := e.Tokens.Lookup(seg)
		agent := e.Agents[name]
		if !ok || agent == nil {
			redactToken(r, seg, "REDACTED")
			e.Auth.metrics().AuthFailure("token", "invalid")
			return Errorf(http.StatusNotFound, CodeNotFound, "no agent webhook at this URL")
		}
		c.agent, c.principal = agent, "token:"+name
		redactToken(r, seg, name)
		if !e.Auth.Enabled() {
			return nil
		}
	} else {
		c.agent = e.Agent
	}
	id, err := e.Auth.Authenticate(ctx, r, c.body, now)
	if err != nil {
		return err
	}
	c.identity, c.principal = id, id.Principal
	return nil
}

// lastSegment returns the last non-empty segment of a path.
func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// redactToken replaces the token in the request's URL with the agent's
// name. The backend then sees a stable path, and the token reaches neither
// the backend nor Caddy's access log, which reads the same request.
func redactToken(r *http.Request, token, name string) {
	trimmed := strings.TrimRight(r.URL.Path, "/")
	r.URL.Path = trimmed[:len(trimmed)-len(token)] + name
	r.URL.RawPath = ""
	r.RequestURI = r.URL.RequestURI()
}

// resolveChat finds the chat to continue, or starts one.
func (e *Endpoint) resolveChat(r *http.Request, c *call) error {
	now := e.Now()
	id := ""
	if e.Format == FormatCognigy {
		// A Cognigy session is the chat: the same (agent, userId,
		// sessionId) always continues the same backend conversation.
		id = derivedID("cognigy", c.agent.Name, c.meta["userId"], c.meta["sessionId"])
	} else if v := r.Header.Get(e.ContinueHeader); v != "" {
		if !validID(v) {
			return chatNotFound()
		}
		id = v
	}
	if id != "" {
		ctx, cancel := withStoreTimeout(r.Context())
		chat, err := e.Store.GetChat(ctx, id)
		cancel()
		switch {
		case err == nil:
			if chat.Agent != c.agent.Name || chat.Principal != c.principal {
				// Indistinguishable from an unknown id on purpose.
				return chatNotFound()
			}
			c.chat = chat
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return storeError(err)
		case e.Format != FormatCognigy:
			return chatNotFound()
		}
	} else {
		id = NewID()
	}
	c.chat = &store.Chat{
		ID:        id,
		Agent:     c.agent.Name,
		Principal: c.principal,
		CreatedAt: now,
		UpdatedAt: now,
		ExpiresAt: now.Add(e.ChatTTL),
	}
	c.newChat = true
	return nil
}

func chatNotFound() *Error {
	return Errorf(http.StatusNotFound, CodeChatNotFound, "no such chat: it is unknown, expired, or not yours")
}
