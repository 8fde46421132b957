package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

const leakMarker = "RECORD-BYTES-5c1e"

// errLeaky quotes a record, as an engine's own error may.
var errLeaky = errors.New("value " + leakMarker + " exceeded the limit")

// leakyEndpointStore fails every write with errLeaky.
type leakyEndpointStore struct{ store.Store }

func (leakyEndpointStore) SaveChat(context.Context, *store.Chat) error { return errLeaky }
func (leakyEndpointStore) CreateTask(context.Context, store.NewTask) (store.Created, error) {
	return store.Created{}, errLeaky
}
func (leakyEndpointStore) GetTask(context.Context, string) (*store.Task, error) { return nil, errLeaky }

// noLeak fails if a log line quotes the marker.
func noLeak(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, leakMarker) {
			t.Fatalf("a log line quotes the store's error: %s", line)
		}
	}
}

// TestStoreErrorsNotLogged: the endpoints log a failing store by its
// category, never its text.
func TestStoreErrorsNotLogged(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeSync, ModeAsync} {
		f := newEpFixture(t, mode, nil)
		f.e.Store = leakyEndpointStore{f.st}
		rec := f.do(http.MethodPost, "/p", `{"q":1}`)
		if mode == ModeAsync {
			wantError(t, rec, http.StatusServiceUnavailable, handler.CodeUnavailable)
		}
		noLeak(t, f.logs)
		if strings.Contains(rec.Body.String(), leakMarker) {
			t.Fatalf("%s answer quotes the store: %s", mode, rec.Body)
		}
	}

	core, logs := observer.New(zapcore.DebugLevel)
	s := &Status{Store: leakyEndpointStore{}, Logger: zap.New(core), Metrics: handler.NopMetrics{}, Now: time.Now}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/s/"+handler.NewID(), nil))
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeUnavailable)
	noLeak(t, logs)
	if got := logs.All()[0].ContextMap()["error"]; got != store.ErrInternal.Error() {
		t.Fatalf("status logs error %v, want the category", got)
	}
}
