package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
)

// bytesAgent answers every call with body, and records what it was sent.
type bytesAgent struct {
	*testkit.Agent
	calls atomic.Int64
	mu    sync.Mutex
	seen  [][]byte
}

func newBytesAgent(t *testing.T, ct string, body []byte) *bytesAgent {
	a := &bytesAgent{Agent: testkit.NewAgent(t)}
	a.Handle = func(w http.ResponseWriter, r *http.Request, in []byte) {
		a.calls.Add(1)
		a.mu.Lock()
		a.seen = append(a.seen, in)
		a.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(body)
	}
	return a
}

func (a *bytesAgent) bodies() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][]byte(nil), a.seen...)
}

// resultsGlobals is one agent with one signed callback; the lease is
// short, so that a task that was not recorded as final would run again
// within the test.
func resultsGlobals(agentAddr, sinkURL, extra string) string {
	return fmt.Sprintf(`		queue {
			timeout 2s
			lease 3s
%s
		}
		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/hook {
				sign standard_webhooks %s
			}
		}
`, extra, fastRetry, agentAddr, sinkURL, cbSecret)
}

type resultPayload struct {
	Type          string          `json:"type"`
	TaskID        string          `json:"task_id"`
	Status        string          `json:"status"`
	Result        json.RawMessage `json:"result"`
	ResultBase64  *string         `json:"result_base64"`
	ContentType   string          `json:"content_type"`
	Error         string          `json:"error"`
	BackendStatus int             `json:"backend_status"`
}

// TestResultBinary: an async task whose backend answers 3 MB of bytes
// that are not UTF-8 (under the default max_result of 4 MiB) succeeds;
// the status answer and the one signed delivery carry the bytes in
// base64 with their content type; the backend is called once, with the
// task's body.
func TestResultBinary(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte{0xff}, 3_000_000)
	agent := newBytesAgent(t, "application/x-blob", body)
	sink := testkit.NewSink(t)
	s := startSite(t, resultsGlobals(agent.Addr(), sink.URL, ""), asyncRoutes)
	const prompt = `{"prompt":"send the blob"}`
	task, _ := s.submit("/tasks", prompt, alice)
	v := s.waitFinal(task, 20*time.Second)
	if v.Status != "SUCCESS" {
		t.Fatalf("status %+v", v)
	}
	_, b := s.get("/api/task_status?task_id="+task, nil)
	var view resultPayload
	if err := json.Unmarshal(b, &view); err != nil || view.ResultBase64 == nil {
		t.Fatalf("status answer (%d bytes) has no result_base64: %v", len(b), err)
	}
	if raw, err := base64.StdEncoding.DecodeString(*view.ResultBase64); err != nil || !bytes.Equal(raw, body) || string(view.Result) != "null" || view.ContentType != "application/x-blob" {
		t.Fatalf("status result %s, type %q: the bytes do not decode back (%v)", view.Result, view.ContentType, err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return len(sink.Received()) >= 1 }, "no delivery arrived")
	time.Sleep(4 * time.Second) // past the lease: a task not recorded as final would run again
	got := sink.Received()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	wh, _ := standardwebhooks.NewWebhook(cbSecret)
	if err := wh.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("the delivery does not verify: %v", err)
	}
	var p resultPayload
	if err := json.Unmarshal(got[0].Body, &p); err != nil || p.ResultBase64 == nil {
		t.Fatalf("payload (%d bytes): %v", len(got[0].Body), err)
	}
	if raw, err := base64.StdEncoding.DecodeString(*p.ResultBase64); err != nil || !bytes.Equal(raw, body) || p.Type != "task.succeeded" || p.ContentType != "application/x-blob" || p.TaskID != task {
		t.Fatalf("payload %s %s %q: bytes decode back: %v", p.Type, p.TaskID, p.ContentType, err)
	}
	if len(got[0].Body) > 4_100_000 {
		t.Fatalf("a payload of %d bytes for a 3 MB answer", len(got[0].Body))
	}
	if n := agent.calls.Load(); n != 1 {
		t.Fatalf("the backend was called %d times", n)
	}
	for _, in := range agent.bodies() {
		if string(in) != prompt {
			t.Fatalf("the backend was sent %q, want the task's body", in)
		}
	}
	if strings.Contains(s.caddy.Log(), strings.Repeat("ff ", 16)) {
		t.Fatal("Caddy's log holds a hex dump of the result")
	}
}

