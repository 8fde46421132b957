package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/stats"
	"github.com/agenthook/agenthook/store"
)

// upstreamBackend is a backend that tells its upstreams' health.
type upstreamBackend struct{}

func (upstreamBackend) Forward(http.ResponseWriter, *http.Request) error { return nil }
func (upstreamBackend) Upstreams() ([]handler.Upstream, bool) {
	return []handler.Upstream{{Address: "127.0.0.1:9", Healthy: false, Fails: 3}}, true
}

func (f *apiFixture) withStats() *stats.Collector {
	c := stats.New(f.a.Now)
	f.a.Stats = c
	f.a.QueueDepth = func(ctx context.Context) (int, int, error) { return 4, 1, nil }
	return c
}

func TestAPIStats(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	rec := f.do(http.MethodGet, "/api/stats", "")
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeUnavailable)

	c := f.withStats()
	c.Request("support", "support-async", "accepted")
	c.Request("billing", "billing-async", "accepted")
	c.DeliveryAttempt("billing", "failed", time.Millisecond)

	var s stats.Snapshot
	rec = f.do(http.MethodGet, "/api/stats", "")
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &s) != nil {
		t.Fatalf("stats: %d %s", rec.Code, rec.Body)
	}
	if len(s.Points) != stats.Buckets || s.Hour.QueuePending == nil || *s.Hour.QueuePending != 4 || s.Hour.FailureRate == nil {
		t.Fatalf("root key sees %s", rec.Body)
	}
	// A key limited to support: support's counts only, and no queue
	// depth (the store counts every agent's tasks).
	rec = f.doAs(supportKey, http.MethodGet, "/api/stats", "")
	s = stats.Snapshot{}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &s) != nil {
		t.Fatalf("stats: %d %s", rec.Code, rec.Body)
	}
	if s.Hour.QueuePending != nil || s.Hour.FailureRate != nil || s.Hour.Tasks != 1 || strings.Join(s.Agents, ",") != "support" {
		t.Fatalf("support key sees %s", rec.Body)
	}
	rec = f.doAs("wrong", http.MethodGet, "/api/stats/stream", "")
	wantError(t, rec, http.StatusUnauthorized, handler.CodeUnauthorized)
}

func TestAPIStatsStream(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	f.withStats()
	f.a.MaxStreams = 1
	f.a.StreamInterval = 10 * time.Millisecond
	f.a.Heartbeat = 5 * time.Millisecond
	srv := httptest.NewServer(f.a)
	defer srv.Close()

	get := func(token string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/stats/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := get(supportKey)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	events, beats := 0, 0
	for sc.Scan() && (events < 2 || beats < 1) {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			var s stats.Snapshot
			if err := json.Unmarshal([]byte(line[6:]), &s); err != nil || strings.Join(s.Agents, ",") != "support" || s.Hour.QueuePending != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			events++
		case line == ": heartbeat":
			beats++
		}
	}

	// The one slot is taken: another stream waits for it.
	busy := get(key)
	if busy.StatusCode != http.StatusServiceUnavailable || busy.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d", busy.StatusCode)
	}
	busy.Body.Close()

	// Close (a reload) ends the stream with a close event.
	f.a.Close()
	closed := false
	for sc.Scan() {
		if sc.Text() == "event: close" {
			closed = true
		}
	}
	if !closed {
		t.Fatal("the stream ended without a close event")
	}
	// And no new stream starts.
	res2 := get(key)
	if res2.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream after Close: %d", res2.StatusCode)
	}
	res2.Body.Close()
}

func TestAPIAgentsHealth(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	f.a.Agents = func() map[string]*handler.Agent {
		return map[string]*handler.Agent{"support": {Name: "support", Backend: upstreamBackend{}}, "billing": {Name: "billing"}}
	}
	f.a.Endpoints = func(agent string) []EndpointView {
		return []EndpointView{{Name: agent + "-async", Mode: "async"}}
	}
	var out struct{ Data []AgentView }
	rec := f.doAs(supportKey, http.MethodGet, "/api/agents", "")
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Data) != 1 {
		t.Fatalf("agents: %d %s", rec.Code, rec.Body)
	}
	a := out.Data[0]
	if a.ID != "support" || len(a.Upstreams) != 1 || a.Upstreams[0].Healthy || a.Upstreams[0].Fails != 3 || !a.DynamicUpstreams ||
		len(a.Endpoints) != 1 || a.Endpoints[0].Name != "support-async" {
		t.Fatalf("support: %s", rec.Body)
	}
	rec = f.do(http.MethodGet, "/api/agents", "")
	if !strings.Contains(rec.Body.String(), `{"id":"billing","endpoints":[{"name":"billing-async","mode":"async"}]}`) {
		t.Fatalf("billing without upstreams: %s", rec.Body)
	}
}

