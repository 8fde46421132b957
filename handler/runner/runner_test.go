package handler

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

func TestBackoff(t *testing.T) {
	within := func(got, d time.Duration) bool {
		return got >= time.Duration(float64(d)*0.8) && got <= time.Duration(float64(d)*1.2)
	}
	tests := []struct {
		base    time.Duration
		attempt int
		want    time.Duration // before jitter
	}{
		{time.Second, 0, time.Second},
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 8, 128 * time.Second},
		{time.Second, 9, 256 * time.Second},
		{time.Second, 10, maxBackoff},
		{time.Second, 1000, maxBackoff},
		{time.Minute, 3, 4 * time.Minute},
		{time.Minute, 4, maxBackoff},
		{time.Hour, 1, maxBackoff},
		{time.Nanosecond, 63, maxBackoff},
	}
	for _, tt := range tests {
		tt.want = min(tt.want, maxBackoff*5/6)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 2000 {
			got := backoff(tt.base, tt.attempt)
			if !within(got, tt.want) {
				t.Fatalf("backoff(%v, %d) = %v, want %v ±20%%", tt.base, tt.attempt, got, tt.want)
			}
			lo, hi = min(lo, got), max(hi, got)
		}
		if lo > time.Duration(float64(tt.want)*0.85) || hi < time.Duration(float64(tt.want)*1.15) {
			t.Fatalf("backoff(%v, %d) spans only [%v, %v]", tt.base, tt.attempt, lo, hi)
		}
	}
	// The cap applies after the jitter: the longest wait is maxBackoff.
	for range 1000 {
		if got := backoff(time.Second, 50); got > maxBackoff || got < maxBackoff*5/6*8/10 {
			t.Fatalf("capped backoff %v", got)
		}
	}
}

func TestRunnerConfigDefaults(t *testing.T) {
	c := RunnerConfig{Timeout: 10 * time.Minute, Lease: time.Minute}.WithDefaults()
	if c.Lease <= c.Timeout {
		t.Fatalf("lease %v does not exceed timeout %v", c.Lease, c.Timeout)
	}
	c = RunnerConfig{}.WithDefaults()
	if c.Workers != DefaultWorkers || c.Attempts != DefaultAttempts || c.Backoff != DefaultBackoff ||
		c.Timeout != DefaultTimeout || c.MaxResult != DefaultMaxResult || c.Retention != DefaultRetention || c.Lease <= c.Timeout {
		t.Fatalf("defaults %+v", c)
	}
}

func TestBackendRequest(t *testing.T) {
	body := []byte("\x00\x01 binary \xff")
	task := &store.Task{
		ID: "task_abc", Agent: "agent-a", ChatID: "chat_1",
		Request: store.Request{
			Method: http.MethodPut, Host: "api.example.com", Path: "/prompts/support", RawQuery: "a=1&b=%20",
			Header: http.Header{
				"Content-Type":      {"application/octet-stream"},
				"X-Conversation-Id": {"forged"},
				"Idempotency-Key":   {"callers-own"},
				"X-Keep":            {"1", "2"},
			},
			RemoteAddr: "203.0.113.9:4711",
			Body:       body,
		},
	}
	agent := &Agent{Name: "agent-a", ConversationHeader: "X-Conversation-Id"}
	req, err := backendRequest(context.Background(), task, agent, "conv-7")
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPut || req.Host != "api.example.com" || req.URL.Path != "/prompts/support" || req.URL.RawQuery != "a=1&b=%20" {
		t.Fatalf("request line: %s %s %s", req.Method, req.Host, req.URL)
	}
	if req.RequestURI != "/prompts/support?a=1&b=%20" {
		t.Fatalf("RequestURI %q", req.RequestURI)
	}
	if req.RemoteAddr != "203.0.113.9:4711" {
		t.Fatalf("RemoteAddr %q, want the caller's", req.RemoteAddr)
	}
	h := req.Header
	if h.Get("Idempotency-Key") != "task_abc" || h.Get("X-Agenthook-Task-Id") != "task_abc" {
		t.Fatalf("Idempotency-Key %q, X-Agenthook-Task-Id %q; want the task id", h.Get("Idempotency-Key"), h.Get("X-Agenthook-Task-Id"))
	}
	if got := h.Values("X-Conversation-Id"); len(got) != 1 || got[0] != "conv-7" {
		t.Fatalf("conversation header %q, want only the chat's", got)
	}
	if got := h.Values("X-Keep"); len(got) != 2 || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("caller headers lost: %v", h)
	}
	got, _ := io.ReadAll(req.Body)
	if !bytes.Equal(got, body) || req.ContentLength != int64(len(body)) {
		t.Fatalf("body %q (length %d), want %q", got, req.ContentLength, body)
	}
	// The stored header is not changed by building a request.
	if task.Request.Header.Get("Idempotency-Key") != "callers-own" || task.Request.Header.Get("X-Conversation-Id") != "forged" {
		t.Fatal("backendRequest changed the stored task's header")
	}
	// The body can be read again for a retry.
	req2, _ := backendRequest(context.Background(), task, agent, "")
	got2, _ := io.ReadAll(req2.Body)
	if !bytes.Equal(got2, body) {
		t.Fatal("a second request lost the body")
	}
	if _, ok := req2.Header["X-Conversation-Id"]; ok {
		t.Fatal("a chat without a conversation id forwarded the caller's")
	}
}

