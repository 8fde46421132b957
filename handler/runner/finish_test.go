package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/store"
)

// answer makes the backend answer body with a content type.
func answer(ct string, body []byte) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
		return nil
	}
}

// deliveries returns the task's deliveries with their payloads.
func (f *runFixture) deliveries(taskID string) []*store.Delivery {
	f.t.Helper()
	list, err := f.st.ListDeliveries(f.ctx, store.DeliveryFilter{Agent: "agent-a"})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*store.Delivery
	for _, d := range list {
		if d.TaskID != taskID {
			continue
		}
		full, err := f.st.GetDelivery(f.ctx, d.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, full)
	}
	return out
}

// addCallbacks gives agent-a n raw callbacks in all.
func (f *runFixture) addCallbacks(n int) {
	reg := f.r.Callbacks.(*delivery.Registry)
	var cbs []*delivery.Callback
	for i := range n {
		cbs = append(cbs, &delivery.Callback{ID: "cfg-agent-a-" + string(rune('0'+i)), Agent: "agent-a", URL: "http://192.0.2.1/hook", Method: http.MethodPost, Format: delivery.FormatRaw})
	}
	reg.Configure(delivery.Static{"agent-a": cbs})
}

type rawPayload struct {
	Type          string          `json:"type"`
	Status        string          `json:"status"`
	Result        json.RawMessage `json:"result"`
	ResultBase64  string          `json:"result_base64"`
	ContentType   string          `json:"content_type"`
	Error         string          `json:"error"`
	BackendStatus int             `json:"backend_status"`
}

func decodePayload(t *testing.T, b []byte) rawPayload {
	t.Helper()
	var p rawPayload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("payload %.200s: %v", b, err)
	}
	return p
}

// TestRunnerBinaryResult: 3 MB of bytes that are not UTF-8, under the 4
// MiB max_result, are kept whole and delivered as base64 (4 MB), not as
// 18 MB of \ufffd escapes over the record limit.
func TestRunnerBinaryResult(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{MaxResult: 4 << 20})
	body := bytes.Repeat([]byte{0xff}, 3<<20)
	f.backend(answer("application/octet-stream", body))
	task := f.submit()
	f.step()
	got := f.task(task.ID)
	if got.Status != store.TaskSuccess || got.Result == nil || !bytes.Equal(got.Result.Body, body) {
		t.Fatalf("task %s, error %q", got.Status, got.Error)
	}
	ds := f.deliveries(task.ID)
	if len(ds) != 1 || ds[0].EventType != delivery.EventTaskSucceeded {
		t.Fatalf("deliveries %v", ds)
	}
	p := decodePayload(t, ds[0].Payload)
	raw, err := base64.StdEncoding.DecodeString(p.ResultBase64)
	if err != nil || !bytes.Equal(raw, body) || string(p.Result) != "null" || p.ContentType != "application/octet-stream" {
		t.Fatalf("payload result %s, type %q, base64: %v", p.Result, p.ContentType, err)
	}
	if len(ds[0].Payload) > store.MaxRecordBytes {
		t.Fatalf("payload of %d bytes", len(ds[0].Payload))
	}
}

