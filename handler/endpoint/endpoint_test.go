package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// backendFunc is a Backend made of a function.
type backendFunc func(w http.ResponseWriter, r *http.Request) error

func (f backendFunc) Forward(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// seenRequest is what the fake backend received.
type seenRequest struct {
	Method, Path, RequestURI, RawQuery, RemoteAddr string
	Header                                         http.Header
	Body                                           []byte
}

type epFixture struct {
	t     *testing.T
	clock *storetest.Clock
	st    store.Store
	e     *Endpoint
	agent *Agent
	logs  *observer.ObservedLogs

	mu      sync.Mutex
	backend func(w http.ResponseWriter, r *http.Request) error
	seen    []seenRequest
}

const testConvHeader = "X-Conversation-Id"

func newEpFixture(t *testing.T, mode Mode, edit func(e *Endpoint)) *epFixture {
	t.Helper()
	f := &epFixture{t: t, clock: storetest.NewClock(storetest.Start)}
	f.st = openTestStore(t, f.clock)
	f.backend = func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":"ok"}`)
		return nil
	}
	f.agent = &Agent{Name: "agent-a", ConversationHeader: testConvHeader, Backend: backendFunc(func(w http.ResponseWriter, r *http.Request) error {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{
			Method: r.Method, Path: r.URL.Path, RequestURI: r.RequestURI, RawQuery: r.URL.RawQuery,
			RemoteAddr: r.RemoteAddr, Header: r.Header.Clone(), Body: body,
		})
		fn := f.backend
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		return fn(w, r)
	})}
	core, logs := observer.New(zapcore.DebugLevel)
	f.logs = logs
	f.e = &Endpoint{
		Name:           "ep",
		Agent:          f.agent,
		Auth:           Auth{None: true, Replay: f.st},
		Mode:           mode,
		Format:         FormatRaw,
		ChatHeader:     DefaultChatHeader,
		ContinueHeader: DefaultContinueHeader,
		MaxBody:        1024,
		ChatTTL:        DefaultChatTTL,
		IdempotencyTTL: DefaultIdempotencyTTL,
		Store:          f.st,
		Logger:         zap.New(core),
		Metrics:        NopMetrics{},
		Now:            f.clock.Now,
	}
	if edit != nil {
		edit(f.e)
	}
	return f
}

func (f *epFixture) setBackend(fn func(w http.ResponseWriter, r *http.Request) error) {
	f.mu.Lock()
	f.backend = fn
	f.mu.Unlock()
}

func (f *epFixture) calls() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// do serves one request; headers are name, value pairs.
func (f *epFixture) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.serve(req)
}

func (f *epFixture) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	var e struct{ Error, Code string }
	if rec.Code != status || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Code != code || e.Error == "" {
		t.Fatalf("answer %d %s; want %d with code %q", rec.Code, rec.Body.String(), status, code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return e.Error
}

func TestEndpointMethodNotAllowed(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		rec := f.do(m, "/prompts/a", "")
		if m == http.MethodHead {
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("HEAD: %d", rec.Code)
			}
			continue
		}
		wantError(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != http.MethodPost {
			t.Fatalf("%s: Allow = %q", m, got)
		}
	}
	if n := len(f.calls()); n != 0 {
		t.Fatalf("the backend was called %d times", n)
	}
}

