package e2e

import (
	"encoding/json"
	"fmt"
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

const (
	cbSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	apiKey    = "api-key-for-tests"
	fastRetry = "retry_schedule 50ms 50ms 50ms"
)

var apiAuth = map[string]string{"Authorization": "Bearer " + apiKey}

// callbackSite starts Caddy with one agent, its static callbacks, a fast
// retry schedule, loopback allowed for deliveries, and the API.
func callbackSite(t *testing.T, agentAddr, callbacks, delivery string) *site {
	t.Helper()
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
%s
		}
`, delivery, agentAddr, callbacks)
	return startSite(t, globals, asyncRoutes+`
	agenthook /cognigy support {
		auth bearer alice-token
		mode async
		format cognigy
	}
	@api path /api/agents/* /api/deliveries/* /api/tasks/*
	agenthook_api @api {
		bearer `+apiKey+`
	}
`)
}

// TestCallbacksTwoSinks sends one result to a raw sink signed with
// Standard Webhooks and to a Cognigy-shaped sink with Basic auth.
func TestCallbacksTwoSinks(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text": "Could you give me your order number?", "data": {"intent": "order"}}`)
	}
	raw, cog := testkit.NewSink(t), testkit.NewSink(t)
	s := callbackSite(t, agent.Addr(), fmt.Sprintf(`			callback %s/raw {
				sign standard_webhooks %s
				header X-Tenant acme
			}
			callback %s/cognigy {
				format cognigy
				basic_auth cognigy-user cognigy-pw
			}
`, raw.URL, cbSecret, cog.URL), fastRetry)

	task, chat := s.submit("/cognigy", `{"userId":"user123","sessionId":"session123","text":"Hello, I need help with my order"}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(raw.Received()) == 1 && len(cog.Received()) == 1 }, "deliveries did not arrive")

	got := raw.Received()[0]
	wh, _ := standardwebhooks.NewWebhook(cbSecret)
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("the official Standard Webhooks library rejects our signature: %v", err)
	}
	if got.Header.Get("X-Tenant") != "acme" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got.Header)
	}
	var p struct {
		Type, TaskID, Agent, ChatID, Status string
		Result                              map[string]any
		Timestamp                           time.Time
	}
	if err := json.Unmarshal(got.Body, &p); err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(got.Body, &fields)
	for _, k := range []string{"type", "task_id", "agent", "chat_id", "status", "result", "timestamp"} {
		if _, ok := fields[k]; !ok {
			t.Fatalf("raw payload lacks %q: %s", k, got.Body)
		}
	}
	var typ, taskID, chatID, status string
	_ = json.Unmarshal(fields["type"], &typ)
	_ = json.Unmarshal(fields["task_id"], &taskID)
	_ = json.Unmarshal(fields["chat_id"], &chatID)
	_ = json.Unmarshal(fields["status"], &status)
	if typ != "task.succeeded" || taskID != task || chatID != chat || status != "SUCCESS" {
		t.Fatalf("raw payload %s", got.Body)
	}

	c := cog.Received()[0]
	user, pass, ok := (&http.Request{Header: c.Header}).BasicAuth()
	if !ok || user != "cognigy-user" || pass != "cognigy-pw" {
		t.Fatalf("basic auth %q %q %v", user, pass, ok)
	}
	var cp struct {
		UserID    string `json:"userId"`
		SessionID string `json:"sessionId"`
		AIOutput  struct {
			Text                    string         `json:"text"`
			Data                    map[string]any `json:"data"`
			TraceID                 string         `json:"traceId"`
			DisableSensitiveLogging *bool          `json:"disableSensitiveLogging"`
			Source                  string         `json:"source"`
		} `json:"AIOutput"`
	}
	if err := json.Unmarshal(c.Body, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.UserID != "user123" || cp.SessionID != "session123" || cp.AIOutput.Text != "Could you give me your order number?" ||
		cp.AIOutput.Data["intent"] != "order" || cp.AIOutput.Source != "bot" || cp.AIOutput.TraceID == "" || cp.AIOutput.DisableSensitiveLogging == nil {
		t.Fatalf("cognigy payload %s", c.Body)
	}
	// One event, one webhook-id: a receiver behind both callbacks can
	// drop the second.
	if c.Header.Get("Webhook-Id") == "" || c.Header.Get("Webhook-Id") != got.Header.Get("Webhook-Id") {
		t.Fatalf("the deliveries of one event carry webhook-ids %q and %q, want one", c.Header.Get("Webhook-Id"), got.Header.Get("Webhook-Id"))
	}
}

// TestCallbackRetries: a sink failing twice then accepting gets the
// delivery, with the same webhook-id on every attempt; a sink that never
// accepts gets it dead-lettered, and the API can replay it.
func TestCallbackRetries(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	flaky, dead := testkit.NewSink(t), testkit.NewSink(t)
	var flakyIDs sync.Map
	flaky.Status = func(n int, r *http.Request) int {
		flakyIDs.Store(r.Header.Get("Webhook-Id"), true)
		if n <= 2 {
			return 500
		}
		return 200
	}
	var deadDown atomic.Bool
	deadDown.Store(true)
	dead.Status = func(n int, r *http.Request) int {
		if deadDown.Load() {
			return 503
		}
		return 204
	}
	s := callbackSite(t, agent.Addr(), fmt.Sprintf(`			callback %s/flaky
			callback %s/dead
`, flaky.URL, dead.URL), fastRetry)
	task, _ := s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(flaky.Received()) == 1 }, "flaky sink never got the delivery")
	if flaky.Requests() != 3 {
		t.Fatalf("flaky sink got %d requests, want 3", flaky.Requests())
	}
	ids := 0
	flakyIDs.Range(func(any, any) bool { ids++; return true })
	if ids != 1 {
		t.Fatalf("%d different webhook-ids across retries, want 1", ids)
	}

	// The dead sink: 1 + 3 attempts, then dead-lettered.
	var failed []map[string]any
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, b := s.get("/api/agents/support/deliveries?status=failed", apiAuth)
		if resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, b)
		}
		var l struct{ Data []map[string]any }
		_ = json.Unmarshal(b, &l)
		failed = l.Data
		return len(failed) == 1
	}, "no dead letter")
	if dead.Requests() != 4 {
		t.Fatalf("dead sink got %d attempts, want 4 (1 + 3 retries)", dead.Requests())
	}
	id := failed[0]["id"].(string)
	if failed[0]["task_id"] != task {
		t.Fatalf("dead letter %v", failed[0])
	}
	resp, b := s.get("/api/deliveries/"+id, apiAuth)
	wantStatus(t, resp, b, 200, "")
	var d struct {
		Status   string
		Attempts []struct {
			At         time.Time `json:"at"`
			StatusCode int       `json:"status_code"`
			LatencyMS  float64   `json:"latency_ms"`
			Error      string    `json:"error"`
		}
		Payload map[string]any
	}
	_ = json.Unmarshal(b, &d)
	if d.Status != "failed" || len(d.Attempts) != 4 || d.Attempts[3].StatusCode != 503 || d.Payload["task_id"] != task {
		t.Fatalf("delivery %s", b)
	}
	if !strings.Contains(s.caddy.Log(), "delivery dead-lettered") {
		t.Fatal("dead letter not logged")
	}
	// Replay once the receiver is back.
	deadDown.Store(false)
	resp, b = s.post("/api/deliveries/"+id+"/retry", nil, apiAuth)
	wantStatus(t, resp, b, 202, "")
	testkit.Eventually(t, 10*time.Second, func() bool { return len(dead.Received()) == 1 }, "replayed delivery did not arrive")
}

// TestCallbackOutage: a receiver down for a while gets everything that
// waited, once it is back.
func TestCallbackOutage(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	port := testkit.FreePort(t)
	sinkURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := callbackSite(t, agent.Addr(), "\t\t\tcallback "+sinkURL+"/hook\n", "retry_schedule 100ms 200ms 300ms 500ms 1s 1s 1s 1s\n\t\t\tbreaker 10 300ms")
	const n = 20
	var tasks []string
	for i := 0; i < n; i++ {
		task, _ := s.submit("/tasks", fmt.Sprintf(`{"n":%d}`, i), alice)
		tasks = append(tasks, task)
	}
	time.Sleep(700 * time.Millisecond) // the outage: nothing listens
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	sink := testkit.NewSinkOn(t, l)
	testkit.Eventually(t, 20*time.Second, func() bool { return len(sink.Received()) >= n }, "only %d of %d deliveries arrived after the outage", len(sink.Received()), n)
	seen := map[string]bool{}
	for _, c := range sink.Received() {
		var p struct {
			TaskID string `json:"task_id"`
		}
		_ = json.Unmarshal(c.Body, &p)
		seen[p.TaskID] = true
	}
	for _, task := range tasks {
		if !seen[task] {
			t.Fatalf("task %s's result never arrived", task)
		}
	}
}

// TestCallbackOrdered: with `ordered`, one chat's results arrive in order
// even when the first one needs retries.
func TestCallbackOrdered(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	var firstFailures atomic.Int64
	sink.Status = func(n int, r *http.Request) int {
		// Fail the first result of each chat twice.
		if r.Header.Get("X-Agenthook-Attempt") == "1" && firstFailures.Add(1) <= 2 {
			return 500
		}
		return 200
	}
	s := callbackSite(t, agent.Addr(), "\t\t\tcallback "+sink.URL+"/ordered {\n\t\t\t\tordered\n\t\t\t}\n", "retry_schedule 100ms 100ms 100ms")
	_, chat := s.submit("/tasks", `{"seq":0}`, alice)
	h := map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": chat}
	for i := 1; i < 6; i++ {
		s.submit("/tasks", fmt.Sprintf(`{"seq":%d}`, i), h)
	}
	testkit.Eventually(t, 15*time.Second, func() bool { return len(sink.Received()) == 6 }, "ordered deliveries did not all arrive")
	for i, c := range sink.Received() {
		var p struct {
			Result struct{ Answer string }
		}
		_ = json.Unmarshal(c.Body, &p)
		if want := fmt.Sprintf(`echo: {"seq":%d}`, i); p.Result.Answer != want {
			t.Fatalf("delivery %d carried %q, want %q: out of order", i, p.Result.Answer, want)
		}
	}
}

// TestCallbackKillStorm kills Caddy during a storm of deliveries; after a
// restart every delivery arrives at least once, and receivers can dedupe
// on webhook-id (one per event, so per callback path here).
func TestCallbackKillStorm(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	sink.Status = func(int, *http.Request) int {
		time.Sleep(2 * time.Millisecond)
		return 204
	}
	cbs := "\t\t\tcallback " + sink.URL + "/a\n\t\t\tcallback " + sink.URL + "/b\n"
	s := callbackSite(t, agent.Addr(), cbs, fastRetry)
	const n = 200
	for i := 0; i < n; i++ {
		resp, err := postRetrying(s.base+"/tasks", []byte(`{}`), alice)
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("submit %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
		if i == n/2 {
			s.caddy.Kill9()
			s.restart(s.globalsForRestart(agent.Addr(), cbs), asyncRoutes+`
	agenthook /cognigy support {
		auth bearer alice-token
		mode async
		format cognigy
	}
	@api path /api/agents/* /api/deliveries/* /api/tasks/*
	agenthook_api @api {
		bearer `+apiKey+`
	}
`)
		}
	}
	unique := func() map[string]bool {
		ids := map[string]bool{}
		for _, c := range sink.Received() {
			ids[c.Path+" "+c.Header.Get("Webhook-Id")] = true
		}
		return ids
	}
	testkit.Eventually(t, 60*time.Second, func() bool { return len(unique()) == 2*n }, "%d unique deliveries of %d", len(unique()), 2*n)
	t.Logf("%d unique webhook-ids, %d requests in all (duplicates after the kill are allowed)", len(unique()), len(sink.Received()))
}

func (s *site) globalsForRestart(agentAddr, callbacks string) string {
	return fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
%s
		}
`, fastRetry, agentAddr, callbacks)
}

// TestCallbackSSRF: loopback and private callback URLs are refused when
// registered and when dialled, unless allow_networks opens them; a
// redirect to an internal address is not followed.
func TestCallbackSSRF(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("support", agent.Addr())+"\t\tdelivery {\n\t\t\tretry_schedule 50ms\n\t\t}\n", asyncRoutes+`
	@api path /api/agents/* /api/deliveries/* /api/tasks/*
	agenthook_api @api {
		bearer `+apiKey+`
	}
`)
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://100.64.0.1/x", "http://224.0.0.1/x", "http://[::ffff:127.0.0.1]/x"} {
		resp, b := s.post("/api/agents/support/webhooks", []byte(fmt.Sprintf(`{"url":%q,"method":"POST"}`, u)), apiAuth)
		wantStatus(t, resp, b, 400, "bad_request")
		// One sentence, whatever the reason: no address, nothing that
		// tells an internal name from one that does not resolve.
		if !strings.Contains(string(b), "refused") || strings.Contains(string(b), "allow_networks") {
			t.Fatalf("%s: the 400 must say only that the URL is refused: %s", u, b)
		}
	}
	// A static callback to loopback without allow_networks is a config error.
	c := testkit.New(t)
	port := testkit.FreePort(t)
	cf := fmt.Sprintf(`{
	admin %s
	agenthook {
		storage badger %s/badger
		agent support {
			reverse_proxy %s
			callback http://127.0.0.1:%d/hook
		}
	}
}
http://127.0.0.1:%d {
	respond 200
}
`, c.Admin, c.Dir, agent.Addr(), port, port)
	c.Start(strings.Replace(cf, "callback http://127.0.0.1", "callback http://93.184.216.34", 1), port)
	if err := c.TryReload(cf); err == nil || !strings.Contains(err.Error(), "allow_networks") {
		t.Fatalf("a loopback callback was accepted without allow_networks: %v", err)
	}
}

// TestCallbackRedirectNotFollowed: a 3xx is a failed attempt, and the
// redirect target is never contacted.
func TestCallbackRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	target := testkit.NewSink(t)
	redirect := testkit.NewSink(t)
	redirect.Status = func(int, *http.Request) int { return 307 }
	redirect.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	})
	s := callbackSite(t, agent.Addr(), "\t\t\tcallback "+redirect.URL+"/hook\n", "retry_schedule 20ms")
	s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, b := s.get("/api/agents/support/deliveries?status=failed", apiAuth)
		return resp.StatusCode == 200 && strings.Contains(string(b), "redirects are not followed")
	}, "a redirect was not recorded as a failure")
	if target.Requests() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// TestCallbackGone: a 410 disables the registration.
func TestCallbackGone(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	gone := testkit.NewSink(t)
	gone.Status = func(int, *http.Request) int { return 410 }
	s := callbackSite(t, agent.Addr(), "", fastRetry)
	resp, b := s.post("/api/agents/support/webhooks", []byte(fmt.Sprintf(`{"url":%q,"method":"POST","status":"active"}`, gone.URL+"/gone")), apiAuth)
	wantStatus(t, resp, b, 201, "")
	id := decode(t, b)["id"].(string)
	s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, b := s.get("/api/agents/support/webhooks/"+id, apiAuth)
		return resp.StatusCode == 200 && decode(t, b)["status"] == "disabled"
	}, "a 410 did not disable the registration")
	if gone.Requests() != 1 {
		t.Fatalf("a 410 was retried: %d requests", gone.Requests())
	}
	// No new deliveries go to it.
	s.submit("/tasks", `{}`, alice)
	time.Sleep(300 * time.Millisecond)
	if gone.Requests() != 1 {
		t.Fatal("a disabled registration got a delivery")
	}
	// Enabling it again works.
	resp, b = s.do(http.MethodPatch, "/api/agents/support/webhooks/"+id, `{"status":"active"}`, apiAuth)
	wantStatus(t, resp, b, 200, "")
	if decode(t, b)["status"] != "active" {
		t.Fatalf("%s", b)
	}
}

// TestCallbackRetryAfterAndBreaker: Retry-After is honoured, and a
// receiver that keeps failing is paused instead of hammered.
func TestCallbackRetryAfterAndBreaker(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	var times []time.Time
	var mu sync.Mutex
	slowdown := testkit.NewSink(t)
	slowdown.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	})
	s := callbackSite(t, agent.Addr(), "\t\t\tcallback "+slowdown.URL+"/ra\n", "retry_schedule 10ms 10ms")
	s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(times) == 2 }, "no retry")
	mu.Lock()
	gap := times[1].Sub(times[0])
	mu.Unlock()
	if gap < 900*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 1", gap)
	}

	// Breaker: 3 failures in a row pause the callback for 2s.
	broken := testkit.NewSink(t)
	broken.Status = func(int, *http.Request) int { return 500 }
	s2 := callbackSite(t, agent.Addr(), "\t\t\tcallback "+broken.URL+"/b {\n\t\t\t\tconcurrency 1\n\t\t\t}\n", "retry_schedule 10ms 10ms 10ms 10ms 10ms 10ms\n\t\t\tbreaker 3 2s")
	for i := 0; i < 5; i++ {
		s2.submit("/tasks", `{}`, alice)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := broken.Requests(); n > 4 {
		t.Fatalf("%d attempts in 1.5s: the breaker did not pause the callback after 3 failures", n)
	}
	if !strings.Contains(s2.caddy.Log(), "paused by the circuit breaker") {
		t.Fatal("breaker not logged")
	}
}

func (s *site) do(method, path, body string, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return do(s.t, method, s.base+path, b, header)
}