// TestResultTooLarge: an answer under max_result whose callback payload
// would be over the record limit fails the task with result_too_large,
// delivered as task.failed; the backend is called once, with the task's
// body, and the task never runs again.
func TestResultTooLarge(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte{0xff}, 7<<20) // over 9 MiB in base64
	agent := newBytesAgent(t, "application/octet-stream", body)
	sink := testkit.NewSink(t)
	s := startSite(t, resultsGlobals(agent.Addr(), sink.URL, "\t\t\tmax_result 8MiB"), asyncRoutes)
	const prompt = `{"prompt":"too much"}`
	task, _ := s.submit("/tasks", prompt, alice)
	v := s.waitFinal(task, 20*time.Second)
	if v.Status != "FAILURE" || !strings.HasPrefix(v.Error, "result_too_large:") || v.BackendStatus != 200 {
		t.Fatalf("status %+v", v)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return len(sink.Received()) >= 1 }, "no delivery arrived")
	time.Sleep(4 * time.Second) // past the lease
	got := sink.Received()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	wh, _ := standardwebhooks.NewWebhook(cbSecret)
	if err := wh.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("the delivery does not verify: %v", err)
	}
	var p resultPayload
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "task.failed" || p.Status != "FAILURE" || p.Error != v.Error || p.ResultBase64 != nil || string(p.Result) != "null" {
		t.Fatalf("payload %s", got[0].Body)
	}
	if n := agent.calls.Load(); n != 1 {
		t.Fatalf("the backend was called %d times, want once", n)
	}
	for _, in := range agent.bodies() {
		if string(in) != prompt {
			t.Fatalf("the backend was sent %q, want the task's body", in)
		}
	}
}

// TestStatusSlowReadersBounded: twenty readers that stall on a large
// binary result do not pump Caddy's memory up: at most max_readers are
// served at once (the rest get 503 with Retry-After), answers are
// streamed, and the stalled ones are let go after write_timeout.
func TestStatusSlowReadersBounded(t *testing.T) {
	t.Parallel()
	// 8 MB in base64: more than loopback sockets buffer, so a reader that
	// does not read holds its answer up.
	body := bytes.Repeat([]byte{0xfe, 0xff, 0x00}, 2_000_000)
	agent := newBytesAgent(t, "application/octet-stream", body)
	routes := strings.Replace(asyncRoutes, "agenthook_status /api/task_status*", `agenthook_status /api/task_status* {
		max_readers 8
		write_timeout 5s
	}`, 1)
	s := startSite(t, "\t\tqueue {\n\t\t\tmax_result 8MiB\n\t\t}\n"+agentBlock("support", agent.Addr()), routes)
	task, _ := s.submit("/tasks", `{}`, alice)
	if v := s.waitFinal(task, 20*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("%+v", v)
	}
	before := s.caddy.RSS()
	var served, shed int
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 20 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// The site's host, or Caddy answers an empty 200 of its own.
		fmt.Fprintf(c, "GET /api/task_status?task_id=%s HTTP/1.1\r\nHost: %s\r\n\r\n", task, strings.TrimPrefix(s.base, "http://"))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err != nil:
			t.Fatalf("reader: %v", err)
		case strings.HasPrefix(line, "HTTP/1.1 200"):
			served++
		case strings.HasPrefix(line, "HTTP/1.1 503"):
			shed++
		default:
			t.Fatalf("reader got %q", line)
		}
	}
	time.Sleep(time.Second)
	during := s.caddy.RSS()
	t.Logf("RSS %d MiB before, %d MiB with 20 stalled readers; %d served, %d shed", before>>20, during>>20, served, shed)
	if served != 8 || shed != 12 {
		t.Fatalf("%d served, %d shed; want 8 and 12", served, shed)
	}
	if during-before > 150<<20 {
		t.Fatalf("RSS grew by %d MiB with stalled readers", (during-before)>>20)
	}
	// The stalled readers are let go after the write timeout: polls are
	// answered in full again.
	testkit.Eventually(t, 15*time.Second, func() bool {
		resp, err := client.Get(s.base + "/api/task_status?task_id=" + task)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var p resultPayload
		if resp.StatusCode != 200 || json.Unmarshal(b, &p) != nil || p.ResultBase64 == nil {
			return false
		}
		raw, _ := base64.StdEncoding.DecodeString(*p.ResultBase64)
		return bytes.Equal(raw, body)
	}, "polls were not answered after the stalled readers timed out")
}

