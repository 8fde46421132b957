package runner

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

func TestIsTimeout(t *testing.T) {
	t.Parallel()
	if !isTimeout(&handler.BackendError{Status: 504}) || isTimeout(&handler.BackendError{Status: 502}) || isTimeout(io.EOF) {
		t.Fatal("isTimeout")
	}
	if !isTimeout(timeoutErr{}) {
		t.Fatal("a net timeout is not a timeout")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// chatTTL is the endpoints' default chat TTL.
const chatTTL = 30 * 24 * time.Hour

// runFixture is a Runner built by hand, without its claim loop.
type runFixture struct {
	t     *testing.T
	ctx   context.Context
	clock *storetest.Clock
	st    store.Store
	r     *Runner
	agent *handler.Agent
	mu    sync.Mutex
	fwd   func(w http.ResponseWriter, r *http.Request) error
	seen  []*http.Request
}

func newRunFixture(t *testing.T, cfg Config) *runFixture {
	t.Helper()
	f := &runFixture{t: t, ctx: context.Background(), clock: storetest.NewClock(storetest.Start)}
	f.st = handlertest.OpenStore(t, f.clock.Now)
	f.agent = &handler.Agent{Name: "agent-a", ConversationHeader: "X-Conversation-Id", Backend: handlertest.BackendFunc(func(w http.ResponseWriter, r *http.Request) error {
		f.mu.Lock()
		f.seen = append(f.seen, r)
		fn := f.fwd
		f.mu.Unlock()
		return fn(w, r)
	})}
	reg := &delivery.Registry{Store: f.st, Now: f.clock.Now}
	reg.Configure(delivery.Static{"agent-a": {{ID: "cfg-agent-a-0", Agent: "agent-a", URL: "http://192.0.2.1/hook", Method: http.MethodPost, Format: delivery.FormatRaw}}})
	f.r = &Runner{Store: f.st, Callbacks: reg, Logger: zap.NewNop(), Metrics: handler.NopMetrics{}, Now: f.clock.Now, ID: "test"}
	f.r.Configure(cfg, map[string]*handler.Agent{f.agent.Name: f.agent})
	t.Cleanup(f.r.jobs.Wait)
	return f
}

func (f *runFixture) backend(fn func(w http.ResponseWriter, r *http.Request) error) {
	f.mu.Lock()
	f.fwd = fn
	f.mu.Unlock()
}

// submit stores a task in a new chat, as the async endpoint does.
func (f *runFixture) submit() *store.Task {
	f.t.Helper()
	now := f.clock.Now()
	chat := &store.Chat{ID: handler.NewID(), Agent: "agent-a", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(chatTTL)}
	task := &store.Task{ID: handler.NewID(), Agent: "agent-a", ChatID: chat.ID, Principal: "p",
		Request: store.Request{Method: http.MethodPost, Path: "/p", Body: []byte(`{"q":1}`), Header: http.Header{}},
		Meta:    map[string]string{handler.MetaChatTTL: chatTTL.String()}}
	c, err := f.st.CreateTask(f.ctx, store.NewTask{Task: task, Chat: chat})
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Task
}

func (f *runFixture) step() {
	f.t.Helper()
	if _, _, err := f.r.claim(f.ctx, 100); err != nil {
		f.t.Fatal(err)
	}
	f.r.jobs.Wait()
}

func (f *runFixture) task(id string) *store.Task {
	f.t.Helper()
	t, err := f.st.GetTask(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return t
}

func TestRunnerSuccess(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{})
	f.backend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Conversation-Id", "conv-1")
		_, _ = io.WriteString(w, `{"text":"done"}`)
		return nil
	})
	task := f.submit()
	f.step()
	got := f.task(task.ID)
	if got.Status != store.TaskSuccess || got.Result == nil || string(got.Result.Body) != `{"text":"done"}` || got.Error != "" {
		t.Fatalf("task %s, result %+v, error %q", got.Status, got.Result, got.Error)
	}
	if chat, err := f.st.GetChat(f.ctx, task.ChatID); err != nil || chat.ConversationID != "conv-1" {
		t.Fatalf("chat %+v, %v", chat, err)
	}
	ds, err := f.st.ListDeliveries(f.ctx, store.DeliveryFilter{Agent: "agent-a"})
	if err != nil || len(ds) != 1 || ds[0].TaskID != task.ID || ds[0].CallbackID != "cfg-agent-a-0" {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	if r := f.seen[0]; r.Header.Get("Idempotency-Key") != task.ID {
		t.Fatalf("backend saw Idempotency-Key %q", r.Header.Get("Idempotency-Key"))
	}
	// The next task of the chat carries the conversation id.
	next := &store.Task{ID: handler.NewID(), Agent: "agent-a", ChatID: task.ChatID, Principal: "p", Request: store.Request{Method: http.MethodPost, Path: "/p"}}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: next}); err != nil {
		t.Fatal(err)
	}
	f.step()
	if got := f.seen[1].Header.Get("X-Conversation-Id"); got != "conv-1" {
		t.Fatalf("second turn conversation %q", got)
	}
}