func TestBackendRequestDefaults(t *testing.T) {
	task := &store.Task{ID: "t1", Request: store.Request{Method: http.MethodPost, Path: "/p"}}
	req, err := backendRequest(context.Background(), task, &Agent{Name: "a"}, "conv")
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "localhost" || req.RemoteAddr != "127.0.0.1:0" || req.Header == nil || req.Header.Get("Idempotency-Key") != "t1" {
		t.Fatalf("defaults: host %q, remote %q, header %v", req.Host, req.RemoteAddr, req.Header)
	}
	if b, _ := io.ReadAll(req.Body); len(b) != 0 {
		t.Fatalf("empty body read as %q", b)
	}
	if _, err := backendRequest(context.Background(), &store.Task{Request: store.Request{Method: "BAD METHOD", Path: "/"}}, &Agent{}, ""); err == nil {
		t.Fatal("an invalid method built a request")
	}
}

func TestRecorder(t *testing.T) {
	r := newRecorder(10)
	r.Header().Set("Content-Type", "text/plain")
	r.WriteHeader(http.StatusEarlyHints) // informational, not the status
	if r.status != 0 {
		t.Fatalf("a 1xx became the status: %d", r.status)
	}
	r.WriteHeader(http.StatusAccepted)
	r.WriteHeader(http.StatusInternalServerError) // ignored
	if n, err := r.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if r.overflow {
		t.Fatal("overflow at 6 of 10")
	}
	// Past the limit: all of it is taken (so the sender can go on), up to
	// the limit is kept, and overflow is set.
	if n, err := r.Write([]byte("7890ABC")); n != 7 || err != nil {
		t.Fatalf("Write past the limit = %d, %v", n, err)
	}
	if n, err := r.Write([]byte("DEF")); n != 3 || err != nil {
		t.Fatalf("Write after the limit = %d, %v", n, err)
	}
	r.Flush()
	if !r.overflow || r.body.String() != "1234567890" {
		t.Fatalf("overflow %v, body %q", r.overflow, r.body.String())
	}
	res := r.result()
	if res.StatusCode != http.StatusAccepted || res.ContentType != "text/plain" || string(res.Body) != "1234567890" {
		t.Fatalf("result %+v", res)
	}
	res.Body[0] = 'X'
	if r.body.Bytes()[0] != '1' {
		t.Fatal("result shares its bytes with the recorder")
	}

	// A write without WriteHeader is a 200; exactly the limit is not an
	// overflow.
	r = newRecorder(4)
	_, _ = r.Write([]byte("abcd"))
	if r.status != 200 || r.overflow || r.body.String() != "abcd" {
		t.Fatalf("status %d, overflow %v, body %q", r.status, r.overflow, r.body.String())
	}
	_, _ = r.Write(nil)
	if r.overflow {
		t.Fatal("an empty write overflowed")
	}
	_, _ = r.Write([]byte("e"))
	if !r.overflow || r.body.String() != "abcd" {
		t.Fatalf("one byte over: overflow %v, body %q", r.overflow, r.body.String())
	}
}

