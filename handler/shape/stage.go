package shape

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler/history"
)

// Stage is where an expression runs; it fixes the variables the
// expression may use, so that a misspelt or misplaced one is refused at
// config load rather than at the first request.
type Stage struct {
	name string
	vars []string
}

// The stages. Each has an Env type carrying its variables' values.
var (
	// Request turns a caller's body into the backend's (RequestEnv).
	Request = Stage{name: "request", vars: []string{"$chat", "$caller", "$headers", "$query", "$history"}}
	// Answer turns a backend's answer into what callers get (AnswerEnv).
	Answer = Stage{name: "answer", vars: []string{"$status", "$headers", "$chat", "$task"}}
	// Payload turns a finished task's event, as the raw payload format
	// renders it, into a callback's body (PayloadEnv).
	Payload = Stage{name: "payload", vars: []string{"$task", "$chat"}}
	// Filter decides whether a callback receives an event: the event, as
	// the raw payload format renders it, goes in; true or false must come
	// out (FilterEnv, Program.Match).
	Filter = Stage{name: "filter", vars: []string{"$task"}}
)

// Name is the stage's name: request, answer, payload or filter.
func (s Stage) Name() string { return s.name }

// Vars are the variables expressions of the stage may use, with their $.
func (s Stage) Vars() []string { return append([]string(nil), s.vars...) }

func (s Stage) varList() string { return strings.Join(s.vars, ", ") }

// Env is the values of a stage's variables for one run. The unexported
// method keeps the list to this package's types, one per stage.
type Env interface {
	Stage() Stage
	values() []any
}

// Chat is $chat: {"id", "conversation_id", "new"}.
type Chat struct {
	ID string
	// ConversationID is the backend's own id, when it gave one.
	ConversationID string
	// New is true on the chat's first message.
	New bool
}

func (c Chat) value() any {
	return map[string]any{"id": c.ID, "conversation_id": c.ConversationID, "new": c.New}
}

// Caller is $caller: {"id", "user"}: the principal that authenticated
// (never secret material) and, for Basic auth, the user name.
type Caller struct {
	ID   string
	User string
}

func (c Caller) value() any { return map[string]any{"id": c.ID, "user": c.User} }

// Task is $task: {"id", "agent", "chat_id", "status", "attempts", "meta",
// "created_at", "sensitive"}. A nil *Task (a sync request has none) is null.
type Task struct {
	ID        string
	Agent     string
	ChatID    string
	Status    string
	Attempts  int
	Meta      map[string]string
	CreatedAt time.Time
	// Sensitive is set when the task's bodies stay out of logs (Cognigy's
	// disableSensitiveLogging, an endpoint's sensitive).
	Sensitive bool
}

func (t *Task) value() any {
	if t == nil {
		return nil
	}
	meta := make(map[string]any, len(t.Meta))
	for k, v := range t.Meta {
		meta[k] = v
	}
	return map[string]any{
		"id": t.ID, "agent": t.Agent, "chat_id": t.ChatID, "status": t.Status,
		"attempts": t.Attempts, "meta": meta, "created_at": timeValue(t.CreatedAt),
		"sensitive": t.Sensitive,
	}
}

// RequestEnv is the request stage's variables.
type RequestEnv struct {
	Chat   Chat
	Caller Caller
	// Headers are the caller's, credentials already stripped: $headers
	// has lower-case names and each name's values joined with ", ".
	Headers http.Header
	// Query is $query: each name's first value.
	Query url.Values
	// History is $history: [{"role", "content", "at"}], oldest first,
	// already bounded to what the backend should get.
	History []history.Turn
}

// Stage implements Env.
func (RequestEnv) Stage() Stage { return Request }

func (e RequestEnv) values() []any {
	return []any{e.Chat.value(), e.Caller.value(), headersValue(e.Headers), queryValue(e.Query), historyValue(e.History)}
}

// AnswerEnv is the answer stage's variables.
type AnswerEnv struct {
	// Status is the backend's HTTP status.
	Status int
	// Headers are the backend's answer headers, as in RequestEnv.
	Headers http.Header
	Chat    Chat
	// Task is nil for a sync request.
	Task *Task
}

// Stage implements Env.
func (AnswerEnv) Stage() Stage { return Answer }

func (e AnswerEnv) values() []any {
	return []any{e.Status, headersValue(e.Headers), e.Chat.value(), e.Task.value()}
}

// PayloadEnv is the payload stage's variables.
type PayloadEnv struct {
	Task *Task
	Chat Chat
}

// Stage implements Env.
func (PayloadEnv) Stage() Stage { return Payload }

func (e PayloadEnv) values() []any { return []any{e.Task.value(), e.Chat.value()} }

// FilterEnv is the filter stage's variables.
type FilterEnv struct {
	// Task is the task an event is about, nil (null) for operational
	// events.
	Task *Task
}

// Stage implements Env.
func (FilterEnv) Stage() Stage { return Filter }

func (e FilterEnv) values() []any { return []any{e.Task.value()} }

func headersValue(h http.Header) any {
	m := make(map[string]any, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if prev, ok := m[k].(string); ok {
			vs = append([]string{prev}, vs...)
		}
		m[k] = strings.Join(vs, ", ")
	}
	return m
}

func queryValue(q url.Values) any {
	m := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}

func historyValue(h []history.Turn) any {
	out := make([]any, 0, len(h))
	for _, t := range h {
		content, err := Decode(t.Content)
		if err != nil {
			// A stored turn that is not JSON is passed on as text
			// rather than failing every later request of the chat.
			content = string(t.Content)
		}
		out = append(out, map[string]any{"role": t.Role, "content": content, "at": timeValue(t.At)})
	}
	return out
}

func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}
