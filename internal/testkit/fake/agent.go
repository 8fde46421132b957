package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reply is the shape of the agent's default answer.
type Reply int

const (
	// Echo answers {"answer": "echo: <body>", "conversation_id": c,
	// "turn": n}, n counting the turns of conversation c, so that a test
	// can read its own request back.
	Echo Reply = iota
	// Canned answers one small fixed JSON object without reading the
	// request: the benchmarks' backend, as cheap as a backend gets.
	Canned
)

// CannedAnswer is the text of a Canned answer.
const CannedAnswer = "Thanks, your order ships tomorrow."

// AgentOptions are the agent's knobs. The zero value is the tests'
// agent: Echo, every call kept.
type AgentOptions struct {
	Reply Reply
	// Delay makes every answer wait, unless the caller gives up first.
	Delay time.Duration
	// Status is the default answer's status; default 200.
	Status int
	// Hold starts the agent with its answers held (see Agent.Hold).
	Hold bool
	// MaxCalls bounds the calls kept whole for Calls: 0 keeps all, a
	// negative number none.
	MaxCalls int
	// Control serves POST /_control/hold, POST /_control/release and
	// GET /_control/stats ({"requests": n, "held": bool}), for a program
	// that drives the agent from outside.
	Control bool
}

// Agent is a fake agent backend. Like a real agent it keeps a
// conversation id in X-Conversation-Id: it answers the caller's, or
// "conv-<n>" for a new conversation.
type Agent struct {
	// Handle, if set, answers instead of the default, after any hold and
	// delay. Set it before the first request.
	Handle func(w http.ResponseWriter, r *http.Request, body []byte)

	opts     AgentOptions
	requests atomic.Int64
	convs    atomic.Int64
	turns    sync.Map // conversation id -> *atomic.Int64
	log      callLog

	mu   sync.Mutex
	gate chan struct{} // nil: open; otherwise closed on release
}

// NewAgent returns an agent with the given knobs.
func NewAgent(o AgentOptions) *Agent {
	a := &Agent{opts: o, log: callLog{max: o.MaxCalls}}
	if o.Hold {
		a.gate = make(chan struct{})
	}
	return a
}

// ServeHTTP implements http.Handler.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.opts.Control && strings.HasPrefix(r.URL.Path, "/_control/") {
		a.control(w, r)
		return
	}
	var body []byte
	keep := a.log.wants()
	if keep || a.Handle != nil || a.opts.Reply == Echo {
		body, _ = io.ReadAll(r.Body)
	} else {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	a.requests.Add(1)
	if keep {
		a.log.add(newCall(r, body, time.Now()))
	}
	if !a.wait(r) {
		return
	}
	switch {
	case a.Handle != nil:
		a.Handle(w, r, body)
	case a.opts.Reply == Canned:
		a.canned(w, r)
	default:
		a.Echo(w, r, body)
	}
}

// wait holds the answer while the gate is shut and for Delay; false if
// the caller went away meanwhile.
func (a *Agent) wait(r *http.Request) bool {
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return false
		}
	}
	if a.opts.Delay > 0 {
		t := time.NewTimer(a.opts.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

// conversation returns the caller's conversation id, or a new one, and
// puts it in the answer's X-Conversation-Id.
func (a *Agent) conversation(w http.ResponseWriter, r *http.Request) string {
	conv := r.Header.Get("X-Conversation-Id")
	if conv == "" {
		conv = "conv-" + strconv.FormatInt(a.convs.Add(1), 10)
	}
	w.Header().Set("X-Conversation-Id", conv)
	return conv
}

func (a *Agent) writeHeader(w http.ResponseWriter) {
	if a.opts.Status != 0 && a.opts.Status != http.StatusOK {
		w.WriteHeader(a.opts.Status)
	}
}

// Echo is the default answer; a Handle may end with it.
func (a *Agent) Echo(w http.ResponseWriter, r *http.Request, body []byte) {
	conv := a.conversation(w, r)
	n, _ := a.turns.LoadOrStore(conv, new(atomic.Int64))
	turn := n.(*atomic.Int64).Add(1)
	w.Header().Set("Content-Type", "application/json")
	a.writeHeader(w)
	_ = json.NewEncoder(w).Encode(map[string]any{"answer": "echo: " + string(body), "conversation_id": conv, "turn": turn})
}

func (a *Agent) canned(w http.ResponseWriter, r *http.Request) {
	conv := a.conversation(w, r)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	body := `{"answer":"` + CannedAnswer + `","conversation_id":"` + conv + `","data":{"intent":"order_status"}}`
	h.Set("Content-Length", strconv.Itoa(len(body)))
	a.writeHeader(w)
	_, _ = io.WriteString(w, body)
}

// Hold makes answers wait from now on, until Release.
func (a *Agent) Hold() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gate == nil {
		a.gate = make(chan struct{})
	}
}

// Release lets every held answer, and those to come, go out.
func (a *Agent) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gate != nil {
		close(a.gate)
		a.gate = nil
	}
}

// Held reports whether answers are held.
func (a *Agent) Held() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gate != nil
}

// Requests counts the requests answered or being answered, control
// requests aside.
func (a *Agent) Requests() int64 { return a.requests.Load() }

// Calls returns a copy of the calls kept so far.
func (a *Agent) Calls() []Call { return a.log.all() }

func (a *Agent) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_control/hold":
		a.Hold()
	case "/_control/release":
		a.Release()
	case "/_control/stats":
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"requests":%d,"held":%v}`+"\n", a.Requests(), a.Held())
}
