package endpoint

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
)

func TestRedactToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, query, token, name string
		wantPath, wantURI        string
	}{
		{"/api/webhooks/agents/tok123", "", "tok123", "support", "/api/webhooks/agents/support", "/api/webhooks/agents/support"},
		{"/api/webhooks/agents/tok123/", "", "tok123", "support", "/api/webhooks/agents/support", "/api/webhooks/agents/support"},
		{"/hooks/tok123", "a=1&b=2", "tok123", "support", "/hooks/support", "/hooks/support?a=1&b=2"},
		{"/tok123", "", "tok123", "REDACTED", "/REDACTED", "/REDACTED"},
		{"/hooks/t%20k", "", "t k", "x", "/hooks/x", "/hooks/x"},
	}
	for _, tt := range tests {
		target := tt.path
		if tt.query != "" {
			target += "?" + tt.query
		}
		r := httptest.NewRequest(http.MethodPost, target, nil)
		redactToken(r, lastSegment(r.URL.Path), tt.name)
		if r.URL.Path != tt.wantPath || r.RequestURI != tt.wantURI || r.URL.RawPath != "" {
			t.Errorf("%s: path %q, RequestURI %q, RawPath %q; want %q, %q", target, r.URL.Path, r.RequestURI, r.URL.RawPath, tt.wantPath, tt.wantURI)
		}
		if strings.Contains(r.URL.String(), tt.token) || strings.Contains(r.RequestURI, tt.token) {
			t.Errorf("%s: the token is still in %q", target, r.URL.String())
		}
	}
}

func TestEndpointTokenURL(t *testing.T) {
	t.Parallel()
	const token = "tok-SECRET-aaaaaaaaaaaaaaaa"
	hidden := 0
	var hiddenReq *http.Request
	f := newEpFixture(t, ModeSync, func(e *Endpoint) {
		ts := signing.NewTokenSet()
		if err := ts.Add("agent-a", token); err != nil {
			t.Fatal(err)
		}
		e.Agent = nil
		e.Tokens = ts
		e.Auth = Auth{} // the token is the authentication
		e.HideRequest = func(r *http.Request) { hidden++; hiddenReq = r }
	})
	f.e.Agents = map[string]*handler.Agent{"agent-a": f.agent}

	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/agents/"+token+"?x=1", strings.NewReader(`{"q":1}`))
	rec := f.serve(req)
	if rec.Code != 200 || rec.Header().Get(DefaultChatHeader) == "" {
		t.Fatalf("token request: %d %s", rec.Code, rec.Body)
	}
	if hidden != 1 || hiddenReq != req {
		t.Fatalf("HideRequest called %d times (with the request: %v)", hidden, hiddenReq == req)
	}
	c := f.calls()[0]
	if c.Path != "/api/webhooks/agents/agent-a" || c.RequestURI != "/api/webhooks/agents/agent-a?x=1" {
		t.Fatalf("the backend saw %q (%q), want the agent's name in place of the token", c.Path, c.RequestURI)
	}
	if req.URL.Path != "/api/webhooks/agents/agent-a" {
		t.Fatalf("the request's URL still reads %q after the endpoint", req.URL.Path)
	}

	// A wrong token: 404, like a path that does not exist.
	wrong := "tok-WRONG-bbbbbbbbbbbbbbbbbb"
	req = httptest.NewRequest(http.MethodPost, "/api/webhooks/agents/"+wrong, strings.NewReader(`{}`))
	rec = f.serve(req)
	wantError(t, rec, http.StatusNotFound, handler.CodeNotFound)
	if hidden != 2 || strings.Contains(rec.Body.String(), wrong) || strings.Contains(req.URL.Path, wrong) {
		t.Fatalf("wrong token: hidden %d, answer %s, path %q", hidden, rec.Body, req.URL.Path)
	}
	if len(f.calls()) != 1 {
		t.Fatal("the backend was called for a wrong token")
	}

	// The endpoint's own log lines hold neither token.
	entries := f.logs.FilterMessage("token request").All()
	if len(entries) != 2 {
		t.Fatalf("%d token request log lines, want 2", len(entries))
	}
	for _, e := range f.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, "SECRET") || strings.Contains(line, "WRONG") {
			t.Fatalf("log line holds a token: %s", line)
		}
	}
	if p := entries[1].ContextMap()["path"]; p != "/api/webhooks/agents/REDACTED" {
		t.Fatalf("logged path %v", p)
	}
}

func TestEndpointHideRequestOnlyForTokens(t *testing.T) {
	t.Parallel()
	called := false
	f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.HideRequest = func(*http.Request) { called = true } })
	if rec := f.do(http.MethodPost, "/p", "{}"); rec.Code != 200 || called {
		t.Fatalf("%d, HideRequest called %v", rec.Code, called)
	}
}

// TestEndpointTokenHiddenBeforeAnyAnswer: a wrong method or a body too
// large is answered after the token is out of the URL and the request out
// of the access log, so no log line holds it.
func TestEndpointTokenHiddenBeforeAnyAnswer(t *testing.T) {
	t.Parallel()
	const token = "tok-SECRET-cccccccccccccccc"
	hidden := 0
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) {
		ts := signing.NewTokenSet()
		if err := ts.Add("agent-a", token); err != nil {
			t.Fatal(err)
		}
		e.Agent = nil
		e.Tokens = ts
		e.Auth = Auth{}
		e.HideRequest = func(*http.Request) { hidden++ }
	})
	f.e.Agents = map[string]*handler.Agent{"agent-a": f.agent}
	for _, tt := range []struct {
		method, token, body string
		status              int
		code                string
	}{
		{http.MethodGet, token, "", http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed},
		{http.MethodPost, token, strings.Repeat("x", 2048), http.StatusRequestEntityTooLarge, handler.CodeTooLarge},
		{http.MethodGet, "tok-WRONG-dddddddddddddddd", "", http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed},
		{http.MethodPost, "tok-WRONG-dddddddddddddddd", strings.Repeat("x", 2048), http.StatusRequestEntityTooLarge, handler.CodeTooLarge},
	} {
		req := httptest.NewRequest(tt.method, "/hooks/"+tt.token, strings.NewReader(tt.body))
		rec := f.serve(req)
		wantError(t, rec, tt.status, tt.code)
		if strings.Contains(req.URL.String(), tt.token) || strings.Contains(req.RequestURI, tt.token) {
			t.Fatalf("%s %d: the URL still holds the token: %s", tt.method, tt.status, req.RequestURI)
		}
	}
	if hidden != 4 {
		t.Fatalf("HideRequest called %d times for 4 requests", hidden)
	}
	for _, e := range f.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, "SECRET") || strings.Contains(line, "WRONG") {
			t.Fatalf("log line holds a token: %s", line)
		}
	}
	if n := f.logs.FilterMessage("token request").Len(); n != 4 {
		t.Fatalf("%d token request lines", n)
	}
}