func TestIsTimeout(t *testing.T) {
	if !isTimeout(&BackendError{Status: 504}) || isTimeout(&BackendError{Status: 502}) || isTimeout(io.EOF) {
		t.Fatal("isTimeout")
	}
	if !isTimeout(timeoutErr{}) {
		t.Fatal("a net timeout is not a timeout")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// runFixture is a Runner built by hand, without its claim loop.
type runFixture struct {
	t     *testing.T
	ctx   context.Context
	clock *storetest.Clock
	st    store.Store
	r     *Runner
	agent *Agent
	mu    sync.Mutex
	fwd   func(w http.ResponseWriter, r *http.Request) error
	seen  []*http.Request
}

func newRunFixture(t *testing.T, cfg RunnerConfig) *runFixture {
	t.Helper()
	f := &runFixture{t: t, ctx: context.Background(), clock: storetest.NewClock(storetest.Start)}
	f.st = openTestStore(t, f.clock)
	f.agent = &Agent{Name: "agent-a", ConversationHeader: "X-Conversation-Id", Backend: backendFunc(func(w http.ResponseWriter, r *http.Request) error {
		f.mu.Lock()
		f.seen = append(f.seen, r)
		fn := f.fwd
		f.mu.Unlock()
		return fn(w, r)
	})}
	f.agent.Callbacks = []*Callback{{ID: "cfg-agent-a-0", Agent: "agent-a", URL: "http://192.0.2.1/hook", Method: http.MethodPost, Format: FormatRaw}}
	reg := &Registry{Store: f.st, Now: f.clock.Now}
	f.r = &Runner{Store: f.st, Callbacks: reg, Logger: zap.NewNop(), Metrics: NopMetrics{}, Now: f.clock.Now, ID: "test"}
	f.r.Configure(cfg, map[string]*Agent{f.agent.Name: f.agent})
	var cancel context.CancelFunc
	f.r.jobCtx, cancel = context.WithCancel(context.Background())
	f.r.abandon = cancel
	t.Cleanup(func() { f.r.inflight.Wait(); cancel() })
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
	chat := &store.Chat{ID: NewID(), Agent: "agent-a", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(DefaultChatTTL)}
	task := &store.Task{ID: NewID(), Agent: "agent-a", ChatID: chat.ID, Principal: "p",
		Request: store.Request{Method: http.MethodPost, Path: "/p", Body: []byte(`{"q":1}`), Header: http.Header{}},
		Meta:    map[string]string{metaChatTTL: DefaultChatTTL.String()}}
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
	f.r.inflight.Wait()
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
	f := newRunFixture(t, RunnerConfig{})
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
	next := &store.Task{ID: NewID(), Agent: "agent-a", ChatID: task.ChatID, Principal: "p", Request: store.Request{Method: http.MethodPost, Path: "/p"}}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: next}); err != nil {
		t.Fatal(err)
	}
	f.step()
	if got := f.seen[1].Header.Get("X-Conversation-Id"); got != "conv-1" {
		t.Fatalf("second turn conversation %q", got)
	}
}

func TestRunnerRetriesThenFails(t *testing.T) {
	f := newRunFixture(t, RunnerConfig{Attempts: 3, Backoff: time.Second})
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
	tests := []struct {
		name   string
		cfg    RunnerConfig
		fwd    func(w http.ResponseWriter, r *http.Request) error
		status store.TaskStatus
		errMsg string
	}{
		{"4xx is final", RunnerConfig{}, func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return nil
		}, store.TaskFailure, "the agent backend answered 422 Unprocessable Entity"},
		{"overflow", RunnerConfig{MaxResult: 4}, func(w http.ResponseWriter, r *http.Request) error {
			_, _ = io.WriteString(w, "0123456789")
			return nil
		}, store.TaskFailure, "the agent backend's answer is larger than 4 bytes"},
		{"unreachable, retried", RunnerConfig{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
			return &BackendError{Status: 502, Err: io.EOF}
		}, store.TaskPending, "the agent backend could not be reached"},
		{"timeout, retried", RunnerConfig{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
			return &BackendError{Status: 504, Err: io.EOF}
		}, store.TaskPending, "the agent backend did not answer within 2m0s"},
		{"unreachable, last attempt", RunnerConfig{Attempts: 1}, func(w http.ResponseWriter, r *http.Request) error {
			return &BackendError{Status: 502, Err: io.EOF}
		}, store.TaskFailure, "the agent backend could not be reached"},
		{"429 retried", RunnerConfig{Attempts: 2}, func(w http.ResponseWriter, r *http.Request) error {
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
// as a sync turn does (sync.go attachChat). runner.go finish never sets
// TaskFinish.ChatExpiresAt, so a chat used only through an async
// endpoint expires ChatTTL after its first message, however busy it is.
func TestRunnerKeepsChatAlive(t *testing.T) {
	f := newRunFixture(t, RunnerConfig{})
	f.backend(func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(200); return nil })
	task := f.submit()
	f.clock.Advance(20 * 24 * time.Hour)
	f.step()
	chat, err := f.st.GetChat(f.ctx, task.ChatID)
	if err != nil || !chat.ExpiresAt.After(f.clock.Now().Add(DefaultChatTTL/2)) {
		t.Fatalf("chat %+v, %v: a turn 20 days in left it 10 days to live", chat, err)
	}
}