// TestTokenNeverLogged: a GET (405) and a 2 MB POST (413) on a token URL,
// a wrong token and an accepted task: neither Caddy's access log nor
// agenthook's own lines hold the token.
func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("support", agent.Addr()), "\tlog\n"+asyncRoutes+`
	agenthook /sync support {
		auth bearer alice-token
	}
`)
	const token = "tok-support-1"
	resp, b := s.get("/api/webhooks/agents/"+token, nil)
	wantStatus(t, resp, b, http.StatusMethodNotAllowed, "method_not_allowed")
	req, _ := http.NewRequest(http.MethodPost, s.base+"/api/webhooks/agents/"+token, bytes.NewReader(bytes.Repeat([]byte("x"), 2<<20)))
	if resp, err := client.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantStatus(t, resp, b, http.StatusRequestEntityTooLarge, "body_too_large")
	} else {
		t.Logf("2 MB POST: %v (the server may close before the client has sent it all)", err)
	}
	resp, b = s.get("/api/webhooks/agents/tok-wrong-secret-9", nil)
	wantStatus(t, resp, b, http.StatusMethodNotAllowed, "method_not_allowed")
	resp, b = s.post("/api/webhooks/agents/"+token, []byte(`{"q":1}`), nil)
	wantStatus(t, resp, b, http.StatusAccepted, "")

	// Sync forwarding drops X-Agenthook-* headers a caller sent, and
	// passes the caller's Idempotency-Key.
	resp, b = s.post("/sync", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token",
		"X-Agenthook-Task-Id": "forged", "X-Agenthook-Event": "task.succeeded", "Idempotency-Key": "callers-key"})
	wantStatus(t, resp, b, http.StatusOK, "")
	var syncCall *testkit.Call
	for _, c := range agent.Calls() {
		if c.Path == "/sync" {
			syncCall = &c
		}
	}
	if syncCall == nil {
		t.Fatal("the sync call did not reach the backend")
	}
	for name := range syncCall.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-agenthook-") {
			t.Fatalf("the backend got %s from the caller", name)
		}
	}
	if syncCall.Header.Get("Idempotency-Key") != "callers-key" {
		t.Fatalf("sync Idempotency-Key %q, want the caller's", syncCall.Header.Get("Idempotency-Key"))
	}

	time.Sleep(500 * time.Millisecond) // let the last log lines out
	log := s.caddy.Log()
	if !strings.Contains(log, `"uri":"/sync"`) {
		t.Fatalf("the access log is not on (no line for /sync):\n%s", lastLines(log, 20))
	}
	if n := strings.Count(log, `"msg":"token request"`); n < 3 {
		t.Fatalf("%d token request lines, want one per token request", n)
	}
	for _, secret := range []string{token, "tok-wrong-secret-9"} {
		if strings.Contains(log, secret) {
			t.Fatalf("Caddy's output holds the token %s:\n%s", secret, lastLines(log, 20))
		}
	}
}
