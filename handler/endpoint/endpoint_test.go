package endpoint

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

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
	agent *handler.Agent
	logs  *observer.ObservedLogs

	mu      sync.Mutex
	backend func(w http.ResponseWriter, r *http.Request) error
	seen    []seenRequest
}

const testConvHeader = "X-Conversation-Id"

func newEpFixture(t *testing.T, mode Mode, edit func(e *Endpoint)) *epFixture {
	t.Helper()
	f := &epFixture{t: t, clock: storetest.NewClock(storetest.Start)}
	f.st = handlertest.OpenStore(t, f.clock.Now)
	f.backend = func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":"ok"}`)
		return nil
	}
	f.agent = &handler.Agent{Name: "agent-a", ConversationHeader: testConvHeader, Backend: handlertest.BackendFunc(func(w http.ResponseWriter, r *http.Request) error {
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
		Auth:           Auth{None: true},
		Replay:         f.st,
		Mode:           mode,
		ChatHeader:     DefaultChatHeader,
		ContinueHeader: DefaultContinueHeader,
		MaxBody:        1024,
		ChatTTL:        DefaultChatTTL,
		IdempotencyTTL: DefaultIdempotencyTTL,
		Store:          f.st,
		Logger:         zap.New(core),
		Metrics:        handler.NopMetrics{},
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
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		rec := f.do(m, "/prompts/a", "")
		if m == http.MethodHead {
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("HEAD: %d", rec.Code)
			}
			continue
		}
		wantError(t, rec, http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != http.MethodPost {
			t.Fatalf("%s: Allow = %q", m, got)
		}
	}
	if n := len(f.calls()); n != 0 {
		t.Fatalf("the backend was called %d times", n)
	}
}

func TestEndpointBodyTooLarge(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	big := strings.Repeat("x", 1025)

	// Declared length.
	msg := wantError(t, f.do(http.MethodPost, "/p", big), http.StatusRequestEntityTooLarge, handler.CodeTooLarge)
	if msg != "the request body is larger than 1024 bytes" {
		t.Fatalf("message %q", msg)
	}
	// Chunked: no length, found out while reading.
	req := httptest.NewRequest(http.MethodPost, "/p", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1
	wantError(t, f.serve(req), http.StatusRequestEntityTooLarge, handler.CodeTooLarge)
	// A length that understates the body.
	req = httptest.NewRequest(http.MethodPost, "/p", strings.NewReader(big+big))
	req.ContentLength = 10
	wantError(t, f.serve(req), http.StatusRequestEntityTooLarge, handler.CodeTooLarge)
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
