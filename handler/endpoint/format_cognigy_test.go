package endpoint

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/handler"
)

func TestEndpointCognigyValidation(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.Format = cognigyRequest{} })
	const tail = " (userId and sessionId must be non-empty strings, and text a string or data an object)"
	tests := []struct {
		body, code, missing string
	}{
		{`not json`, handler.CodeInvalidJSON, ""},
		{`[1,2]`, handler.CodeInvalidJSON, ""},
		{`{"userId":"u","sessionId":"s","text":`, handler.CodeInvalidJSON, ""},
		{`{}`, handler.CodeMissingFields, "userId, sessionId, text or data"},
		{`null`, handler.CodeMissingFields, "userId, sessionId, text or data"},
		{`{"userId":"u","sessionId":"s"}`, handler.CodeMissingFields, "text or data"},
		{`{"userId":1,"sessionId":"s","text":"hi"}`, handler.CodeMissingFields, "userId"},
		{`{"userId":"","sessionId":"s","text":"hi"}`, handler.CodeMissingFields, "userId"},
		{`{"userId":"u","sessionId":null,"text":"hi"}`, handler.CodeMissingFields, "sessionId"},
		{`{"userId":"u","sessionId":"s","text":""}`, handler.CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","text":5}`, handler.CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","data":[1]}`, handler.CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","data":"x"}`, handler.CodeMissingFields, "text or data"},
		{`{"userId":"u","text":"hi"}`, handler.CodeMissingFields, "sessionId"},
	}
	for _, tt := range tests {
		msg := wantError(t, f.do(http.MethodPost, "/c", tt.body), http.StatusBadRequest, tt.code)
		if tt.missing != "" && msg != "missing or invalid: "+tt.missing+tail {
			t.Errorf("%s: message %q, want it to name %q", tt.body, msg, tt.missing)
		}
	}
	for _, ok := range []string{
		`{"userId":"u","sessionId":"s","text":"hi"}`,
		`{"userId":"u","sessionId":"s","data":{"a":1}}`,
		`{"userId":"u","sessionId":"s","text":"","data":{}}`,
	} {
		if rec := f.do(http.MethodPost, "/c", ok); rec.Code != http.StatusAccepted {
			t.Errorf("%s: %d %s", ok, rec.Code, rec.Body)
		}
	}
}

func TestEndpointCognigySessions(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.Format = cognigyRequest{} })
	accept := func(body string) accepted {
		t.Helper()
		rec := f.do(http.MethodPost, "/c", body)
		var a accepted
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &a) != nil || rec.Header().Get(DefaultChatHeader) != a.ChatID {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body)
		}
		return a
	}
	a1 := accept(`{"userId":"u","sessionId":"s1","text":"one","disableSensitiveLogging":true}`)
	a2 := accept(`{"userId":"u","sessionId":"s1","text":"two"}`)
	b := accept(`{"userId":"u","sessionId":"s2","text":"three"}`)
	if a1.ChatID != a2.ChatID || a1.ChatID == b.ChatID || a1.TaskID == a2.TaskID {
		t.Fatalf("chats %q %q %q: one session is one chat", a1.ChatID, a2.ChatID, b.ChatID)
	}
	task, err := f.st.GetTask(context.Background(), a1.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.Meta["userId"] != "u" || task.Meta["sessionId"] != "s1" || !task.Sensitive {
		t.Fatalf("task meta %v, sensitive %v", task.Meta, task.Sensitive)
	}
	if t2, _ := f.st.GetTask(context.Background(), a2.TaskID); t2.Sensitive {
		t.Fatal("a message without disableSensitiveLogging is sensitive")
	}
}
