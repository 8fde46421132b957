package endpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

// TestEndpointReservedHeaders: X-Agenthook-* headers a caller sends never
// reach the backend, sync or queued; a caller's Idempotency-Key reaches
// it in sync mode only (async workers send the task id instead).
func TestEndpointReservedHeaders(t *testing.T) {
	t.Parallel()
	forged := []string{"X-Agenthook-Task-Id", "forged-task", "X-Agenthook-Event", "task.succeeded", "X-AGENTHOOK-ANYTHING", "x", "Idempotency-Key", "caller-key", "X-Keep", "kept"}

	f := newEpFixture(t, ModeSync, nil)
	if rec := f.do(http.MethodPost, "/p", "{}", forged...); rec.Code != 200 {
		t.Fatalf("sync: %d %s", rec.Code, rec.Body)
	}
	h := f.calls()[0].Header
	for name := range h {
		if len(name) >= 12 && http.CanonicalHeaderKey(name[:12]) == "X-Agenthook-" {
			t.Fatalf("sync: the backend got %s", name)
		}
	}
	if h.Get("Idempotency-Key") != "caller-key" || h.Get("X-Keep") != "kept" {
		t.Fatalf("sync: the backend got %v", h)
	}

	f = newEpFixture(t, ModeAsync, nil)
	rec := f.do(http.MethodPost, "/p", "{}", forged...)
	var a accepted
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
		t.Fatalf("async: %d %s", rec.Code, rec.Body)
	}
	task, err := f.st.GetTask(context.Background(), a.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Request.Header) != 1 || task.Request.Header.Get("X-Keep") != "kept" {
		t.Fatalf("async: stored headers %v", task.Request.Header)
	}
}
