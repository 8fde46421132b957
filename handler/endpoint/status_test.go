package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// tasks is a statusStore over a map.
type tasks map[string]*store.Task

func (m tasks) GetTask(_ context.Context, id string) (*store.Task, error) {
	if t := m[id]; t != nil {
		return t, nil
	}
	return nil, store.ErrNotFound
}

type failingTasks struct{}

func (failingTasks) GetTask(context.Context, string) (*store.Task, error) {
	return nil, errors.New("connection refused")
}

func TestStatus(t *testing.T) {
	t.Parallel()
	id := handler.NewID()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := tasks{id: {ID: id, Agent: "a", ChatID: "c", Principal: "bearer:alice", Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"x":1}`)}, CreatedAt: now, UpdatedAt: now}}
	s := &Status{Store: st, Logger: zap.NewNop(), Metrics: handler.NopMetrics{}, Now: time.Now}
	get := func(s *Status, method, target string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	for _, target := range []string{"/api/task_status?task_id=" + id, "/api/task_status/" + id} {
		rec := get(s, http.MethodGet, target)
		var v handler.TaskView
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil || v.TaskID != id || string(v.Result) != `{"x":1}` || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
	}
	for _, target := range []string{"/api/task_status?task_id=" + handler.NewID(), "/api/task_status/not..valid", "/api/task_status"} {
		wantError(t, get(s, http.MethodGet, target), http.StatusNotFound, handler.CodeTaskNotFound)
	}
	rec := get(s, http.MethodPost, "/api/task_status/"+id)
	wantError(t, rec, http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
	if rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("Allow %q", rec.Header().Get("Allow"))
	}
	wantError(t, get(&Status{Store: failingTasks{}, Logger: zap.NewNop(), Now: time.Now}, http.MethodGet, "/s/"+id), http.StatusServiceUnavailable, handler.CodeUnavailable)

	// With auth, a caller sees a task only if its credential is one of
	// those behind the task's principal; otherwise 404.
	creator := Auth{Lines: lines(newBearer(t, "alice", "alice-next"), newBearer(t, "bob"))}
	keyIDs := creator.KeyIDs("support-async")
	st[id].Principal = "support-async/bearer#1"
	s.Auth = Auth{Lines: lines(newBearer(t, "alice", "bob"), newBearer(t, "alice-next"))}
	var seen []string
	s.OnIdentity = func(_ *http.Request, id Identity) { seen = append(seen, id.Principal) }
	wantError(t, get(s, http.MethodGet, "/s/"+id, "Authorization", "Bearer alice"), http.StatusNotFound, handler.CodeTaskNotFound)
	s.KeyIDs = func(p string) []string { return keyIDs[p] }
	wantError(t, get(s, http.MethodGet, "/s/"+id), http.StatusUnauthorized, handler.CodeUnauthorized)
	wantError(t, get(s, http.MethodGet, "/s/"+id, "Authorization", "Bearer bob"), http.StatusNotFound, handler.CodeTaskNotFound)
	for _, tok := range []string{"alice", "alice-next"} {
		if rec := get(s, http.MethodGet, "/s/"+id, "Authorization", "Bearer "+tok); rec.Code != 200 {
			t.Fatalf("the owner, with %s: %d %s", tok, rec.Code, rec.Body)
		}
	}
	// A principal the config no longer has shows nothing.
	st[id].Principal = "removed-endpoint/bearer#1"
	wantError(t, get(s, http.MethodGet, "/s/"+id, "Authorization", "Bearer alice"), http.StatusNotFound, handler.CodeTaskNotFound)
	if len(seen) == 0 || seen[0] != "status/bearer#1" {
		t.Fatalf("status callers' principals: %q", seen)
	}
}
