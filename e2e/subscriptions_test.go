package e2e

// End-to-end tests of callbacks as subscriptions: event types, filters,
// endpoint routing, registrations that carry what a Caddyfile callback
// can, secret rotation, test events, pacing, operator alerts, Caddy
// events and the events metric.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/signing"
)

// eventSink is a receiver that records every request, accepted or not,
// and answers as its script says (204 by default).
type eventSink struct {
	*httptest.Server
	answer func(n int, r *http.Request, w http.ResponseWriter) int

	mu  sync.Mutex
	all []testkit.Call
	ok  []testkit.Call
	n   atomic.Int64
}

func newEventSink(t *testing.T) *eventSink {
	s := &eventSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int(s.n.Add(1))
		status := http.StatusNoContent
		s.mu.Lock()
		answer := s.answer
		s.mu.Unlock()
		if answer != nil {
			status = answer(n, r, w)
		}
		c := testkit.Call{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()}
		s.mu.Lock()
		s.all = append(s.all, c)
		if status >= 200 && status < 300 {
			s.ok = append(s.ok, c)
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprintf(w, "answer %d", status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *eventSink) setAnswer(fn func(n int, r *http.Request, w http.ResponseWriter) int) {
	s.mu.Lock()
	s.answer = fn
	s.mu.Unlock()
}

// accepted returns the accepted requests to a path ("" for all).
func (s *eventSink) accepted(path string) []testkit.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []testkit.Call
	for _, c := range s.ok {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

func (s *eventSink) requests(path string) []testkit.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []testkit.Call
	for _, c := range s.all {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// startSiteWithOptions is startSite with more global options.
func startSiteWithOptions(t *testing.T, options, globals, routes string) *site {
	t.Helper()
	c := testkit.New(t)
	s := &site{t: t, caddy: c, port: testkit.FreePort(t), globalOptions: options}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	c.Start(s.caddyfile(globals, routes), s.port)
	return s
}

// subsRoutes are the async endpoints, a Cognigy endpoint named cognigy
// for the same agent, the status endpoint and the API.
const subsRoutes = asyncRoutes + `
	agenthook /cognigy support {
		name cognigy
		auth bearer alice-token
		format cognigy
		mode async
	}
	@api {
		path /api/*
		not path /api/webhooks/agents/* /api/task_status*
	}
	agenthook_api @api {
		bearer ` + apiKey + `
	}
`

// eventSchemas reads GET /api/event-types and returns each type's schema,
// to check received bodies against what agenthook itself documents.
func eventSchemas(t *testing.T, s *site) map[string]*openapi3.Schema {
	t.Helper()
	resp, b := s.get("/api/event-types", apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var l struct {
		Data []struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		}
	}
	jsonBody(t, b, &l)
	out := map[string]*openapi3.Schema{}
	for _, et := range l.Data {
		var sc openapi3.Schema
		if err := json.Unmarshal(et.Schema, &sc); err != nil {
			t.Fatalf("%s: the schema is not one: %v", et.Name, err)
		}
		out[et.Name] = &sc
	}
	if len(out) != 6 {
		t.Fatalf("%d event types, want 6", len(out))
	}
	return out
}

// wantSchema checks a raw body against its type's schema.
func wantSchema(t *testing.T, schemas map[string]*openapi3.Schema, body []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	typ, _ := v["type"].(string)
	sc := schemas[typ]
	if sc == nil {
		t.Fatalf("body of unknown type %q: %s", typ, body)
	}
	if err := sc.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Fatalf("a %s body does not match its schema from /api/event-types: %v\n%s", typ, err, body)
	}
	return v
}

// metric reads one sample of Caddy's metrics from the admin endpoint.
func metric(t *testing.T, s *site, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.caddy.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return f
		}
	}
	return 0
}

func eventsMetric(agent, typ string) string {
	return fmt.Sprintf(`caddy_agenthook_events_total{agent=%q,type=%q}`, agent, typ)
}

// TestSubscriptions: each static callback receives the event types it
// subscribes to, of its endpoint's tasks, when its filter says true; all
// the deliveries of one event share one webhook-id; bodies match the
// schemas of /api/event-types; events are counted.
func TestSubscriptions(t *testing.T) {
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct{ P string }
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"priority": in.P, "text": "done"})
	}
	sink := newEventSink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/all {
				events task.started task.succeeded task.failed
				ordered
				sign standard_webhooks %s
			}
			callback %s/default {
				sign standard_webhooks %s
			}
			callback %s/high {
				filter `+"`"+`.result.priority == "high"`+"`"+`
			}
			callback %s/cognigy {
				endpoint cognigy
				format cognigy
			}
		}
