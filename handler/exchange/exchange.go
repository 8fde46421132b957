// Package exchange applies an agent's shaping to one exchange with its
// backend, the same way for a sync call (package endpoint) and an async
// task (package runner): the request expression turns the caller's body
// into the backend's, the answer expression turns the backend's answer
// into what callers get, and, with history on, the chat's turns are read
// before and kept after.
package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
)

// Limits bound each run of a request or answer expression: an answer may
// be as large as the endpoint reads (see endpoint.MaxShapedAnswer).
var Limits = shape.Limits{MaxOutput: 4 << 20, Timeout: 500 * time.Millisecond}

// Shaping is how an agent's exchanges are shaped on one endpoint: the
// agent's settings with the endpoint's overrides. Its fields are set once,
// at provision.
type Shaping struct {
	// Request turns the caller's body into the backend's; nil sends the
	// body as it came.
	Request *shape.Program
	// Answer turns the backend's answer into what callers get; nil passes
	// it as it came.
	Answer *shape.Program
	// Path, if set, is the backend path requests go to (an adapter's).
	Path string
	// History bounds the turns kept per chat; zero keeps none. The
	// request expression reads them as $history.
	History history.Limits
	// Message (request stage) is the user turn kept of a caller's body,
	// and Reply (answer stage, on the shaped answer) the assistant turn;
	// nil takes DefaultMessage and DefaultReply.
	Message, Reply *shape.Program
	// Adapter is set for an `adapter` preset: its backend's error bodies
	// and token usage are read, and OpenAI's answers can be streamed.
	Adapter *adapter.Adapter
}

// BackendError reads an adapter backend's answer that is not 2xx, which
// the answer expression does not shape: nil without an adapter, or for a
// 2xx answer.
func (s *Shaping) BackendError(status int, body []byte) *adapter.APIError {
	if s == nil || s.Adapter == nil || status/100 == 2 {
		return nil
	}
	return adapter.ParseError(status, body)
}

// Usage reads the token usage of a shaped answer, when the adapter's
// backend reports it.
func (s *Shaping) Usage(answer []byte) (adapter.Usage, bool) {
	if s == nil || s.Adapter == nil || s.Adapter.Preset.Usage == "" {
		return adapter.Usage{}, false
	}
	return adapter.UsageOf(answer)
}

// Streams reports whether the backend can stream its answer as
// server-sent events (OpenAI's "stream": true).
func (s *Shaping) Streams() bool { return s.Adapter != nil && s.Adapter.Preset.Usage == "openai" }

// StreamBody asks for a streamed answer in a shaped request: "stream":
// true, with the usage in the last chunk.
func StreamBody(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, errors.New("the request is not a JSON object, so it cannot ask for a stream")
	}
	m["stream"] = json.RawMessage("true")
	m["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	return json.Marshal(m)
}

// DefaultMessage is the user turn kept of a caller's body: the first
// non-empty string among the usual fields (Treasure Data's prompt,
// DocsGPT's question, Cognigy's text, ...), else the body itself, as text
// when it is not a string (a UPTIQ event).
const DefaultMessage = `if type == "object" then (first(.prompt, .question, .text, .message, .input, .query | strings | select(. != "")) // tojson)
elif type == "string" then . else tojson end`

// DefaultReply is the assistant turn kept of a shaped answer: its first
// string among answer, text, output, response, message and content, else
// the answer itself.
const DefaultReply = `if type == "object" then (first(.answer, .text, .output, .response, .message, .content | strings) // .)
else . end`

var (
	defaultMessage = shape.MustCompile(shape.Request, DefaultMessage, Limits)
	defaultReply   = shape.MustCompile(shape.Answer, DefaultReply, Limits)
)

// Keeps reports whether the shaping keeps a history.
func (s *Shaping) Keeps() bool { return s != nil && s.History.MaxTurns > 0 && s.History.MaxBytes > 0 }

// Records reports whether the backend's answer must be read whole before
// the caller gets it: to shape it, or to keep it in the history.
func (s *Shaping) Records() bool { return s.Answer != nil || s.Keeps() }

// Turns are the user and assistant turns of one exchange: the caller's
// body (read with Message) and the shaped answer (read with Reply).
func (s *Shaping) Turns(ctx context.Context, body []byte, contentType string, answer []byte, at time.Time) ([]history.Turn, error) {
	msg, reply := s.Message, s.Reply
	if msg == nil {
		msg = defaultMessage
	}
	if reply == nil {
		reply = defaultReply
	}
	user, err := msg.Run(ctx, shape.Body(body, contentType), shape.RequestEnv{})
	if err != nil {
		return nil, err
	}
	asst, err := reply.Run(ctx, shape.Body(answer, "application/json"), shape.AnswerEnv{})
	if err != nil {
		return nil, err
	}
	return []history.Turn{
		{Role: history.RoleUser, Content: user, At: at},
		{Role: history.RoleAssistant, Content: asst, At: at},
	}, nil
}

// Active reports whether the shaping changes anything.
func (s *Shaping) Active() bool {
	return s != nil && (s.Request != nil || s.Answer != nil || s.Path != "" || s.Keeps())
}

// ShapeRequest runs the request expression on a caller's body. Without
// one, the body is returned as it came.
func (s *Shaping) ShapeRequest(ctx context.Context, body []byte, contentType string, env shape.RequestEnv) ([]byte, error) {
	if s.Request == nil {
		return body, nil
	}
	return s.Request.Run(ctx, shape.Body(body, contentType), env)
}

// ShapeAnswer runs the answer expression on a backend's answer. Without
// one, the body is returned as it came.
func (s *Shaping) ShapeAnswer(ctx context.Context, status int, header http.Header, body []byte, env shape.AnswerEnv) (json.RawMessage, error) {
	if s.Answer == nil || (s.Adapter != nil && status/100 != 2) {
		return body, nil
	}
	env.Status, env.Headers = status, header
	return s.Answer.Run(ctx, shape.Body(body, header.Get("Content-Type")), env)
}

// Set holds a config's shapings: each agent's, and each endpoint's
// overrides. It is read-only once built, and safe for concurrent use.
type Set struct {
	agents    map[string]*Shaping
	overrides map[string]Override
}

// Override is what an endpoint changes of its agents' shaping; nil fields
// keep the agent's.
type Override struct {
	Request, Answer *shape.Program
}

// NewSet makes an empty set.
func NewSet() *Set { return &Set{agents: map[string]*Shaping{}, overrides: map[string]Override{}} }

// SetAgent sets an agent's shaping.
func (s *Set) SetAgent(agent string, sh *Shaping) { s.agents[agent] = sh }

// SetEndpoint sets an endpoint's overrides.
func (s *Set) SetEndpoint(endpoint string, o Override) {
	if o.Request != nil || o.Answer != nil {
		s.overrides[endpoint] = o
	}
}

// For is the shaping of an agent's exchanges on an endpoint, or nil when
// there is none. A nil set has none.
func (s *Set) For(agent, endpoint string) *Shaping {
	if s == nil {
		return nil
	}
	sh := s.agents[agent]
	o, ok := s.overrides[endpoint]
	if !ok {
		if !sh.Active() {
			return nil
		}
		return sh
	}
	merged := Shaping{}
	if sh != nil {
		merged = *sh
	}
	if o.Request != nil {
		merged.Request = o.Request
	}
	if o.Answer != nil {
		merged.Answer = o.Answer
	}
	return &merged
}