func TestEndpointBodyTooLarge(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	big := strings.Repeat("x", 1025)

	// Declared length.
	msg := wantError(t, f.do(http.MethodPost, "/p", big), http.StatusRequestEntityTooLarge, CodeTooLarge)
	if msg != "the request body is larger than 1024 bytes" {
		t.Fatalf("message %q", msg)
	}
	// Chunked: no length, found out while reading.
	req := httptest.NewRequest(http.MethodPost, "/p", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1
	wantError(t, f.serve(req), http.StatusRequestEntityTooLarge, CodeTooLarge)
	// A length that understates the body.
	req = httptest.NewRequest(http.MethodPost, "/p", strings.NewReader(big+big))
	req.ContentLength = 10
	wantError(t, f.serve(req), http.StatusRequestEntityTooLarge, CodeTooLarge)
	if n := len(f.calls()); n != 0 {
		t.Fatalf("the backend was called %d times", n)
	}
	// Exactly the limit passes, chunked or not.
	exact := strings.Repeat("y", 1024)
	if rec := f.do(http.MethodPost, "/p", exact); rec.Code != 200 {
		t.Fatalf("a body of exactly MaxBody: %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest(http.MethodPost, "/p", io.NopCloser(strings.NewReader(exact)))
	req.ContentLength = -1
	if rec := f.serve(req); rec.Code != 200 {
		t.Fatalf("a chunked body of exactly MaxBody: %d %s", rec.Code, rec.Body)
	}
	for _, c := range f.calls() {
		if string(c.Body) != exact {
			t.Fatalf("the backend got %d bytes, want the 1024 sent", len(c.Body))
		}
	}

	// Over a real connection, with chunked transfer encoding.
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			_, _ = io.WriteString(pw, strings.Repeat("z", 500))
		}
		pw.Close()
	}()
	resp, err := http.Post(srv.URL+"/p", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over HTTP: %d", resp.StatusCode)
	}
}

func binaryBody(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestReadBodyExact(t *testing.T) {
	const limit = 256 << 10
	readers := map[string]func([]byte) io.Reader{
		"plain":      func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte":   func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":       func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data + EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for _, n := range []int{0, 1, 2, 1000, 64<<10 - 1, 64 << 10, 64<<10 + 1, 100_000, limit} {
		body := binaryBody(n)
		for name, mk := range readers {
			if name == "one byte" && n > 70_000 {
				continue // slow and says nothing new
			}
			for _, known := range []bool{true, false} {
				t.Run(fmt.Sprintf("%d/%s/known=%v", n, name, known), func(t *testing.T) {
					req := httptest.NewRequest(http.MethodPost, "/", nil)
					req.Body = io.NopCloser(mk(body))
					req.ContentLength = -1
					if known {
						req.ContentLength = int64(n)
					}
					got, err := readBody(req, limit)
					if err != nil {
						t.Fatalf("readBody: %v", err)
					}
					if !bytes.Equal(got, body) {
						t.Fatalf("readBody returned %d bytes, not the %d sent", len(got), n)
					}
				})
			}
		}
	}
	// One byte over the limit, either way.
	for _, known := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Body = io.NopCloser(bytes.NewReader(binaryBody(limit + 1)))
		req.ContentLength = -1
		if known {
			req.ContentLength = limit + 1
		}
		var he *Error
		if _, err := readBody(req, limit); !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("limit+1 bytes (known=%v): %v", known, err)
		}
	}
	// No body at all.
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body = nil
	if got, err := readBody(req, limit); err != nil || len(got) != 0 {
		t.Fatalf("nil body: %q, %v", got, err)
	}
	// A failing read is a 400 that does not leak the cause.
	req = httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("conn reset by 10.0.0.7"))))
	var he *Error
	if _, err := readBody(req, limit); !errors.As(err, &he) || he.Status != http.StatusBadRequest || strings.Contains(he.Message, "10.0.0.7") {
		t.Fatalf("read error: %v", err)
	}
}

func TestRedactToken(t *testing.T) {
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
	f.e.Agents = map[string]*Agent{"agent-a": f.agent}

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
	wantError(t, rec, http.StatusNotFound, CodeNotFound)
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
	called := false
	f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.HideRequest = func(*http.Request) { called = true } })
	if rec := f.do(http.MethodPost, "/p", "{}"); rec.Code != 200 || called {
		t.Fatalf("%d, HideRequest called %v", rec.Code, called)
	}
}

// bearerFixture is a sync endpoint with two bearer tokens, so two
// principals.
func bearerFixture(t *testing.T) *epFixture {
	t.Helper()
	return newEpFixture(t, ModeSync, func(e *Endpoint) {
		b, err := signing.NewBearer([]string{"token-alice", "token-bob"})
		if err != nil {
			t.Fatal(err)
		}
		e.Auth = Auth{Verifiers: []signing.Verifier{b}}
		e.StripHeaders = []string{"Authorization"}
	})
}