// TestRunnerResultTooLarge: an answer whose payloads cannot be stored
// fails the task with result_too_large, delivered as task.failed without
// the body; the task is final and never runs again.
func TestRunnerResultTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ct   string
		body []byte
	}{
		// 7 MiB in base64 is over 9 MiB.
		{"binary", "application/octet-stream", bytes.Repeat([]byte{0xff}, 7<<20)},
		// 5 MiB of quotes is 10 MiB as a JSON string.
		{"escaped text", "text/plain", bytes.Repeat([]byte{'"'}, 5<<20)},
		// The answer itself, kept in the task record, is over the limit.
		{"JSON", "application/json", []byte(`"` + strings.Repeat("a", store.MaxRecordBytes) + `"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newRunFixture(t, Config{MaxResult: 16 << 20})
			core, logs := observer.New(zapcore.DebugLevel)
			f.r.Logger = zap.New(core)
			var calls atomic.Int64
			f.backend(func(w http.ResponseWriter, r *http.Request) error {
				calls.Add(1)
				return answer(tt.ct, tt.body)(w, r)
			})
			task := f.submit()
			f.step()
			got := f.task(task.ID)
			if got.Status != store.TaskFailure || !strings.HasPrefix(got.Error, handler.CodeResultTooLarge+":") {
				t.Fatalf("task %s, error %q", got.Status, got.Error)
			}
			if got.Result == nil || len(got.Result.Body) != 0 || got.Result.StatusCode != 200 {
				t.Fatalf("result %+v: want the backend's status without its body", got.Result)
			}
			ds := f.deliveries(task.ID)
			if len(ds) != 1 || ds[0].EventType != delivery.EventTaskFailed {
				t.Fatalf("deliveries %v", ds)
			}
			p := decodePayload(t, ds[0].Payload)
			if p.Type != "task.failed" || p.Status != "FAILURE" || string(p.Result) != "null" || p.ResultBase64 != "" || p.Error != got.Error || p.BackendStatus != 200 {
				t.Fatalf("payload %s", ds[0].Payload)
			}
			// Final: later claims find nothing, even after the lease.
			f.clock.Advance(time.Hour)
			f.step()
			if calls.Load() != 1 {
				t.Fatalf("the backend was called %d times", calls.Load())
			}
			if logs.FilterMessageSnippet("too large").Len() == 0 {
				t.Fatal("no log line says why the task failed")
			}
		})
	}
}

// TestRunnerResultTooLargeSeveralCallbacks: each payload is checked on
// its own, so a result fits with several callbacks as with one.
func TestRunnerResultTooLargeSeveralCallbacks(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{MaxResult: 8 << 20})
	f.addCallbacks(3)
	body := bytes.Repeat([]byte{0xff}, 5<<20) // 6.7 MiB in base64
	f.backend(answer("application/octet-stream", body))
	task := f.submit()
	f.step()
	if got := f.task(task.ID); got.Status != store.TaskSuccess {
		t.Fatalf("task %s, error %q", got.Status, got.Error)
	}
	if ds := f.deliveries(task.ID); len(ds) != 3 {
		t.Fatalf("%d deliveries", len(ds))
	}
}

// refusingStore refuses the first n finishes with ErrTooLarge, as an
// engine with a smaller limit of its own would.
type refusingStore struct {
	store.Store
	refuse atomic.Int64
	seen   atomic.Int64
}

func (s *refusingStore) FinishTask(ctx context.Context, f store.TaskFinish) error {
	s.seen.Add(1)
	if s.refuse.Add(-1) >= 0 {
		return store.TooLarge("over the engine's own limit")
	}
	return s.Store.FinishTask(ctx, f)
}

// TestRunnerStoreRefusesTooLarge: an ErrTooLarge from the store itself
// has the same outcome as the check before writing.
func TestRunnerStoreRefusesTooLarge(t *testing.T) {
	t.Parallel()
	f := newRunFixture(t, Config{})
	rs := &refusingStore{Store: f.st}
	rs.refuse.Store(1)
	f.r.Store = rs
	f.backend(answer("application/json", []byte(`{"text":"fine here"}`)))
	task := f.submit()
	f.step()
	got := f.task(task.ID)
	if got.Status != store.TaskFailure || !strings.HasPrefix(got.Error, handler.CodeResultTooLarge) || rs.seen.Load() != 2 {
		t.Fatalf("task %s, error %q, %d finishes", got.Status, got.Error, rs.seen.Load())
	}
	if ds := f.deliveries(task.ID); len(ds) != 1 || ds[0].EventType != delivery.EventTaskFailed {
		t.Fatalf("deliveries %v", ds)
	}
}

// leakyStore fails every call the runner makes with an error whose text
// quotes a record, as an engine's own error may.
type leakyStore struct {
	store.Store
	calls atomic.Int64
}

const leakMarker = "SECRET-RECORD-BYTES-7f3a"

var errLeaky = errors.New("write failed: value " + leakMarker + " exceeded the limit")

func (s *leakyStore) FinishTask(context.Context, store.TaskFinish) error {
	s.calls.Add(1)
	return errLeaky
}

func (s *leakyStore) RetryTask(context.Context, string, string, time.Time, string) error {
	return errLeaky
}

func (s *leakyStore) ReleaseTask(context.Context, string, string) error { return errLeaky }

func (s *leakyStore) GetChat(context.Context, string) (*store.Chat, error) { return nil, errLeaky }

// TestRunnerStoreErrorsNotLogged: store errors reach the log by category,
// never by their text; and a shutdown ends the retries of a finish the
// store keeps refusing, long before the lease runs out.
func TestRunnerStoreErrorsNotLogged(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := handlertest.OpenStore(t, time.Now)
		leaky := &leakyStore{Store: st}
		core, logs := observer.New(zapcore.DebugLevel)
		var calls atomic.Int64
		agent := &handler.Agent{Name: "agent-a", Backend: handlertest.BackendFunc(func(w http.ResponseWriter, r *http.Request) error {
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable) // retried: RetryTask fails
				return nil
			}
			return answer("application/json", []byte(`{"ok":true}`))(w, r)
		})}
		r := &Runner{Store: leaky, Logger: zap.New(core), Metrics: handler.NopMetrics{}, Now: time.Now, ID: "test"}
		r.Configure(Config{Attempts: 2, Timeout: time.Minute, Lease: 10 * time.Minute}, map[string]*handler.Agent{"agent-a": agent})
		now := time.Now()
		chat := &store.Chat{ID: handler.NewID(), Agent: "agent-a", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
		task := &store.Task{ID: handler.NewID(), Agent: "agent-a", ChatID: chat.ID, Request: store.Request{Method: "POST", Path: "/p", Body: []byte("{}")}}
		if _, err := st.CreateTask(context.Background(), store.NewTask{Task: task, Chat: chat}); err != nil {
			t.Fatal(err)
		}
		r.Start()
		// The first attempt fails and its retry is not recorded; the lease
		// runs out and the second attempt's finish keeps failing.
		time.Sleep(11 * time.Minute)
		if calls.Load() != 2 || leaky.calls.Load() < 2 {
			t.Fatalf("%d backend calls, %d finishes", calls.Load(), leaky.calls.Load())
		}
		start := time.Now()
		r.Stop(2 * time.Second)
		if took := time.Since(start); took > 2*time.Second+shutdownStoreTimeout {
			t.Fatalf("stopping took %v with a 2s grace period", took)
		}
		for _, e := range logs.All() {
			line := e.Message
			for k, v := range e.ContextMap() {
				line += " " + k + "=" + toString(v)
			}
			if strings.Contains(line, leakMarker) {
				t.Fatalf("a log line quotes the store's error: %s", line)
			}
		}
		for _, msg := range []string{"requeueing task", "recording task result", "could not record task result before shutdown"} {
			l := logs.FilterMessageSnippet(msg).All()
			if len(l) == 0 {
				t.Fatalf("no %q line", msg)
			}
			if got := l[0].ContextMap()["error"]; got != store.ErrInternal.Error() {
				t.Fatalf("%q logs error %v, want the category", msg, got)
			}
		}
	})
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
