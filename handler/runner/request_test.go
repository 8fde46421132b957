package runner

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func TestBackendRequest(t *testing.T) {
	t.Parallel()
	body := []byte("\x00\x01 binary \xff")
	task := &store.Task{
		ID: "task_abc", Agent: "agent-a", ChatID: "chat_1",
		Request: store.Request{
			Method: http.MethodPut, Host: "api.example.com", Path: "/prompts/support", RawQuery: "a=1&b=%20",
			Header: http.Header{
				"Content-Type":      {"application/octet-stream"},
				"X-Conversation-Id": {"forged"},
				"Idempotency-Key":   {"callers-own"},
				"X-Agenthook-Event": {"forged, queued before intake stripped it"},
				"X-Keep":            {"1", "2"},
			},
			RemoteAddr: "203.0.113.9:4711",
			Body:       body,
		},
	}
	agent := &handler.Agent{Name: "agent-a", ConversationHeader: "X-Conversation-Id"}
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
	if h.Get("X-Agenthook-Event") != "" {
		t.Fatal("a stored X-Agenthook-* header reached the backend")
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
	t.Parallel()
	task := &store.Task{ID: "t1", Request: store.Request{Method: http.MethodPost, Path: "/p"}}
	req, err := backendRequest(context.Background(), task, &handler.Agent{Name: "a"}, "conv")
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "localhost" || req.RemoteAddr != "127.0.0.1:0" || req.Header == nil || req.Header.Get("Idempotency-Key") != "t1" {
		t.Fatalf("defaults: host %q, remote %q, header %v", req.Host, req.RemoteAddr, req.Header)
	}
	if b, _ := io.ReadAll(req.Body); len(b) != 0 {
		t.Fatalf("empty body read as %q", b)
	}
	if _, err := backendRequest(context.Background(), &store.Task{Request: store.Request{Method: "BAD METHOD", Path: "/"}}, &handler.Agent{}, ""); err == nil {
		t.Fatal("an invalid method built a request")
	}
}