func TestEndpointChats(t *testing.T) {
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
	if rec.Code != 200 || !validID(id) {
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
	if err != nil || chat.ConversationID != "conv-1" || chat.Agent != "agent-a" || !strings.HasPrefix(chat.Principal, "bearer:") {
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
	msgTheirs := wantError(t, rec, http.StatusNotFound, CodeChatNotFound)
	rec = f.do(http.MethodPost, "/p", "{}", append(alice, DefaultContinueHeader, NewID())...)
	msgUnknown := wantError(t, rec, http.StatusNotFound, CodeChatNotFound)
	if msgTheirs != msgUnknown {
		t.Fatalf("another's chat (%q) and an unknown one (%q) answer differently", msgTheirs, msgUnknown)
	}
	for _, bad := range []string{"not a valid id!", strings.Repeat("a", 65), "../../etc", "id%00"} {
		rec = f.do(http.MethodPost, "/p", "{}", append(alice, DefaultContinueHeader, bad)...)
		wantError(t, rec, http.StatusNotFound, CodeChatNotFound)
	}
	if len(f.calls()) != n {
		t.Fatal("the backend was called for a chat that is not the caller's")
	}
	// Unauthenticated: 401.
	wantError(t, f.do(http.MethodPost, "/p", "{}"), http.StatusUnauthorized, CodeUnauthorized)
	wantError(t, f.do(http.MethodPost, "/p", "{}", "Authorization", "Bearer nope"), http.StatusUnauthorized, CodeUnauthorized)
}

func TestEndpointFailedFirstTurnStartsNoChat(t *testing.T) {
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
	wantError(t, f.do(http.MethodPost, "/p", "{}", DefaultContinueHeader, id), http.StatusNotFound, CodeChatNotFound)
}

func TestEndpointCognigyValidation(t *testing.T) {
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.Format = FormatCognigy })
	const tail = " (userId and sessionId must be non-empty strings, and text a string or data an object)"
	tests := []struct {
		body, code, missing string
	}{
		{`not json`, CodeInvalidJSON, ""},
		{`[1,2]`, CodeInvalidJSON, ""},
		{`{"userId":"u","sessionId":"s","text":`, CodeInvalidJSON, ""},
		{`{}`, CodeMissingFields, "userId, sessionId, text or data"},
		{`null`, CodeMissingFields, "userId, sessionId, text or data"},
		{`{"userId":"u","sessionId":"s"}`, CodeMissingFields, "text or data"},
		{`{"userId":1,"sessionId":"s","text":"hi"}`, CodeMissingFields, "userId"},
		{`{"userId":"","sessionId":"s","text":"hi"}`, CodeMissingFields, "userId"},
		{`{"userId":"u","sessionId":null,"text":"hi"}`, CodeMissingFields, "sessionId"},
		{`{"userId":"u","sessionId":"s","text":""}`, CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","text":5}`, CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","data":[1]}`, CodeMissingFields, "text or data"},
		{`{"userId":"u","sessionId":"s","data":"x"}`, CodeMissingFields, "text or data"},
		{`{"userId":"u","text":"hi"}`, CodeMissingFields, "sessionId"},
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
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.Format = FormatCognigy })
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

func TestEndpointAsync(t *testing.T) {
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
	if string(task.Request.Body) != body || task.Request.Path != "/prompts/a" || task.Request.RawQuery != "x=1" || task.Status != store.TaskPending || task.Principal != Anonymous {
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
	wantError(t, f.do(http.MethodPost, "/prompts/a?x=1", "other", "Idempotency-Key", "idem-1"), http.StatusConflict, CodeIdempotency)
	wantError(t, f.do(http.MethodPost, "/p", "{}", "Idempotency-Key", strings.Repeat("k", 256)), http.StatusBadRequest, CodeBadRequest)
}

func TestEndpointAsyncMaxQueue(t *testing.T) {
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) { e.MaxQueue = 2 })
	for range 2 {
		if rec := f.do(http.MethodPost, "/p", "{}"); rec.Code != http.StatusAccepted {
			t.Fatal(rec.Code)
		}
	}
	f.clock.Advance(2 * time.Second) // past the store's count cache
	rec := f.do(http.MethodPost, "/p", "{}")
	wantError(t, rec, http.StatusServiceUnavailable, CodeOverloaded)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After on 503")
	}
}

func TestEndpointSyncBackendErrors(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		fail    func(ctx context.Context) error
		status  int
		code    string
	}{
		{"unreachable", 0, func(context.Context) error {
			return &BackendError{Status: 502, Err: errors.New("dial tcp 10.1.2.3:8080: connection refused")}
		}, 502, CodeBadGateway},
		{"backend timeout", 0, func(context.Context) error {
			return &BackendError{Status: 504, Err: errors.New("i/o timeout")}
		}, 504, CodeGatewayTimeout},
		{"plain error", 0, func(context.Context) error { return errors.New("upstream exploded at 10.1.2.3") }, 502, CodeBadGateway},
		{"deadline error", 0, func(context.Context) error { return fmt.Errorf("waiting: %w", context.DeadlineExceeded) }, 504, CodeGatewayTimeout},
		{"endpoint timeout", 20 * time.Millisecond, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, 504, CodeGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.Timeout = tt.timeout })
			f.setBackend(func(w http.ResponseWriter, r *http.Request) error { return tt.fail(r.Context()) })
			rec := f.do(http.MethodPost, "/p", "{}")
			wantError(t, rec, tt.status, tt.code)
			if strings.Contains(rec.Body.String(), "10.1.2.3") || rec.Header().Get(DefaultChatHeader) != "" {
				t.Fatalf("answer %s (chat %q) leaks the cause or hands out a chat", rec.Body, rec.Header().Get(DefaultChatHeader))
			}
		})
	}
	// The caller went away: 499, not a backend error.
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error { return r.Context().Err() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, "/p", strings.NewReader("{}")).WithContext(ctx)
	if rec := f.serve(req); rec.Code != 499 {
		t.Fatalf("canceled request: %d", rec.Code)
	}
}

func TestEndpointSyncPassesBackendAnswer(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-From-Backend", "yes")
		w.Header().Set(testConvHeader, "conv-9")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte{0, 1, 2, 0xff})
		return nil
	})
	rec := f.do(http.MethodPost, "/p", "\x00\x01binary")
	if rec.Code != http.StatusCreated || rec.Header().Get("X-From-Backend") != "yes" || !bytes.Equal(rec.Body.Bytes(), []byte{0, 1, 2, 0xff}) {
		t.Fatalf("%d %v %q", rec.Code, rec.Header(), rec.Body.Bytes())
	}
	if rec.Header().Get(testConvHeader) != "" || rec.Header().Get(DefaultChatHeader) == "" {
		t.Fatalf("headers %v", rec.Header())
	}
	if c := f.calls()[0]; string(c.Body) != "\x00\x01binary" || c.Method != http.MethodPost {
		t.Fatalf("backend got %q", c.Body)
	}
}

func TestEndpointSyncCutShort(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		return &BackendError{Status: 502, Err: io.ErrUnexpectedEOF}
	})
	rec := f.do(http.MethodPost, "/p", "{}")
	if rec.Code != 200 || rec.Body.String() != "partial" || rec.Header().Get(DefaultChatHeader) == "" {
		t.Fatalf("cut-short answer: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	if len(f.logs.FilterMessage("backend answer cut short").All()) != 1 {
		t.Fatal("the cut-short answer was not logged")
	}
}

// replayVerifier accepts every request and names its message by the
// X-Msg-Id header, like Standard Webhooks' webhook-id.
type replayVerifier struct{}

func (replayVerifier) Scheme() string { return "test" }
func (replayVerifier) Verify(r *http.Request, _ []byte, _ time.Time) (signing.Result, error) {
	return signing.Result{Principal: "test", ReplayKey: "test:" + r.Header.Get("X-Msg-Id"), ReplayTTL: time.Hour}, nil
}

func TestEndpointReplayKeyReleasedOnFailure(t *testing.T) {
	f := newEpFixture(t, ModeSync, func(e *Endpoint) {
		e.Auth = Auth{Verifiers: []signing.Verifier{replayVerifier{}}, Replay: e.Store}
	})
	fail := true
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		if fail {
			return &BackendError{Status: 502, Err: errors.New("down")}
		}
		_, _ = io.WriteString(w, "ok")
		return nil
	})
	// A failed request gives its id back: the sender's retry is not a replay.
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"), http.StatusBadGateway, CodeBadGateway)
	fail = false
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"); rec.Code != 200 {
		t.Fatalf("retry after a failure: %d %s", rec.Code, rec.Body)
	}
	// A success keeps it.
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"), http.StatusConflict, CodeReplayed)

	// A 5xx answer from the backend also gives it back.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m2"); rec.Code != 503 {
		t.Fatal(rec.Code)
	}
	if fresh, _ := f.st.Remember(context.Background(), "test:m2", time.Hour); !fresh {
		t.Fatal("the key of a request answered 5xx was kept")
	}
	// So does a request refused after authentication (unknown chat).
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m3", DefaultContinueHeader, NewID()), http.StatusNotFound, CodeChatNotFound)
	if fresh, _ := f.st.Remember(context.Background(), "test:m3", time.Hour); !fresh {
		t.Fatal("the key of a refused request was kept")
	}
	// A 4xx answer is the backend's verdict: the key stays used.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m4")
	if fresh, _ := f.st.Remember(context.Background(), "test:m4", time.Hour); fresh {
		t.Fatal("the key of a request answered 4xx was released")
	}
}

func TestEndpointReplayKeyReleasedOnCutShort(t *testing.T) {
	f := newEpFixture(t, ModeSync, func(e *Endpoint) {
		e.Auth = Auth{Verifiers: []signing.Verifier{replayVerifier{}}, Replay: e.Store}
	})
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "part")
		return errors.New("reset")
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "cut")
	if fresh, _ := f.st.Remember(context.Background(), "test:cut", time.Hour); !fresh {
		t.Fatal("the key of a cut-short answer was kept")
	}
}

// TestChatWriterInformationalAndFlush runs over a real connection: a
// 103 passes through before the final answer, and Flush through
// http.ResponseController pushes streamed bytes out at once.
func TestChatWriterInformationalAndFlush(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	proceed := make(chan struct{})
	flushErr := make(chan error, 1)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data: one\n\n")
		flushErr <- http.NewResponseController(w).Flush()
		select {
		case <-proceed:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
		return nil
	})
	srv := httptest.NewServer(f.e)
	defer srv.Close()

	var informational []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		informational = append(informational, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, srv.URL+"/p", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := <-flushErr; err != nil {
		t.Fatalf("Flush through the chat writer: %v", err)
	}
	if len(informational) != 1 || informational[0] != http.StatusEarlyHints {
		t.Fatalf("1xx answers seen: %v, want [103]", informational)
	}
	if resp.StatusCode != 200 || resp.Header.Get(DefaultChatHeader) == "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("final answer %d %v", resp.StatusCode, resp.Header)
	}
	// The first event arrives before the backend writes the second.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(proceed)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// TestChatWriterFlushBeforeHeader: a backend that flushes before writing
// anything still gets the chat id onto its answer. chatWriter has no
// Flush of its own, so http.ResponseController unwraps it and flushes the
// real writer: the status line goes out without x-chat-id, and
// beforeHeader runs too late.
func TestChatWriterFlushBeforeHeader(t *testing.T) {
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "data: one\n\n")
		return nil
	})
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/p", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(DefaultChatHeader) == "" {
		t.Fatal("no x-chat-id on an answer whose backend flushed first")
	}
}

func TestChatWriterUnit(t *testing.T) {
	rec := httptest.NewRecorder()
	calls := 0
	cw := &chatWriter{ResponseWriter: rec}
	cw.beforeHeader = func(status int) {
		calls++
		cw.Header().Set("X-Chat-Id", fmt.Sprint("status-", status))
	}
	cw.WriteHeader(http.StatusContinue)
	if calls != 0 || cw.wroteHeader {
		t.Fatal("a 100 counted as the final status")
	}
	_, _ = cw.Write([]byte("x"))
	cw.WriteHeader(http.StatusTeapot) // too late, ignored
	if calls != 1 || cw.status != 200 || rec.Header().Get("X-Chat-Id") != "status-200" {
		t.Fatalf("calls %d, status %d, header %q", calls, cw.status, rec.Header().Get("X-Chat-Id"))
	}
	if cw.Unwrap() != rec {
		t.Fatal("Unwrap does not return the real writer")
	}
}
