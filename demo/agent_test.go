package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestAgentCountsTurns: the demo agent answers with the prompt and counts
// turns per conversation, in the conversation header it names.
func TestAgentCountsTurns(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &Agent{}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	ask := func(conv string) (string, map[string]any) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"prompt":"hello there"}`))
		if conv != "" {
			r.Header.Set("X-Conversation-Id", conv)
		}
		w := httptest.NewRecorder()
		if err := a.ServeHTTP(w, r, nil); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s", w.Body)
		}
		return w.Header().Get("X-Conversation-Id"), m
	}
	conv, first := ask("")
	if first["answer"] != "You said: hello there" || first["turn"] != 1.0 || conv == "" {
		t.Fatalf("first turn: %v, conversation %q", first, conv)
	}
	if _, second := ask(conv); second["turn"] != 2.0 || second["conversation_id"] != conv {
		t.Fatalf("second turn: %v", second)
	}
}
