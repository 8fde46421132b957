package endpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func TestEndpointAsync(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.StripHeaders = []string{"X-Api-Key"} })
	body := "binary \x00\xff body"
	rec := f.do(http.MethodPost, "/prompts/a?x=1", body, "X-Api-Key", "k", "Authorization", "Basic Zm9vOmJhcg==",
		"Idempotency-Key", "idem-1", "X-Keep", "kept", testConvHeader, "forged", "Cookie", "c=1")
	var a accepted
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.TaskID == "" || rec.Header().Get(DefaultChatHeader) != a.ChatID {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(f.calls()) != 0 {
		t.Fatal("async called the backend in the request")
	}
	task, err := f.st.GetTask(context.Background(), a.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if string(task.Request.Body) != body || task.Request.Path != "/prompts/a" || task.Request.RawQuery != "x=1" || task.Status != store.TaskPending || task.Principal != "ep/"+Anonymous {
		t.Fatalf("stored task %+v", task)
	}
	h := task.Request.Header
	for _, gone := range []string{"X-Api-Key", "Authorization", "Idempotency-Key", testConvHeader, "Cookie"} {
		if h.Get(gone) != "" {
			t.Errorf("%s was stored with the task", gone)
		}
	}
	if h.Get("X-Keep") != "kept" {
		t.Errorf("X-Keep was not stored")
	}
	// Idempotency: the same key and body give the first answer.
	rec = f.do(http.MethodPost, "/prompts/a?x=1", body, "Idempotency-Key", "idem-1")
	var again accepted
	_ = json.Unmarshal(rec.Body.Bytes(), &again)
	if rec.Code != http.StatusAccepted || again != a || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed key: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodPost, "/prompts/a?x=1", "other", "Idempotency-Key", "idem-1"), http.StatusConflict, handler.CodeIdempotency)
	wantError(t, f.do(http.MethodPost, "/p", "{}", "Idempotency-Key", strings.Repeat("k", 256)), http.StatusBadRequest, handler.CodeBadRequest)
}

func TestEndpointAsyncMaxQueue(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.MaxQueue = 2 })
	for range 2 {
		if rec := f.do(http.MethodPost, "/p", "{}"); rec.Code != http.StatusAccepted {
			t.Fatal(rec.Code)
		}
	}
	f.clock.Advance(2 * time.Second) // past the store's count cache
	rec := f.do(http.MethodPost, "/p", "{}")
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeOverloaded)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After on 503")
	}
}

// TestAcceptedJSON checks the 202's hand-made JSON against what
// handler.WriteJSON made of the accepted struct before it.
func TestAcceptedJSON(t *testing.T) {
	t.Parallel()
	for _, ids := range [][2]string{
		{handler.NewID(), handler.NewID()},
		{"t", ""},
		{"a\"b\\c", "<chat>&\u2028\x01é"},
		{"AAAAAAAAAAAAAAAAAAAAAA", "caller-chosen chat id 42"},
	} {
		want := httptest.NewRecorder()
		handler.WriteJSON(want, http.StatusAccepted, accepted{TaskID: ids[0], ChatID: ids[1]})
		if got := string(acceptedJSON(ids[0], ids[1])); got != want.Body.String() {
			t.Errorf("acceptedJSON(%q, %q) = %q, want %q", ids[0], ids[1], got, want.Body.String())
		}
	}
}

func TestHashPartsUnambiguous(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 2000)
	if hashParts("ab", "c") == hashParts("a", "bc") || hashParts(long, "a") == hashParts(long+"a") {
		t.Fatal("hashParts confuses where its parts end")
	}
	// The value is stored in idempotency records: it must not change.
	// (sha256 of "a\x00b\x00", as printf 'a\0b\0' | sha256sum says.)
	if got, want := hashParts("a", "b"), "8fb20ef63ced4145fc2e983ffe597d1dcff39154c3bf21f0fa9dde6a0c50fdc9"; got != want {
		t.Fatalf("hashParts(a, b) = %s, want %s", got, want)
	}
}