`, fastRetry, agent.Addr(), sink.URL, cbSecret, sink.URL, cbSecret, sink.URL, sink.URL)
	s := startSite(t, globals, subsRoutes)
	schemas := eventSchemas(t, s)

	high, _ := s.submit("/tasks", `{"p":"high"}`, alice)
	low, _ := s.submit("/tasks", `{"p":"low"}`, alice)
	cog, _ := s.submit("/cognigy", `{"userId":"u1","sessionId":"s1","text":"hi"}`, alice)
	testkit.Eventually(t, 15*time.Second, func() bool {
		return len(sink.accepted("/all")) == 6 && len(sink.accepted("/default")) == 3 &&
			len(sink.accepted("/high")) == 1 && len(sink.accepted("/cognigy")) == 1
	}, "deliveries: all %d/6, default %d/3, high %d/1, cognigy %d/1", len(sink.accepted("/all")),
		len(sink.accepted("/default")), len(sink.accepted("/high")), len(sink.accepted("/cognigy")))
	time.Sleep(300 * time.Millisecond) // nothing more comes
	if n := len(sink.accepted("")); n != 11 {
		t.Fatalf("%d deliveries in all, want 11", n)
	}

	// Per task: task.started then the final event on the ordered /all;
	// one webhook-id per event, shared by every callback that got it.
	wh, _ := standardwebhooks.NewWebhook(cbSecret)
	ids := map[string]map[string]string{} // task -> event type -> webhook-id
	for _, path := range []string{"/all", "/default", "/high"} {
		for _, c := range sink.accepted(path) {
			if path != "/high" {
				if err := wh.Verify(c.Body, c.Header); err != nil {
					t.Fatalf("%s: signature: %v", path, err)
				}
			}
			v := wantSchema(t, schemas, c.Body)
			task, typ := v["task_id"].(string), v["type"].(string)
			if c.Header.Get("X-Agenthook-Event") != typ {
				t.Fatalf("X-Agenthook-Event %q for a %s body", c.Header.Get("X-Agenthook-Event"), typ)
			}
			if ids[task] == nil {
				ids[task] = map[string]string{}
			}
			id := c.Header.Get("Webhook-Id")
			if prev, ok := ids[task][typ]; ok && prev != id {
				t.Fatalf("task %s %s: webhook-ids %q and %q; one event has one", task, typ, prev, id)
			}
			ids[task][typ] = id
		}
	}
	for _, task := range []string{high, low, cog} {
		if ids[task]["task.started"] == "" || ids[task]["task.succeeded"] == "" || ids[task]["task.started"] == ids[task]["task.succeeded"] {
			t.Fatalf("task %s: webhook-ids %v", task, ids[task])
		}
	}
	seen := map[string]string{}
	for _, c := range sink.accepted("/all") {
		var p map[string]string
		_ = json.Unmarshal(c.Body, &p)
		if p["type"] == "task.succeeded" && seen[p["task_id"]] != "task.started" {
			t.Fatalf("task %s: task.succeeded arrived before task.started on an ordered callback", p["task_id"])
		}
		seen[p["task_id"]] = p["type"]
	}
	var h map[string]any
	_ = json.Unmarshal(sink.accepted("/high")[0].Body, &h)
	if h["task_id"] != high {
		t.Fatalf("the filter let through %v", h)
	}
	c := sink.accepted("/cognigy")[0]
	var cp struct {
		UserID string `json:"userId"`
	}
	if json.Unmarshal(c.Body, &cp) != nil || cp.UserID != "u1" || c.Header.Get("Webhook-Id") != ids[cog]["task.succeeded"] {
		t.Fatalf("the cognigy endpoint's callback got %s (webhook-id %s)", c.Body, c.Header.Get("Webhook-Id"))
	}

	// Counted whether or not someone receives them.
	if got := metric(t, s, eventsMetric("support", "task.started")); got != 3 {
		t.Errorf("task.started counted %v times, want 3", got)
	}
	if got := metric(t, s, eventsMetric("support", "task.succeeded")); got != 3 {
		t.Errorf("task.succeeded counted %v times, want 3", got)
	}

	// The API shows the subscriptions of the Caddyfile's callbacks.
	resp, b := s.get("/api/agents/support/webhooks", apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	for _, want := range []string{`"events":["task.started","task.succeeded","task.failed"]`, `"filter":".result.priority == \"high\""`, `"endpoint":"cognigy"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("webhook list lacks %s: %s", want, b)
		}
	}

	// A callback routed to an endpoint the config lacks is refused.
	bad := strings.Replace(globals, "endpoint cognigy", "endpoint nope", 1)
	err := s.caddy.TryReload(s.caddyfile(bad, subsRoutes))
	if err == nil || !strings.Contains(err.Error(), `endpoint \"nope\": no agenthook handler has that name`) {
		t.Fatalf("reload with an unknown endpoint: %v", err)
	}
	// And a filter that is not jq, with its line.
	bad = strings.Replace(globals, `.result.priority == "high"`, `.result.priority ==`, 1)
	err = s.caddy.TryReload(s.caddyfile(bad, subsRoutes))
	if err == nil || !strings.Contains(err.Error(), "filter: jq: unexpected EOF") || !strings.Contains(err.Error(), "Caddyfile:") {
		t.Fatalf("reload with a broken filter: %v", err)
	}
}