func TestRunnerRetriesThenFails(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{Attempts: 3, Backoff: time.Second})
	f.backend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	task := f.submit()
	for attempt := 1; attempt <= 2; attempt++ {
		f.step()
		got := f.task(task.ID)
		wait := got.RunAfter.Sub(f.clock.Now())
		base := time.Duration(1<<(attempt-1)) * time.Second
		if got.Status != store.TaskPending || got.Attempts != attempt || wait < base*8/10 || wait > base*12/10 || !strings.Contains(got.Error, "503") {
			t.Fatalf("after attempt %d: %s, %d attempts, runs in %v, error %q", attempt, got.Status, got.Attempts, wait, got.Error)
		}
		f.clock.Advance(wait)
	}
	f.step()
	got := f.task(task.ID)
	if got.Status != store.TaskFailure || got.Error != "the agent backend answered 503 Service Unavailable (after 3 attempts)" || got.Result == nil || got.Result.StatusCode != 503 {
		t.Fatalf("final: %s, error %q, result %+v", got.Status, got.Error, got.Result)
	}
}

func TestRunnerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    Config
		fwd    func(w http.ResponseWriter, r *http.Request) error
		status store.TaskStatus
		errMsg string
	}{
		{"4xx is final", Config{}, func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return nil
		}, store.TaskFailure, "the agent backend answered 422 Unprocessable Entity"},
		{"overflow", Config{MaxResult: 4}, func(w http.ResponseWriter, r *http.Request) error {
			_, _ = io.WriteString(w, "0123456789")
			return nil
		}, store.TaskFailure, "the agent backend's answer is larger than 4 bytes"},
		{"unreachable, retried", Config{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
			return &handler.BackendError{Status: 502, Err: io.EOF}
		}, store.TaskPending, "the agent backend could not be reached"},
		{"timeout, retried", Config{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
			return &handler.BackendError{Status: 504, Err: io.EOF}
		}, store.TaskPending, "the agent backend did not answer within 2m0s"},
		{"unreachable, last attempt", Config{Attempts: 1}, func(w http.ResponseWriter, r *http.Request) error {
			return &handler.BackendError{Status: 502, Err: io.EOF}
		}, store.TaskFailure, "the agent backend could not be reached"},
		{"429 retried", Config{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusTooManyRequests)
			return nil
		}, store.TaskPending, "the agent backend answered 429 Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRunFixture(t, tt.cfg)
			f.backend(tt.fwd)
			task := f.submit()
			f.step()
			got := f.task(task.ID)
			if got.Status != tt.status || got.Error != tt.errMsg {
				t.Fatalf("%s, error %q; want %s, %q", got.Status, got.Error, tt.status, tt.errMsg)
			}
			if tt.name == "overflow" && (got.Result == nil || len(got.Result.Body) != 0 || got.Result.StatusCode != 200) {
				t.Fatalf("overflow result %+v: want the status without the body", got.Result)
			}
		})
	}
}

// TestRunnerKeepsChatAlive: an async turn pushes the chat's expiry out,
// as a sync turn does, so a chat used only through an async endpoint
// lives ChatTTL after its last message, not its first.
func TestRunnerKeepsChatAlive(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{})
	f.backend(func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(200); return nil })
	task := f.submit()
	f.clock.Advance(20 * 24 * time.Hour)
	f.step()
	chat, err := f.st.GetChat(f.ctx, task.ChatID)
	if err != nil || !chat.ExpiresAt.After(f.clock.Now().Add(chatTTL/2)) {
		t.Fatalf("chat %+v, %v: a turn 20 days in left it 10 days to live", chat, err)
	}
}
