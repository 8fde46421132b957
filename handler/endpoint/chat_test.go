package endpoint

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
)

// bearerFixture is a sync endpoint with two bearer lines, one token each,
// so two principals.
func bearerFixture(t *testing.T) *epFixture {
	t.Helper()
	return newEpFixture(t, ModeSync, func(e *Endpoint) {
		e.Auth = Auth{Lines: lines(newBearer(t, "token-alice"), newBearer(t, "token-bob"))}
		e.StripHeaders = []string{"Authorization"}
	})
}

func TestEndpointChats(t *testing.T) {
	t.Parallel()
	f := bearerFixture(t)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set(testConvHeader, "conv-1")
		_, _ = io.WriteString(w, "hi")
		return nil
	})
	alice := []string{"Authorization", "Bearer token-alice"}

	// A new chat.
	rec := f.do(http.MethodPost, "/p", "{}", append(alice, testConvHeader, "forged")...)
	id := rec.Header().Get(DefaultChatHeader)
	if rec.Code != 200 || !handler.ValidID(id) {
		t.Fatalf("first turn: %d, chat id %q", rec.Code, id)
	}
	if rec.Header().Get(testConvHeader) != "" {
		t.Fatal("the backend's conversation id reached the caller")
	}
	first := f.calls()[0]
	if first.Header.Get(testConvHeader) != "" || first.Header.Get("Authorization") != "" {
		t.Fatalf("first turn: the backend saw conversation %q, authorization %q", first.Header.Get(testConvHeader), first.Header.Get("Authorization"))
	}
	chat, err := f.st.GetChat(context.Background(), id)
	if err != nil || chat.ConversationID != "conv-1" || chat.Agent != "agent-a" || chat.Principal != "ep/bearer#1" {
		t.Fatalf("stored chat %+v, %v", chat, err)
	}

	// Continued, as often as the caller likes.
	for i := range 3 {
		rec = f.do(http.MethodPost, "/p", "{}", append(alice, DefaultContinueHeader, id)...)
		if rec.Code != 200 || rec.Header().Get(DefaultChatHeader) != id {
			t.Fatalf("turn %d: %d, chat id %q, want %q", i+2, rec.Code, rec.Header().Get(DefaultChatHeader), id)
		}
		c := f.calls()[i+1]
		if c.Header.Get(testConvHeader) != "conv-1" || c.Header.Get(DefaultContinueHeader) != "" {
			t.Fatalf("turn %d: the backend saw conversation %q, continue header %q", i+2, c.Header.Get(testConvHeader), c.Header.Get(DefaultContinueHeader))
		}
	}

	// Another caller cannot continue it, and cannot tell it exists.
	n := len(f.calls())
	rec = f.do(http.MethodPost, "/p", "{}", "Authorization", "Bearer token-bob", DefaultContinueHeader, id)
	msgTheirs := wantError(t, rec, http.StatusNotFound, handler.CodeChatNotFound)
	rec = f.do(http.MethodPost, "/p", "{}", append(alice, DefaultContinueHeader, handler.NewID())...)
	msgUnknown := wantError(t, rec, http.StatusNotFound, handler.CodeChatNotFound)
	if msgTheirs != msgUnknown {
		t.Fatalf("another's chat (%q) and an unknown one (%q) answer differently", msgTheirs, msgUnknown)
	}
	for _, bad := range []string{"not a valid id!", strings.Repeat("a", 65), "../../etc", "id%00"} {
		rec = f.do(http.MethodPost, "/p", "{}", append(alice, DefaultContinueHeader, bad)...)
		wantError(t, rec, http.StatusNotFound, handler.CodeChatNotFound)
	}
	if len(f.calls()) != n {
		t.Fatal("the backend was called for a chat that is not the caller's")
	}
	// Unauthenticated: 401.
	wantError(t, f.do(http.MethodPost, "/p", "{}"), http.StatusUnauthorized, handler.CodeUnauthorized)
	wantError(t, f.do(http.MethodPost, "/p", "{}", "Authorization", "Bearer nope"), http.StatusUnauthorized, handler.CodeUnauthorized)
}

func TestEndpointFailedFirstTurnStartsNoChat(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	})
	rec := f.do(http.MethodPost, "/p", "{}")
	if rec.Code != 400 || rec.Header().Get(DefaultChatHeader) != "" {
		t.Fatalf("failed first turn: %d, chat id %q", rec.Code, rec.Header().Get(DefaultChatHeader))
	}
}

func TestEndpointChatRefresh(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.ChatTTL = 24 * time.Hour })
	id := f.do(http.MethodPost, "/p", "{}").Header().Get(DefaultChatHeader)
	f.clock.Advance(2 * time.Hour)
	if rec := f.do(http.MethodPost, "/p", "{}", DefaultContinueHeader, id); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	chat, err := f.st.GetChat(context.Background(), id)
	if err != nil || !chat.ExpiresAt.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("chat %+v, %v: a turn after an hour should push the expiry out", chat, err)
	}
	f.clock.Advance(25 * time.Hour)
	wantError(t, f.do(http.MethodPost, "/p", "{}", DefaultContinueHeader, id), http.StatusNotFound, handler.CodeChatNotFound)
}
