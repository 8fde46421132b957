package testkit

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit/fake"
)

// Call is one request a fake received.
type Call = fake.Call

// Agent is the shared fake agent backend (fake.Agent) on loopback. By
// default it answers {"answer": "echo: <body>", "turn": n} and keeps a
// conversation id in X-Conversation-Id, like a real agent would; its
// Handle field takes over the answer.
type Agent struct {
	*fake.Agent
	*httptest.Server
}

// NewAgent starts a fake agent with the tests' defaults (fake's zero
// AgentOptions: echo, every call kept), closed when the test ends.
func NewAgent(t testing.TB) *Agent { return NewAgentWith(t, fake.AgentOptions{}) }

// NewAgentWith starts a fake agent with knobs.
func NewAgentWith(t testing.TB, o fake.AgentOptions) *Agent {
	a := &Agent{Agent: fake.NewAgent(o)}
	a.Server = httptest.NewServer(a.Agent)
	t.Cleanup(a.Close)
	return a
}

// Addr is the host:port to put in a reverse_proxy line.
func (a *Agent) Addr() string { return strings.TrimPrefix(a.URL, "http://") }

// Sink is the shared fake callback receiver (fake.Sink) on loopback: 204
// to everything unless its Status field says otherwise.
type Sink struct {
	*fake.Sink
	*httptest.Server
}

// NewSink starts a fake callback receiver with the tests' defaults
// (fake's zero SinkOptions: every delivery kept), closed when the test
// ends.
func NewSink(t testing.TB) *Sink { return NewSinkWith(t, fake.SinkOptions{}) }

// NewSinkWith starts a fake callback receiver with knobs.
func NewSinkWith(t testing.TB, o fake.SinkOptions) *Sink {
	t.Helper()
	s := &Sink{Sink: newFakeSink(t, o)}
	s.Server = httptest.NewServer(s.Sink)
	t.Cleanup(s.Close)
	return s
}

// NewSinkOn starts a fake callback receiver on a given listener, to bring
// a receiver back on the port it had.
func NewSinkOn(t testing.TB, l net.Listener) *Sink {
	t.Helper()
	s := &Sink{Sink: newFakeSink(t, fake.SinkOptions{})}
	s.Server = httptest.NewUnstartedServer(s.Sink)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newFakeSink(t testing.TB, o fake.SinkOptions) *fake.Sink {
	t.Helper()
	s, err := fake.NewSink(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

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
