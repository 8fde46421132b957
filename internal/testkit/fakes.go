package testkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Call is one request a fake received.
type Call struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Agent is a fake agent backend on loopback. By default it answers
// {"answer": "echo: <body>", "turn": n} and keeps a conversation id in
// X-Conversation-Id, like a real agent would.
type Agent struct {
	*httptest.Server
	// Handle, if set, answers instead of the default.
	Handle func(w http.ResponseWriter, r *http.Request, body []byte)

	mu    sync.Mutex
	calls []Call
	convs atomic.Int64
	turns sync.Map
}

// NewAgent starts a fake agent.
func NewAgent(t testing.TB) *Agent {
	a := &Agent{}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

// Addr is the host:port to put in a reverse_proxy line.
func (a *Agent) Addr() string { return strings.TrimPrefix(a.URL, "http://") }

func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.calls = append(a.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
	a.mu.Unlock()
	if a.Handle != nil {
		a.Handle(w, r, body)
		return
	}
	a.Echo(w, r, body)
}

// Echo is the default answer.
func (a *Agent) Echo(w http.ResponseWriter, r *http.Request, body []byte) {
	conv := r.Header.Get("X-Conversation-Id")
	if conv == "" {
		conv = fmt.Sprintf("conv-%d", a.convs.Add(1))
	}
	n, _ := a.turns.LoadOrStore(conv, new(atomic.Int64))
	turn := n.(*atomic.Int64).Add(1)
	w.Header().Set("X-Conversation-Id", conv)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"answer": "echo: " + string(body), "conversation_id": conv, "turn": turn})
}

// Calls returns a copy of the calls so far.
func (a *Agent) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Sink is a fake callback receiver on loopback.
type Sink struct {
	*httptest.Server
	// Status, if set, picks the answer's status for the n-th request
	// (counting from 1); the default is 204.
	Status func(n int, r *http.Request) int

	mu    sync.Mutex
	got   []Call
	count atomic.Int64
}

// NewSink starts a fake callback receiver.
func NewSink(t testing.TB) *Sink {
	s := &Sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// NewSinkOn starts a fake callback receiver on a given listener, to bring
// a receiver back on the port it had.
func NewSinkOn(t testing.TB, l net.Listener) *Sink {
	s := &Sink{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := int(s.count.Add(1))
	status := http.StatusNoContent
	if s.Status != nil {
		status = s.Status(n, r)
	}
	if status >= 200 && status < 300 {
		s.mu.Lock()
		s.got = append(s.got, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
		s.mu.Unlock()
	}
	w.WriteHeader(status)
}

// Received returns the accepted deliveries so far.
func (s *Sink) Received() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.got...)
}

// Requests counts every request, accepted or not.
func (s *Sink) Requests() int { return int(s.count.Load()) }

// Eventually polls cond every 20ms until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