func TestAPITaskRequest(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	ctx := t.Context()
	body := strings.Repeat("é", maxRequestShown) // twice the bytes shown
	open, hidden := handler.NewID(), handler.NewID()
	for _, tk := range []*store.Task{
		{ID: open, Agent: "support", ChatID: "c1", Endpoint: "support-async", Request: store.Request{Method: "POST", Path: "/hook/secret-token",
			RawQuery: "key=secret", Header: http.Header{"Authorization": {"Bearer secret"}, "Content-Type": {"application/json"}}, Body: []byte(body)}},
		{ID: hidden, Agent: "support", ChatID: "c2", Sensitive: true, Request: store.Request{Method: "POST", Path: "/x", Body: []byte("private")}},
	} {
		if _, err := f.st.CreateTask(ctx, store.NewTask{Task: tk}); err != nil {
			t.Fatal(err)
		}
	}
	var d TaskDetail
	rec := f.do(http.MethodGet, "/api/tasks/"+open, "")
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &d) != nil || d.Request == nil {
		t.Fatalf("task: %d %s", rec.Code, rec.Body)
	}
	r := d.Request
	if r.Method != "POST" || r.Headers["Authorization"] != redacted || r.Headers["Content-Type"] != "application/json" ||
		!r.BodyTruncated || r.BodyBytes != len(body) || len(r.Body) > maxRequestShown || !strings.HasPrefix(body, r.Body) || d.Endpoint != "support-async" {
		t.Fatalf("request %+v", r)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("the detail shows a secret: %s", rec.Body)
	}
	rec = f.do(http.MethodGet, "/api/tasks/"+hidden, "")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "private") || strings.Contains(rec.Body.String(), `"request"`) {
		t.Fatalf("sensitive task: %s", rec.Body)
	}
}

func TestAPIServesUI(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.Prefix = "/ops/api"
	get := func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.a.ServeHTTP(rec, httptest.NewRequest(method, target, nil)) // no key
		return rec
	}
	rec := get(http.MethodGet, "/ops/api/ui")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ops/api/ui/" {
		t.Fatalf("redirect: %d %s", rec.Code, rec.Header())
	}
	for target, typ := range map[string]string{"/ops/api/ui/": "text/html", "/ops/api/ui/app.js": "text/javascript", "/ops/api/ui/app.css": "text/css"} {
		rec := get(http.MethodGet, target)
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), typ) ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Header())
		}
	}
	for _, target := range []string{"/ops/api/ui/nope.js", "/ops/api/ui/../ui/app.js", "/ops/api/ui/.hidden", "/ops/api/ui/sub/"} {
		wantError(t, get(http.MethodGet, target), http.StatusNotFound, handler.CodeNotFound)
	}
	wantError(t, get(http.MethodPost, "/ops/api/ui/"), http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
	// The files name no other origin, and hold no inline script or style.
	for _, name := range []string{"index.html", "app.js", "app.css", "icon.svg"} {
		b, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "//cdn", "<style", "style=", "onclick=", "onload=", "localStorage", "sessionStorage", "document.cookie", "innerHTML", "eval("} {
			if strings.Contains(text, bad) {
				t.Errorf("%s holds %q", name, bad)
			}
		}
		if name == "index.html" && strings.Count(text, "<script") != 1 || name == "index.html" && !strings.Contains(text, `<script src="app.js" defer></script>`) {
			t.Errorf("index.html must load app.js only, and no inline script")
		}
	}
	// The rest of the API still wants a key.
	wantError(t, get(http.MethodGet, "/ops/api/uix"), http.StatusUnauthorized, handler.CodeUnauthorized)
}

type openBreaker struct{ until time.Time }

func (b openBreaker) Breaker(id string) delivery.BreakerState {
	return delivery.BreakerState{State: "open", Failures: 5, OpenUntil: &b.until}
}

func TestAPIWebhookHealth(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.Breakers = openBreaker{until: f.a.Now().Add(time.Minute)}
	since := f.a.Now().Add(-time.Hour)
	if err := f.st.SaveCallbackState(t.Context(), &store.CallbackState{ID: "cfg-support-1", Agent: "support", FailingSince: since}); err != nil {
		t.Fatal(err)
	}
	var out struct{ Data []WebhookView }
	rec := f.do(http.MethodGet, "/api/agents/support/webhooks", "")
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Data) != 1 {
		t.Fatalf("webhooks: %d %s", rec.Code, rec.Body)
	}
	h := out.Data[0].Health
	if h == nil || h.FailingSince == nil || !h.FailingSince.Equal(since) || h.Breaker == nil || h.Breaker.State != "open" || h.Breaker.Failures != 5 {
		t.Fatalf("health: %s", rec.Body)
	}
}

// TestAPIStatsStreamEndsOnExit: when the process exits the server waits
// for open requests, so a stream ends at its next tick.
func TestAPIStatsStreamEndsOnExit(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withStats()
	var exiting atomic.Bool
	f.a.Stopping = exiting.Load
	f.a.StreamInterval = 5 * time.Millisecond
	f.a.Heartbeat = time.Hour
	srv := httptest.NewServer(f.a)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/stats/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
	}
	exiting.Store(true)
	last := ""
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			last = sc.Text()
		}
	}
	if last != `data: {"reason":"shutdown"}` {
		t.Fatalf("the stream ended with %q", last)
	}
}