// TestSubscriptionsAPIRegistration: a registration carries Basic auth,
// headers, an HMAC header and a v1a key, routed by endpoint; reads never
// show a secret; a rotation signs with both secrets; a test event goes out
// signed and says what came of it. Every answer is checked against
// openapi.yaml.
func TestSubscriptionsAPIRegistration(t *testing.T) {
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"text":"Your order ships tomorrow.","data":{"order":42}}`)
	}
	sink := newEventSink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
		}
`, fastRetry, agent.Addr())
	s := startSite(t, globals, subsRoutes)
	c := newAPIClient(s)
	hooks := "/api/agents/support/webhooks"
	resp, b := c.get("/api/event-types")
	wantStatus(t, resp, b, http.StatusOK, "")

	// The Cognigy registration of the README, purely through the API.
	resp, b = c.call(http.MethodPost, hooks, `{"url":"`+sink.URL+`/cognigy","format":"cognigy","endpoint":"cognigy",
		"basic_auth":{"username":"cognigy-user","password":"cognigy-pw-7788"},
		"headers":{"X-Tenant":"acme","X-Api-Key":"key-7788"},
		"hmac":{"header":"X-Signature"},"signature":"v1a","events":["task.succeeded","task.failed"]}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var cog struct {
		ID, Secret, PublicKey string
		HMAC                  struct{ Secret string }
	}
	jsonBody(t, b, &cog)
	var raw map[string]any
	jsonBody(t, b, &raw)
	cog.PublicKey, _ = raw["public_key"].(string)
	if !strings.HasPrefix(cog.Secret, "whsk_") || !strings.HasPrefix(cog.PublicKey, "whpk_") || len(cog.HMAC.Secret) != 64 {
		t.Fatalf("creation answer %s", b)
	}
	secrets := []string{cog.Secret, cog.HMAC.Secret, "cognigy-pw-7788", "key-7788"}
	for _, path := range []string{hooks, hooks + "/" + cog.ID} {
		resp, b := c.get(path)
		wantStatus(t, resp, b, http.StatusOK, "")
		for _, secret := range secrets {
			if strings.Contains(string(b), secret) {
				t.Fatalf("GET %s shows a secret (%.8s…): %s", path, secret, b)
			}
		}
		if !strings.Contains(string(b), `"X-Api-Key":"(hidden)"`) || !strings.Contains(string(b), `"username":"cognigy-user"`) {
			t.Fatalf("GET %s: %s", path, b)
		}
	}

	// A raw v1 registration for every task.
	resp, b = c.call(http.MethodPost, hooks, `{"url":"`+sink.URL+`/raw"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var plain struct{ ID, Secret string }
	jsonBody(t, b, &plain)

	task, _ := s.submit("/cognigy", `{"userId":"u7","sessionId":"s7","text":"Where is my order?"}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.accepted("/cognigy")) == 1 && len(sink.accepted("/raw")) == 1 }, "deliveries did not arrive")
	got := sink.accepted("/cognigy")[0]
	if user, pass, ok := (&http.Request{Header: got.Header}).BasicAuth(); !ok || user != "cognigy-user" || pass != "cognigy-pw-7788" {
		t.Fatalf("basic auth %q %q", user, pass)
	}
	if got.Header.Get("X-Tenant") != "acme" || got.Header.Get("X-Api-Key") != "key-7788" {
		t.Fatalf("headers %v", got.Header)
	}
	if got.Header.Get("X-Signature") != hmacHex(cog.HMAC.Secret, got.Body) {
		t.Fatalf("X-Signature %q does not sign the body", got.Header.Get("X-Signature"))
	}
	v1a, err := signing.NewStandardWebhooks([]string{cog.PublicKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPost, "/", nil)
	hr.Header = got.Header
	if _, err := v1a.Verify(hr, got.Body, time.Now()); err != nil || !strings.HasPrefix(got.Header.Get("Webhook-Signature"), "v1a,") {
		t.Fatalf("v1a signature %q: %v", got.Header.Get("Webhook-Signature"), err)
	}
	var cp struct {
		UserID   string                `json:"userId"`
		AIOutput struct{ Text string } `json:"AIOutput"`
	}
	if json.Unmarshal(got.Body, &cp) != nil || cp.UserID != "u7" || cp.AIOutput.Text != "Your order ships tomorrow." {
		t.Fatalf("cognigy body %s", got.Body)
	}
	if p := sink.accepted("/raw")[0]; !strings.Contains(string(p.Body), task) || p.Header.Get("Webhook-Id") != got.Header.Get("Webhook-Id") {
		t.Fatalf("the raw registration got %s, webhook-id %s", p.Body, p.Header.Get("Webhook-Id"))
	}

	// Rotation: the new secret is answered once; both sign for an hour.
	resp, b = c.call(http.MethodPost, hooks+"/"+plain.ID+"/rotate-secret", `{"grace_period":"1h"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var rotated struct {
		Secret                  string
		PreviousSecretsExpireAt time.Time `json:"previous_secrets_expire_at"`
	}
	jsonBody(t, b, &rotated)
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == plain.Secret || time.Until(rotated.PreviousSecretsExpireAt) < 59*time.Minute {
		t.Fatalf("rotation answer %s", b)
	}
	resp, b = c.get(hooks + "/" + plain.ID)
	wantStatus(t, resp, b, http.StatusOK, "")
	if strings.Contains(string(b), rotated.Secret) || strings.Contains(string(b), plain.Secret) || !strings.Contains(string(b), "previous_secrets_expire_at") {
		t.Fatalf("after rotation, GET shows %s", b)
	}
	task2, _ := s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.accepted("/raw")) == 2 }, "no delivery after the rotation")
	after := sink.accepted("/raw")[1]
	if !strings.Contains(string(after.Body), task2) || len(strings.Fields(after.Header.Get("Webhook-Signature"))) != 2 {
		t.Fatalf("during the grace period: signature %q, body %s", after.Header.Get("Webhook-Signature"), after.Body)
	}
	for _, secret := range []string{plain.Secret, rotated.Secret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(after.Body, after.Header); err != nil {
			t.Fatalf("a receiver that knows one of the secrets refuses the delivery: %v", err)
		}
	}

	// The test route: a signed example, and what came of it.
	sink.setAnswer(func(n int, r *http.Request, w http.ResponseWriter) int {
		if r.Header.Get("X-Agenthook-Test") == "true" {
			return http.StatusAccepted
		}
		return http.StatusNoContent
	})
	resp, b = c.call(http.MethodPost, hooks+"/"+plain.ID+"/test", `{"event_type":"task.failed"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var tr struct {
		EventType  string  `json:"event_type"`
		MessageID  string  `json:"message_id"`
		Delivered  bool    `json:"delivered"`
		StatusCode int     `json:"status_code"`
		LatencyMS  float64 `json:"latency_ms"`
		Response   string  `json:"response"`
	}
	jsonBody(t, b, &tr)
	if !tr.Delivered || tr.StatusCode != 202 || tr.EventType != "task.failed" || tr.Response != "answer 202" || tr.LatencyMS <= 0 {
		t.Fatalf("test answer %s", b)
	}
	test := sink.accepted("/raw")[2]
	wh, _ := standardwebhooks.NewWebhook(rotated.Secret)
	if err := wh.Verify(test.Body, test.Header); err != nil || test.Header.Get("Webhook-Id") != tr.MessageID {
		t.Fatalf("test event: %v, webhook-id %q", err, test.Header.Get("Webhook-Id"))
	}
	// A test to a receiver that fails says so, and disables nothing.
	sink.setAnswer(func(int, *http.Request, http.ResponseWriter) int { return http.StatusGone })
	resp, b = c.call(http.MethodPost, hooks+"/"+cog.ID+"/test", ``, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	if !strings.Contains(string(b), `"delivered":false`) || !strings.Contains(string(b), `"status_code":410`) {
		t.Fatalf("failed test answer %s", b)
	}
	_, b = c.get(hooks + "/" + cog.ID)
	if !strings.Contains(string(b), `"status":"active"`) {
		t.Fatalf("a test event changed the callback: %s", b)
	}

	// PATCH the options; null goes back to the defaults.
	resp, b = c.call(http.MethodPatch, hooks+"/"+cog.ID, `{"rate_limit":5,"retry_schedule":["1s","1m"],"timeout":"5s","basic_auth":null,"filter":"$task.meta.userId != null"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	if strings.Contains(string(b), "basic_auth") || !strings.Contains(string(b), `"rate_limit":5`) {
		t.Fatalf("patch answer %s", b)
	}
	body := c.wantError(http.MethodPatch, hooks+"/"+cog.ID, `{"filter":".a =="}`, apiAuth, http.StatusBadRequest, "bad_request")
	if !strings.Contains(string(body), "filter: jq: unexpected EOF") {
		t.Fatalf("bad filter answer %s", body)
	}
	c.wantError(http.MethodPost, hooks, `{"url":"`+sink.URL+`/x","events":["task.done"]}`, apiAuth, http.StatusBadRequest, "bad_request")
	c.wantError(http.MethodPost, hooks+"/cfg-nope/rotate-secret", ``, apiAuth, http.StatusNotFound, "not_found")
	c.noLeaks(secrets...)
}

// TestSubscriptionsRateLimit: rate_limit spaces a callback's deliveries; a
// 429 with Retry-After holds the callback back that long, and does not
// count toward its breaker (one failure here would pause it for a
// minute) nor disable it.
func TestSubscriptionsRateLimit(t *testing.T) {
	agent := testkit.NewAgent(t)
	sink := newEventSink(t)
	sink.setAnswer(func(n int, r *http.Request, w http.ResponseWriter) int {
		if r.URL.Path == "/busy" && len(sink.requests("/busy")) < 2 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusNoContent
	})
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 100ms 100ms 100ms 100ms
			breaker 1 1m
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/paced {
				rate_limit 4
			}
			callback %s/busy {
				concurrency 1
			}
		}
`, agent.Addr(), sink.URL, sink.URL)
	s := startSite(t, globals, subsRoutes)
	const n = 6
	for i := range n {
		s.submit("/tasks", fmt.Sprintf(`{"i":%d}`, i), alice)
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return len(sink.accepted("/paced")) == n && len(sink.accepted("/busy")) == n },
		"paced %d/%d, busy %d/%d", len(sink.accepted("/paced")), n, len(sink.accepted("/busy")), n)
	paced := sink.accepted("/paced")
	for i := 1; i < len(paced); i++ {
		if gap := paced[i].At.Sub(paced[i-1].At); gap < 200*time.Millisecond {
			t.Fatalf("paced deliveries %d and %d came %v apart; rate_limit 4 spaces them 250ms", i-1, i, gap)
		}
	}
	busy := sink.requests("/busy")
	if busy[0].Header.Get("X-Agenthook-Attempt") != "1" {
		t.Fatalf("first busy request %v", busy[0].Header)
	}
	// After each 429, the callback waited its Retry-After.
	for i := 1; i < 3; i++ {
		if gap := busy[i].At.Sub(busy[i-1].At); gap < 900*time.Millisecond {
			t.Fatalf("busy request %d came %v after a 429 with Retry-After: 1", i, gap)
		}
	}
	resp, b := s.get("/api/agents/support/webhooks/cfg-support-2", apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	if !strings.Contains(string(b), `"status":"active"`) {
		t.Fatalf("the 429s disabled the callback: %s", b)
	}
}

// TestAlertsAndCaddyEvents: the alerts callback receives every
// operational event (a dead letter, a callback disabled by a 410, a
// callback that recovered after the breaker paused it), signed with its
// own secret; each is also a Caddy event of the events app, and counted.
func TestAlertsAndCaddyEvents(t *testing.T) {
	const alertSecret = "whsec_QWxlcnRzU2VjcmV0Rm9yVGVzdHNPbmx5MTIzNA=="
	agent := testkit.NewAgent(t)
	sink, alerts := newEventSink(t), newEventSink(t)
	sink.setAnswer(func(n int, r *http.Request, w http.ResponseWriter) int {
		switch r.URL.Path {
		case "/dead":
			return http.StatusServiceUnavailable
		case "/gone":
			return http.StatusGone
		case "/flaky":
			if len(sink.requests("/flaky")) == 0 {
				return http.StatusInternalServerError
			}
		}
		return http.StatusNoContent
	})
	// The events app logs every event at debug level: that is how Caddy
	// shows what it emits, and what a handler subscribed to it receives.
	options := `log caddyevents {
		output stderr
		include events
		level DEBUG
		format json
	}`
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 100ms 100ms
			breaker 1 1s
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/dead
			callback %s/gone
			callback %s/flaky
		}
		alerts %s/alerts {
			sign standard_webhooks %s
		}
`, agent.Addr(), sink.URL, sink.URL, sink.URL, alerts.URL, alertSecret)
	s := startSiteWithOptions(t, options, globals, subsRoutes)
	schemas := eventSchemas(t, s)
	task, _ := s.submit("/tasks", `{}`, alice)

	byType := func() map[string][]map[string]any {
		out := map[string][]map[string]any{}
		for _, c := range alerts.accepted("/alerts") {
			var v map[string]any
			_ = json.Unmarshal(c.Body, &v)
			out[v["type"].(string)] = append(out[v["type"].(string)], v)
		}
		return out
	}
	testkit.Eventually(t, 15*time.Second, func() bool {
		m := byType()
		return len(m["delivery.exhausted"]) == 2 && len(m["callback.disabled"]) == 1 && len(m["callback.recovered"]) == 1
	}, "alerts received: %v", byType())
	wh, _ := standardwebhooks.NewWebhook(alertSecret)
	for _, c := range alerts.accepted("/alerts") {
		if err := wh.Verify(c.Body, c.Header); err != nil {
			t.Fatalf("alert signature: %v", err)
		}
		wantSchema(t, schemas, c.Body)
	}
	m := byType()
	if d := m["callback.disabled"][0]; d["callback_id"] != "cfg-support-2" || !strings.Contains(d["reason"].(string), "410") {
		t.Fatalf("callback.disabled %v", d)
	}
	if r := m["callback.recovered"][0]; r["callback_id"] != "cfg-support-3" {
		t.Fatalf("callback.recovered %v", r)
	}
	// The dead letter the alert names is the one the API lists.
	resp, b := s.get("/api/agents/support/deliveries?status=failed", apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var failed struct{ Data []deliveryJSON }
	jsonBody(t, b, &failed)
	dead := ""
	for _, d := range failed.Data {
		if d.CallbackID == "cfg-support-1" {
			dead = d.ID
		}
	}
	found := false
	for _, e := range m["delivery.exhausted"] {
		dl := e["delivery"].(map[string]any)
		if dl["id"] == dead && e["callback_id"] == "cfg-support-1" && dl["task_id"] == task && dl["last_status"] == 503.0 {
			found = true
		}
	}
	if dead == "" || !found {
		t.Fatalf("no delivery.exhausted names the dead letter %q: %v", dead, m["delivery.exhausted"])
	}

	// Caddy events, with agenthook as their origin.
	for _, typ := range []string{"delivery.exhausted", "callback.disabled", "callback.recovered"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok := s.caddy.WaitLog(ctx, `"name":"`+typ+`"`)
		cancel()
		if !ok {
			t.Fatalf("Caddy's events app never emitted %s", typ)
		}
	}
	var ev struct {
		Msg, Name, Origin string
		Data              map[string]any
	}
	for _, line := range strings.Split(s.caddy.Log(), "\n") {
		if strings.Contains(line, `"name":"callback.disabled"`) {
			_ = json.Unmarshal([]byte(line), &ev)
			break
		}
	}
	if ev.Msg != "event" || ev.Origin != "agenthook" || ev.Data["callback_id"] != "cfg-support-2" || ev.Data["agent"] != "support" {
		t.Fatalf("Caddy event %+v", ev)
	}

	// Counted.
	for typ, want := range map[string]float64{"delivery.exhausted": 2, "callback.disabled": 1, "callback.recovered": 1} {
		if got := metric(t, s, eventsMetric("support", typ)); got != want {
			t.Errorf("%s counted %v times, want %v", typ, got, want)
		}
	}
}
