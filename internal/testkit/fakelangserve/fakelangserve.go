// Package fakelangserve is a LangServe runnable for tests: POST
// <path>/invoke takes {"input", "config"?, "kwargs"?} and answers
// {"output", "metadata": {"run_id", "feedback_tokens"}}, with FastAPI's
// 422 for a body without input.
package fakelangserve

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is the fake. Set its fields before the first request.
type Server struct {
	*httptest.Server
	// Path is where the runnable is mounted; "" is the root.
	Path string
	// Invoke makes the output from the input. The default echoes a string
	// input as "echo: <input>" and returns other inputs as they came.
	Invoke func(input any) any
	// ChatModel wraps the output in a chat model's message, as a chain
	// ending in a chat model answers: {"content": ..., "type": "ai", ...}.
	ChatModel bool

	mu       sync.Mutex
	inputs   []json.RawMessage
	failures []int
	runs     int
}

// New starts a fake on loopback, closed when the test ends.
func New(t testing.TB, path string) *Server {
	s := &Server{Path: strings.TrimSuffix(path, "/")}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the next n requests fail with status, with FastAPI's
// plain-text body for a 500.
func (s *Server) FailNext(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Inputs are the "input" values of the valid requests, in order.
func (s *Server) Inputs() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.inputs...)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.Path+"/invoke" {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
		return
	}
	s.mu.Lock()
	var fail int
	if len(s.failures) > 0 {
		fail, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if fail != 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(fail)
		_, _ = io.WriteString(w, http.StatusText(fail))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		unprocessable(w, "json_invalid", []any{"body", 0}, "JSON decode error")
		return
	}
	raw, ok := req["input"]
	if !ok {
		unprocessable(w, "missing", []any{"body", "input"}, "Field required")
		return
	}
	var input any
	_ = json.Unmarshal(raw, &input)
	s.mu.Lock()
	s.inputs = append(s.inputs, raw)
	s.runs++
	runID := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.runs)
	s.mu.Unlock()

	output := s.invoke(input)
	if s.ChatModel {
		output = map[string]any{
			"content": output, "additional_kwargs": map[string]any{}, "response_metadata": map[string]any{},
			"type": "ai", "name": nil, "id": "run-" + runID, "example": false,
			"tool_calls": []any{}, "invalid_tool_calls": []any{}, "usage_metadata": nil,
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"output":   output,
		"metadata": map[string]any{"run_id": runID, "feedback_tokens": []any{}},
	})
}

func (s *Server) invoke(input any) any {
	if s.Invoke != nil {
		return s.Invoke(input)
	}
	if str, ok := input.(string); ok {
		return "echo: " + str
	}
	return input
}

// unprocessable writes FastAPI's validation error.
func unprocessable(w http.ResponseWriter, typ string, loc []any, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"detail": []any{map[string]any{"type": typ, "loc": loc, "msg": msg}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
