// Package fakeopenai is an OpenAI chat-completions server for tests: it
// takes and answers the published shapes (non-streamed completions,
// streamed chunks with optional usage, error bodies) and checks requests
// as strictly as a real server would, plus one rule of its own: the last
// message is the user's.
package fakeopenai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Path is where OpenAI takes chat completions.
const Path = "/v1/chat/completions"

// Message is one message of a request.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
}

// Text is the message's content when it is a string, or the text parts of
// a content array joined.
func (m Message) Text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(m.Content, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// Request is a chat-completions request as received.
type Request struct {
	Model         string    `json:"model"`
	Messages      []Message `json:"messages"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// Header and Body are the request's, as received.
	Header http.Header `json:"-"`
	Body   []byte      `json:"-"`
}

// Server is the fake. Set its fields before the first request.
type Server struct {
	*httptest.Server
	// APIKey, when set, is required as "Authorization: Bearer <key>".
	APIKey string
	// Models, when set, are the only models known; others get 404.
	Models []string
	// Reply makes the answer's text; the default echoes the last message:
	// "echo: <text>".
	Reply func(Request) string
	// ChunkDelay is waited between streamed chunks.
	ChunkDelay time.Duration

	mu       sync.Mutex
	requests []Request
	failures []int
	created  int64
}

// New starts a fake on loopback, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{created: 1741569952}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the next n requests fail with status and OpenAI's error
// body for it (401, 404, 429, 500 and 503 have their real texts).
func (s *Server) FailNext(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Requests are the valid requests received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", "")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", "")
		return
	}
	if s.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
		return
	}
	if status, ok := s.nextFailure(); ok {
		writeFailure(w, status)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "We could not read the body of your request.", "invalid_request_error", "", "")
		return
	}
	req, verr := parse(body)
	if verr != nil {
		writeError(w, http.StatusBadRequest, verr.message, "invalid_request_error", verr.param, verr.code)
		return
	}
	if len(s.Models) > 0 && !contains(s.Models, req.Model) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), "invalid_request_error", "", "model_not_found")
		return
	}
	req.Header, req.Body = r.Header.Clone(), body
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.created++
	created := s.created
	s.mu.Unlock()

	reply := "echo: " + req.Messages[len(req.Messages)-1].Text()
	if s.Reply != nil {
		reply = s.Reply(req)
	}
	c := completion{id: fmt.Sprintf("chatcmpl-fake%d", created), created: created, model: req.Model, reply: reply, usage: usageOf(req, reply)}
	if req.Stream {
		s.stream(w, c, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	writeJSON(w, http.StatusOK, c.object())
}

func (s *Server) nextFailure() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return 0, false
	}
	status := s.failures[0]
	s.failures = s.failures[1:]
	return status, true
}

type validationError struct{ message, param, code string }

// roles OpenAI takes.
var roles = []string{"system", "developer", "user", "assistant", "tool", "function"}

// parse checks a request as OpenAI does, with its messages.
func parse(body []byte) (Request, *validationError) {
	var req Request
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil || json.Unmarshal(body, &req) != nil {
		return req, &validationError{message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"}
	}
	if req.Model == "" {
		return req, &validationError{message: "you must provide a model parameter"}
	}
	if _, ok := raw["messages"]; !ok {
		return req, &validationError{message: "Missing required parameter: 'messages'.", param: "messages", code: "missing_required_parameter"}
	}
	if len(req.Messages) == 0 {
		return req, &validationError{message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", param: "messages", code: "empty_array"}
	}
	for i, m := range req.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		if !contains(roles, m.Role) {
			return req, &validationError{message: fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role), param: param + ".role", code: "invalid_value"}
		}
		c := bytes.TrimSpace(m.Content)
		switch {
		case len(c) == 0 || string(c) == "null":
			if m.Role != "assistant" {
				return req, &validationError{message: "Invalid value for 'content': expected a string, got null.", param: param + ".content", code: "invalid_type"}
			}
		case c[0] == '"' || c[0] == '[':
		default:
			return req, &validationError{message: fmt.Sprintf("Invalid type for '%s.content': expected one of a string or array of objects, but got %s instead.", param, jsonType(c)), param: param + ".content", code: "invalid_type"}
		}
	}
	if last := req.Messages[len(req.Messages)-1]; last.Role != "user" {
		return req, &validationError{message: "fakeopenai: the last message must be the user's", param: "messages", code: "invalid_value"}
	}
	if req.StreamOptions != nil && !req.Stream {
		return req, &validationError{message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param: "stream_options", code: "invalid_value"}
	}
	return req, nil
}

func jsonType(c []byte) string {
	switch c[0] {
	case '{':
		return "an object"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
