package e2e

// End-to-end tests of the management API (agenthook_api), the task status
// endpoint (agenthook_status) and the DocsGPT-style async answer, through
// a real Caddy. Every answer is checked against ../openapi.yaml with
// kin-openapi, so the document and the implementation cannot drift apart.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agenthook/agenthook/internal/testkit"
)

const specPath = "../openapi.yaml"

// apiRoutes mounts the agent token endpoint, the status endpoint and the
// management API under /api. agenthook_api is ordered before the other
// two handlers, so its matcher must leave their paths alone.
const apiRoutes = `
	agenthook /api/webhooks/agents/* {
		agent_from_token
		mode async
	}
	agenthook_status /api/task_status*
	@api {
		path /api/*
		not path /api/webhooks/agents/* /api/task_status*
	}
	agenthook_api @api {
		bearer ` + apiKey + `
	}
`

// loadSpec loads and validates openapi.yaml, with base as its only server.
func loadSpec(t *testing.T, base string) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("loading %s: %v", specPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specPath, err)
	}
	if base != "" {
		doc.Servers = openapi3.Servers{{URL: base}}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return doc, router
}

// apiClient sends requests to a site and validates every answer against
// openapi.yaml. It keeps every error answer, to check for leaked secrets.
type apiClient struct {
	*site
	doc    *openapi3.T
	router routers.Router

	mu     sync.Mutex
	errors []string
}

func newAPIClient(s *site) *apiClient {
	doc, router := loadSpec(s.t, s.base)
	return &apiClient{site: s, doc: doc, router: router}
}

var specOptions = &openapi3filter.Options{
	IncludeResponseStatus: true, // an undocumented status is an error
	MultiError:            true,
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
}

// call sends one request and validates the answer.
func (c *apiClient) call(method, path, body string, header map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	resp, b := c.do(method, path, body, header)
	c.validate(method, path, body, header, resp, b)
	if resp.StatusCode >= 400 {
		c.mu.Lock()
		var hs []string
		for k, vs := range resp.Header {
			hs = append(hs, k+": "+strings.Join(vs, ", "))
		}
		c.errors = append(c.errors, string(b)+"\n"+strings.Join(hs, "\n"))
		c.mu.Unlock()
	}
	return resp, b
}

func (c *apiClient) get(path string) (*http.Response, []byte) {
	c.t.Helper()
	return c.call(http.MethodGet, path, "", apiAuth)
}

// validate checks the answer against the operation of openapi.yaml the
// request maps to. Requests that map to none (an unknown route, a method
// a route does not have) are checked against the NotFound and
// MethodNotAllowed responses of the components.
func (c *apiClient) validate(method, path, body string, header map[string]string, resp *http.Response, b []byte) {
	c.t.Helper()
	ctx := context.Background()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// The API ignores a trailing slash; openapi.yaml lists each path once.
	if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		req.URL.Path = strings.TrimRight(p, "/")
	}
	route, params, err := c.router.FindRoute(req)
	documented := err == nil
	if !documented {
		name := ""
		switch {
		case resp.StatusCode == http.StatusNotFound && errors.Is(err, routers.ErrPathNotFound):
			name = "NotFound"
		case resp.StatusCode == http.StatusNotFound && errors.Is(err, routers.ErrMethodNotAllowed):
			name = "NotFound" // e.g. PUT on an unknown agent: 404 comes first
		case resp.StatusCode == http.StatusMethodNotAllowed && errors.Is(err, routers.ErrMethodNotAllowed):
			name = "MethodNotAllowed"
		case resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(path, "/api/"):
			name = "Unauthorized" // the key is checked before the route
		default:
			c.t.Errorf("%s %s: answered %d, but openapi.yaml has no operation for it (%v): %s", method, path, resp.StatusCode, err, b)
			return
		}
		ref := c.doc.Components.Responses[name]
		if ref == nil {
			c.t.Fatalf("openapi.yaml lacks components.responses.%s", name)
		}
		route = &routers.Route{Spec: c.doc, Path: path, Method: method,
			Operation: &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(resp.StatusCode, ref))}}
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: specOptions}
	if documented && resp.StatusCode < 300 {
		// agenthook took the request: openapi.yaml must accept it too.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Errorf("%s %s: agenthook accepted the request, openapi.yaml refuses it: %v", method, path, err)
		}
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: specOptions}
	out.SetBodyBytes(b)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s %s: the %d answer does not match openapi.yaml: %v\nbody: %s\nheaders: %v", method, path, resp.StatusCode, err, b, resp.Header)
	}
}

// wantError checks an error answer: status, code, JSON, and an Allow
// header with these methods for a 405.
func (c *apiClient) wantError(method, path, body string, header map[string]string, status int, code string) []byte {
	c.t.Helper()
	resp, b := c.call(method, path, body, header)
	if resp.StatusCode != status {
		c.t.Errorf("%s %s %.80s: status %d, want %d; body %s", method, path, body, resp.StatusCode, status, b)
		return b
	}
	var e struct{ Error, Code string }
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Code != code {
		c.t.Errorf("%s %s %.80s: error body %s, want code %q", method, path, body, b, code)
	}
	return b
}

// noLeaks fails if any error answer so far holds one of the secrets.
func (c *apiClient) noLeaks(secrets ...string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errors) == 0 {
		c.t.Fatal("no error answers were recorded")
	}
	for _, e := range c.errors {
		for _, s := range secrets {
			if s != "" && strings.Contains(e, s) {
				c.t.Errorf("an error answer leaks a secret (%.12s…): %s", s, e)
			}
		}
	}
}

func jsonBody(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("not the expected JSON: %v: %s", err, b)
	}
}

type webhookJSON struct {
	ID             string    `json:"id"`
	AgentID        string    `json:"agent_id"`
	URL            string    `json:"url"`
	Method         string    `json:"method"`
	Status         string    `json:"status"`
	Format         string    `json:"format"`
	Ordered        bool      `json:"ordered"`
	Source         string    `json:"source"`
	DisabledReason string    `json:"disabled_reason"`
	Secret         string    `json:"secret"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

type attemptJSON struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error"`
	Response   string    `json:"response"`
	// The answer's first bytes in base64 when not text, whether they were
	// cut, and some of its headers.
	ResponseBase64    string              `json:"response_base64"`
	ResponseTruncated bool                `json:"response_truncated"`
	ResponseHeaders   map[string][]string `json:"response_headers"`
}

type deliveryJSON struct {
	ID            string          `json:"id"`
	MessageID     string          `json:"message_id"`
	TaskID        string          `json:"task_id"`
	AgentID       string          `json:"agent_id"`
	ChatID        string          `json:"chat_id"`
	CallbackID    string          `json:"callback_id"`
	EventType     string          `json:"event_type"`
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attempt_count"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	LastError     string          `json:"last_error"`
	Attempts      []attemptJSON   `json:"attempts"`
	Payload       json.RawMessage `json:"payload"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// TestAPISpec checks that openapi.yaml is a valid OpenAPI 3.0.3 document
// that describes every route of the management API, the status endpoint
// and the async agent endpoint, with the statuses they answer.
func TestAPISpec(t *testing.T) {
	t.Parallel()
	doc, _ := loadSpec(t, "")
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	want := map[string]map[string][]string{
		"/api/agents":                                     {"GET": {"200", "401", "503"}},
		"/api/agents/{agent}/webhooks":                    {"POST": {"201", "400", "401", "403", "404", "409", "413", "503"}, "GET": {"200", "401", "404", "503"}},
		"/api/agents/{agent}/webhooks/{id}":               {"GET": {"200", "401", "404", "503"}, "PATCH": {"200", "400", "401", "403", "404", "413", "503"}, "DELETE": {"204", "401", "403", "404", "405", "503"}},
		"/api/agents/{agent}/deliveries":                  {"GET": {"200", "400", "401", "404", "503"}},
		"/api/agents/{agent}/deliveries/recover":          {"POST": {"200", "202", "400", "401", "403", "404", "413", "503"}},
		"/api/deliveries/{id}":                            {"GET": {"200", "401", "404", "503"}},
		"/api/deliveries/{id}/retry":                      {"POST": {"202", "401", "403", "404", "503"}},
		"/api/tasks":                                      {"GET": {"200", "400", "401", "404", "503"}},
		"/api/tasks/{id}":                                 {"GET": {"200", "401", "404", "503"}},
		"/api/keys":                                       {"GET": {"200", "401", "403", "503"}, "POST": {"201", "400", "401", "403", "413", "503"}},
		"/api/keys/{id}":                                  {"GET": {"200", "401", "403", "404", "503"}, "DELETE": {"204", "401", "403", "404", "405", "503"}},
		"/api/task_status":                                {"GET": {"200", "404", "503"}},
		"/api/task_status/{task_id}":                      {"GET": {"200", "404", "503"}},
		"/api/webhooks/agents/{token}":                    {"POST": {"202", "400", "404", "409", "413", "503", "508"}},
		"/api/agents/{agent}/webhooks/{id}/rotate-secret": {"POST": {"200", "400", "401", "403", "404", "413", "503"}},
		"/api/agents/{agent}/webhooks/{id}/test":          {"POST": {"200", "400", "401", "403", "404", "413", "503"}},
		"/api/event-types":                                {"GET": {"200", "401"}},
		"/api/stats":                                      {"GET": {"200", "401", "503"}},
		"/api/stats/stream":                               {"GET": {"200", "401", "503"}},
		"/api/ui/":                                        {"GET": {"200"}},
	}
	for path, ops := range want {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("openapi.yaml lacks %s", path)
			continue
		}
		if got := len(item.Operations()); got != len(ops) {
			t.Errorf("%s has %d operations, want %d", path, got, len(ops))
		}
		for method, statuses := range ops {
			op := item.GetOperation(method)
			if op == nil {
				t.Errorf("openapi.yaml lacks %s %s", method, path)
				continue
			}
			for _, st := range statuses {
				if op.Responses.Value(st) == nil {
					t.Errorf("%s %s does not document %s", method, path, st)
				}
			}
			if strings.HasPrefix(path, "/api/task_status") || strings.HasPrefix(path, "/api/webhooks/") || path == "/api/ui/" {
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s %s must need no API key", method, path)
				}
			}
		}
	}
	if n := doc.Paths.Len(); n != len(want) {
		t.Errorf("openapi.yaml has %d paths, want %d", n, len(want))
	}
	if s := doc.Components.SecuritySchemes["apiKey"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
		t.Error("the apiKey security scheme must be http bearer")
	}
	// Response objects refuse undocumented fields.
	for _, name := range []string{"Error", "Webhook", "WebhookCreated", "WebhookList", "Delivery", "DeliveryDetail", "DeliveryList", "Attempt", "Task", "Accepted", "Recovered", "RawCallbackPayload", "CognigyCallbackPayload",
		"RecoverRequest", "RecoverPreview", "TaskSummary", "TaskList", "TaskDetail", "TaskRequest", "Agent", "AgentList", "AgentEndpoint", "Upstream", "Stats", "StatsPoint", "Key", "KeyCreate", "KeyCreated", "KeyList",

		"WebhookCreate", "WebhookUpdate", "WebhookRotated", "RotateSecret", "WebhookTest", "WebhookTestResult", "BasicAuthInput", "HMACInput", "HMACView",
		"EventTypeInfo", "EventTypeList", "DeliveryExhaustedPayload", "CallbackDisabledPayload", "CallbackRecoveredPayload"} {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		if ap := s.Value.AdditionalProperties.Has; ap == nil || *ap {
			t.Errorf("schema %s must have additionalProperties: false", name)
		}
	}
	enums := map[string][]string{
		"WebhookStatus":  {"active", "inactive", "disabled"},
		"DeliveryStatus": {"pending", "delivered", "failed"},
		"TaskStatus":     {"PENDING", "STARTED", "SUCCESS", "FAILURE"},
		"WebhookFormat":  {"raw", "cognigy"},
		"EventType":      {"task.started", "task.succeeded", "task.failed", "delivery.exhausted", "callback.disabled", "callback.recovered"},
	}
	for name, values := range enums {
		got := fmt.Sprint(doc.Components.Schemas[name].Value.Enum)
		if got != fmt.Sprint(values) {
			t.Errorf("enum %s is %s, want %v", name, got, values)
		}
	}
	codes := fmt.Sprint(doc.Components.Schemas["Error"].Value.Properties["code"].Value.Enum)
	for _, code := range []string{"bad_request", "invalid_json", "missing_fields", "unauthorized", "forbidden", "not_found", "task_not_found", "method_not_allowed", "body_too_large", "unavailable", "idempotency_key_reused", "overloaded", "loop_detected", "too_many_webhooks"} {
		if !strings.Contains(codes, code) {
			t.Errorf("the Error code enum lacks %s", code)
		}
	}
}

// TestAPIWebhooks covers the registration routes: Tess-compatible
// creation, listing with the Caddyfile's callbacks, reading, patching,
// deleting, and every error they answer.
func TestAPIWebhooks(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	staticPort := testkit.FreePort(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 50ms
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback http://127.0.0.1:%d/static {
				format cognigy
				ordered
			}
		}
		agent billing {
			reverse_proxy %s
		}
`, agent.Addr(), staticPort, agent.Addr())
	c := newAPIClient(startSite(t, globals, apiRoutes))
	const hooks = "/api/agents/support/webhooks"
	sink := "http://127.0.0.1:9/results"

	// Tess-compatible creation.
	start := time.Now().Add(-time.Second)
	resp, b := c.call(http.MethodPost, hooks, fmt.Sprintf(`{"url":%q,"method":"POST","status":"active"}`, sink), apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var created webhookJSON
	jsonBody(t, b, &created)
	if !strings.HasPrefix(created.ID, "wh_") || created.AgentID != "support" || created.URL != sink || created.Method != "POST" ||
		created.Status != "active" || created.Format != "raw" || created.Ordered || created.Source != "api" ||
		created.CreatedAt.Before(start) || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Fatalf("created %s", b)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secret) < 30 {
		t.Fatalf("secret %q: want a Standard Webhooks whsec_ secret", created.Secret)
	}
	if loc := resp.Header.Get("Location"); loc != hooks+"/"+created.ID {
		t.Fatalf("Location %q", loc)
	}
	secrets := []string{apiKey, created.Secret, strings.TrimPrefix(created.Secret, "whsec_")}

	// The secret is shown once.
	resp, b = c.get(hooks + "/" + created.ID)
	wantStatus(t, resp, b, http.StatusOK, "")
	var got webhookJSON
	jsonBody(t, b, &got)
	if strings.Contains(string(b), created.Secret) || got.Secret != "" || got.ID != created.ID || got.URL != sink || got.Status != "active" ||
		!got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("GET %s", b)
	}

	// Defaults: status active, method POST, format raw; options.
	resp, b = c.call(http.MethodPost, hooks, `{"url":"http://127.0.0.1:9/defaults"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var defaults webhookJSON
	jsonBody(t, b, &defaults)
	if defaults.Status != "active" || defaults.Method != "POST" || defaults.Format != "raw" || defaults.Ordered || defaults.Secret == created.Secret {
		t.Fatalf("defaults %s", b)
	}
	secrets = append(secrets, defaults.Secret)
	resp, b = c.call(http.MethodPost, hooks+"/", `{"url":"http://127.0.0.1:9/cognigy","method":"put","status":"inactive","format":"cognigy","ordered":true}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var opts webhookJSON
	jsonBody(t, b, &opts)
	if opts.Method != "PUT" || opts.Status != "inactive" || opts.Format != "cognigy" || !opts.Ordered {
		t.Fatalf("options %s", b)
	}
	secrets = append(secrets, opts.Secret)

	// Another agent's registration.
	resp, b = c.call(http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/billing"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var billing webhookJSON
	jsonBody(t, b, &billing)
	secrets = append(secrets, billing.Secret)

	// The list: the Caddyfile's callback first (its URL as scheme and host
	// only: a path or query may hold a secret), then the registrations.
	resp, b = c.get(hooks)
	wantStatus(t, resp, b, http.StatusOK, "")
	var list struct{ Data []webhookJSON }
	jsonBody(t, b, &list)
	if len(list.Data) != 4 {
		t.Fatalf("list %s", b)
	}
	static := list.Data[0]
	if static.ID != "cfg-support-1" || static.Source != "config" || static.AgentID != "support" || static.Status != "active" ||
		static.Format != "cognigy" || !static.Ordered || static.Method != "POST" || static.URL != fmt.Sprintf("http://127.0.0.1:%d", staticPort) {
		t.Fatalf("static callback %+v", static)
	}
	if !static.CreatedAt.IsZero() || !static.UpdatedAt.IsZero() {
		t.Errorf("a static callback shows created_at/updated_at %s; it has none", static.CreatedAt.Format(time.RFC3339))
	}
	ids := map[string]bool{}
	for _, w := range list.Data {
		ids[w.ID] = true
		if w.Secret != "" {
			t.Fatalf("the list shows a secret: %s", b)
		}
	}
	if !ids[created.ID] || !ids[defaults.ID] || !ids[opts.ID] || ids[billing.ID] {
		t.Fatalf("list ids %v", ids)
	}
	for _, s := range secrets[1:] {
		if strings.Contains(string(b), s) {
			t.Fatal("the list leaks a secret")
		}
	}
	resp, b = c.get("/api/agents/billing/webhooks")
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &list)
	if len(list.Data) != 1 || list.Data[0].ID != billing.ID {
		t.Fatalf("billing list %s", b)
	}

	// GET of the static callback.
	resp, b = c.get(hooks + "/cfg-support-1")
	wantStatus(t, resp, b, http.StatusOK, "")

	// PATCH: url, status inactive then active, format, ordered.
	time.Sleep(5 * time.Millisecond)
	one := hooks + "/" + created.ID
	resp, b = c.call(http.MethodPatch, one, `{"url":"http://127.0.0.1:9/moved","status":"inactive"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var patched webhookJSON
	jsonBody(t, b, &patched)
	if patched.URL != "http://127.0.0.1:9/moved" || patched.Status != "inactive" || !patched.UpdatedAt.After(created.UpdatedAt) ||
		!patched.CreatedAt.Equal(created.CreatedAt) || patched.Format != "raw" || patched.Secret != "" {
		t.Fatalf("patched %s", b)
	}
	resp, b = c.call(http.MethodPatch, one, `{"status":"active","format":"cognigy","ordered":true,"method":"PUT"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &patched)
	if patched.Status != "active" || patched.Format != "cognigy" || !patched.Ordered || patched.Method != "PUT" || patched.URL != "http://127.0.0.1:9/moved" {
		t.Fatalf("patched %s", b)
	}
	resp, b = c.get(one)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &got)
	if got.Status != "active" || got.Format != "cognigy" || got.URL != "http://127.0.0.1:9/moved" {
		t.Fatalf("after PATCH, GET %s", b)
	}

	// 400s on creation.
	badCreates := []struct{ body, code, says string }{
		{`{"url":"ftp://127.0.0.1/x"}`, "bad_request", "http"},
		{`{"url":"not a url"}`, "bad_request", "url"},
		{`{"url":""}`, "bad_request", "http"},
		{`{"url":"http:///no-host"}`, "bad_request", "host"},
		{`{"url":"http://user:hunter2@127.0.0.1:9/x"}`, "bad_request", "credentials"},
		{`{"url":"http://10.1.2.3/hook"}`, "bad_request", "refused"},
		{`{"url":"http://127.0.0.2/hook"}`, "bad_request", "refused"},
		{`{"url":"http://[::1]:9/hook"}`, "bad_request", "refused"},
		{`{"url":"http://169.254.169.254/latest/meta-data"}`, "bad_request", "refused"},
		{`{"url":"http://127.0.0.1:9/x","method":"GET"}`, "bad_request", "POST or PUT"},
		{`{"url":"http://127.0.0.1:9/x","method":"DELETE"}`, "bad_request", "POST or PUT"},
		{`{"url":"http://127.0.0.1:9/x","status":"paused"}`, "bad_request", "active or inactive"},
		{`{"url":"http://127.0.0.1:9/x","status":"disabled"}`, "bad_request", "active or inactive"},
		{`{"url":"http://127.0.0.1:9/x","format":"xml"}`, "bad_request", "raw or cognigy"},
		{`{"url":"http://127.0.0.1:9/x","topics":["task.succeeded"]}`, "invalid_json", "unknown field"},
		{`{"url":"http://127.0.0.1:9/x",`, "invalid_json", "malformed"},
		{`not json`, "invalid_json", "malformed"},
		{`[]`, "invalid_json", ""},
		{`{"url":5}`, "invalid_json", "url"},
		{`{"url":"http://127.0.0.1:9/x","ordered":"yes"}`, "invalid_json", "ordered"},
		{`{"method":"POST","status":"active"}`, "missing_fields", "url"},
		{`{}`, "missing_fields", "url"},
		{``, "invalid_json", ""},
	}
	for _, bc := range badCreates {
		b := c.wantError(http.MethodPost, hooks, bc.body, apiAuth, http.StatusBadRequest, bc.code)
		if !strings.Contains(string(b), bc.says) {
			t.Errorf("POST %s: the error should say %q: %s", bc.body, bc.says, b)
		}
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("the error echoes the URL's password: %s", b)
		}
	}
	// 400s on PATCH, and nothing changed.
	for _, bc := range []struct{ body, code string }{
		{`{"url":"gopher://127.0.0.1/x"}`, "bad_request"},
		{`{"url":"http://10.0.0.1/x"}`, "bad_request"},
		{`{"method":"GET"}`, "bad_request"},
		{`{"status":"paused"}`, "bad_request"},
		{`{"status":"disabled"}`, "bad_request"},
		{`{"format":"xml"}`, "bad_request"},
		{`{"secret":"whsec_AAAA"}`, "bad_request"}, // rotate-secret changes it
		{`{"status":`, "invalid_json"},
	} {
		c.wantError(http.MethodPatch, one, bc.body, apiAuth, http.StatusBadRequest, bc.code)
	}
	resp, b = c.get(one)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &got)
	if got.Status != "active" || got.Format != "cognigy" || got.URL != "http://127.0.0.1:9/moved" || got.Method != "PUT" {
		t.Fatalf("a refused PATCH changed the registration: %s", b)
	}
	// 413: the API reads at most 64 KiB.
	big := `{"url":"http://127.0.0.1:9/x","pad":"` + strings.Repeat("a", 70<<10) + `"}`
	c.wantError(http.MethodPost, hooks, big, apiAuth, http.StatusRequestEntityTooLarge, "body_too_large")
	c.wantError(http.MethodPatch, one, big, apiAuth, http.StatusRequestEntityTooLarge, "body_too_large")
	// Trailing data after the JSON object.
	resp, b = c.call(http.MethodPost, hooks, `{"url":"http://127.0.0.1:9/trailing"} {"status":"inactive"}`, apiAuth)
	if resp.StatusCode == http.StatusCreated {
		t.Errorf("a body with trailing data after the JSON object is accepted (201)")
		var w webhookJSON
		jsonBody(t, b, &w)
		secrets = append(secrets, w.Secret)
		c.call(http.MethodDelete, hooks+"/"+w.ID, "", apiAuth)
	}

	// The Caddyfile's callback is read-only, except enabling it again.
	for _, body := range []string{`{"url":"http://127.0.0.1:9/x"}`, `{"status":"inactive"}`, `{"format":"raw"}`, `{"ordered":false}`, `{"method":"PUT"}`, `{"status":"active","url":"http://127.0.0.1:9/x"}`, `{}`} {
		b := c.wantError(http.MethodPatch, hooks+"/cfg-support-1", body, apiAuth, http.StatusBadRequest, "bad_request")
		if !strings.Contains(string(b), "Caddyfile") {
			t.Errorf("the 400 should say the callback comes from the Caddyfile: %s", b)
		}
	}
	resp, b = c.call(http.MethodPatch, hooks+"/cfg-support-1", `{"status":"active"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &got)
	if got.Source != "config" || got.Status != "active" {
		t.Fatalf("static PATCH %s", b)
	}
	resp, b = c.call(http.MethodDelete, hooks+"/cfg-support-1", "", apiAuth)
	wantStatus(t, resp, b, http.StatusMethodNotAllowed, "method_not_allowed")
	if !strings.Contains(string(b), "Caddyfile") {
		t.Errorf("the 405 should say where to remove it: %s", b)
	}
	if allow := resp.Header.Get("Allow"); allow != "GET, PATCH" {
		t.Errorf("DELETE of a static callback is a 405 with Allow %q; RFC 9110 requires an Allow header (GET, PATCH)", allow)
	}

	// 404s.
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/agents/nope/webhooks", ""},
		{http.MethodPost, "/api/agents/nope/webhooks", `{"url":"http://127.0.0.1:9/x"}`},
		{http.MethodPut, "/api/agents/nope/webhooks", ""},
		{http.MethodGet, "/api/agents/nope/webhooks/" + created.ID, ""},
		{http.MethodGet, hooks + "/wh_doesnotexist", ""},
		{http.MethodPatch, hooks + "/wh_doesnotexist", `{"status":"active"}`},
		{http.MethodDelete, hooks + "/wh_doesnotexist", ""},
		{http.MethodGet, hooks + "/cfg-support-9", ""},
		{http.MethodGet, hooks + "/" + billing.ID, ""}, // another agent's
		{http.MethodPatch, hooks + "/" + billing.ID, `{"status":"inactive"}`},
		{http.MethodDelete, hooks + "/" + billing.ID, ""},
		{http.MethodGet, "/api/agents/billing/webhooks/" + created.ID, ""},
		{http.MethodGet, "/api/agents/billing/webhooks/cfg-support-1", ""},
		{http.MethodGet, "/api/nope", ""},
		{http.MethodGet, "/api/agents/support", ""},
		{http.MethodGet, hooks + "/" + created.ID + "/extra", ""},
		{http.MethodGet, "/api/agents/support/secrets", ""},
		{http.MethodGet, "/api/deliveries", ""},
		{http.MethodGet, "/api/keys/key_doesnotexist", ""},
	} {
		c.wantError(r.method, r.path, r.body, apiAuth, http.StatusNotFound, "not_found")
	}
	resp, b = c.get("/api/agents/billing/webhooks/" + billing.ID)
	wantStatus(t, resp, b, http.StatusOK, "") // untouched by the calls through support

	// 401s: no key, a wrong key, the key's hash, another scheme; before
	// the route, so unknown routes are 401 too.
	sum := sha256.Sum256([]byte(apiKey))
	hash := hex.EncodeToString(sum[:])
	for _, h := range []map[string]string{
		nil,
		{"Authorization": "Bearer wrong-key"},
		{"Authorization": "Bearer " + hash},
		{"Authorization": "Bearer sha256:" + hash},
		{"Authorization": "Bearer " + apiKey + "x"},
		{"Authorization": "Bearer "},
		{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("api:"+apiKey))},
		{"Authorization": apiKey},
		{"X-Api-Key": apiKey},
	} {
		for _, r := range []struct{ method, path, body string }{
			{http.MethodGet, hooks, ""},
			{http.MethodPost, hooks, `{"url":"http://127.0.0.1:9/x"}`},
			{http.MethodGet, one, ""},
			{http.MethodPatch, one, `{"status":"inactive"}`},
			{http.MethodDelete, one, ""},
			{http.MethodGet, "/api/agents/support/deliveries", ""},
			{http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`},
			{http.MethodGet, "/api/deliveries/msg_x", ""},
			{http.MethodPost, "/api/deliveries/msg_x/retry", ""},
			{http.MethodGet, "/api/tasks/AAAAAAAAAAAAAAAAAAAAAA", ""},
			{http.MethodGet, "/api/nope", ""},
		} {
			c.wantError(r.method, r.path, r.body, h, http.StatusUnauthorized, "unauthorized")
		}
	}
	resp, b = c.get(one)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &got)
	if got.Status != "active" {
		t.Fatal("an unauthenticated PATCH or DELETE changed the registration")
	}
	// The scheme name is case-insensitive (RFC 9110).
	resp, _ = c.call(http.MethodGet, hooks, "", map[string]string{"Authorization": "bearer " + apiKey})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a lower-case \"bearer\" scheme is refused (%d)", resp.StatusCode)
	}

	// 405s with Allow.
	for _, r := range []struct{ method, path, allow string }{
		{http.MethodPut, hooks, "GET, POST"},
		{http.MethodDelete, hooks, "GET, POST"},
		{http.MethodPatch, hooks, "GET, POST"},
		{http.MethodPost, one, "GET, PATCH, DELETE"},
		{http.MethodPut, one, "GET, PATCH, DELETE"},
		{http.MethodPost, "/api/agents/support/deliveries", "GET"},
		{http.MethodDelete, "/api/agents/support/deliveries", "GET"},
		{http.MethodGet, "/api/agents/support/deliveries/recover", "POST"},
		{http.MethodPut, "/api/deliveries/msg_x", "GET"},
		{http.MethodDelete, "/api/deliveries/msg_x", "GET"},
		{http.MethodGet, "/api/deliveries/msg_x/retry", "POST"},
		{http.MethodPost, "/api/tasks/AAAAAAAAAAAAAAAAAAAAAA", "GET"},
		{http.MethodDelete, "/api/tasks/AAAAAAAAAAAAAAAAAAAAAA", "GET"},
	} {
		c.wantError(r.method, r.path, "", apiAuth, http.StatusMethodNotAllowed, "method_not_allowed")
		resp, _ := c.do(r.method, r.path, "", apiAuth)
		if got := resp.Header.Get("Allow"); got != r.allow {
			t.Errorf("%s %s: Allow %q, want %q", r.method, r.path, got, r.allow)
		}
	}
	resp, _ = c.do(http.MethodHead, hooks, "", apiAuth)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD on a GET route of the management API is a %d, not 200", resp.StatusCode)
	}

	// DELETE: 204, then 404, and gone from the list.
	resp, b = c.call(http.MethodDelete, one, "", apiAuth)
	wantStatus(t, resp, b, http.StatusNoContent, "")
	if len(b) != 0 {
		t.Fatalf("204 with a body: %s", b)
	}
	c.wantError(http.MethodGet, one, "", apiAuth, http.StatusNotFound, "not_found")
	c.wantError(http.MethodDelete, one, "", apiAuth, http.StatusNotFound, "not_found")
	c.wantError(http.MethodPatch, one, `{"status":"active"}`, apiAuth, http.StatusNotFound, "not_found")
	resp, b = c.get(hooks)
	wantStatus(t, resp, b, http.StatusOK, "")
	if strings.Contains(string(b), created.ID) {
		t.Fatalf("the deleted registration is still listed: %s", b)
	}

	c.noLeaks(append(secrets, hash, "hunter2")...)
}

// receiverFire is what the broken receiver of TestAPIDeliveries answers.
const receiverFire = "receiver exploded: database on fire"

// webhookIDs lists the webhook-ids of a sink's accepted deliveries.
func webhookIDs(sink *testkit.Sink) []string {
	var ids []string
	for _, a := range sink.Arrivals() {
		ids = append(ids, a.WebhookID)
	}
	return ids
}

// TestAPIDeliveries covers the delivery log (dead letters with their
// attempts, filters, retry, recover), tasks, the status endpoint, the
// DocsGPT 202 answer, and a registration disabled by a 410.
func TestAPIDeliveries(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	sink.FailWith(http.StatusInternalServerError, receiverFire)
	gone := testkit.NewSink(t)
	var goneAway atomic.Bool
	goneAway.Store(true)
	gone.Status = func(int, *http.Request) int {
		if goneAway.Load() {
			return http.StatusGone
		}
		return http.StatusNoContent
	}
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 30ms 30ms
			breaker 100 1s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
			callback %s/hook
		}
		agent gone {
			reverse_proxy %s
			webhook_token tok-gone-1
		}
`, agent.Addr(), sink.URL, agent.Addr())
	c := newAPIClient(startSite(t, globals, apiRoutes))
	const deliveries = "/api/agents/support/deliveries"

	// The DocsGPT answer: 202 {"task_id", "chat_id"} with x-chat-id.
	submit := func(token, body string) (string, string) {
		t.Helper()
		resp, b := c.call(http.MethodPost, "/api/webhooks/agents/"+token, body, nil)
		wantStatus(t, resp, b, http.StatusAccepted, "")
		var a struct {
			TaskID string `json:"task_id"`
			ChatID string `json:"chat_id"`
		}
		jsonBody(t, b, &a)
		if a.TaskID == "" || a.ChatID == "" || resp.Header.Get("X-Chat-Id") != a.ChatID {
			t.Fatalf("202 %s, x-chat-id %q", b, resp.Header.Get("X-Chat-Id"))
		}
		return a.TaskID, a.ChatID
	}
	task, chat := submit("tok-support-1", `{"question":"Your message to agent"}`)
	c.wantError(http.MethodPost, "/api/webhooks/agents/tok-unknown", `{}`, nil, http.StatusNotFound, "not_found")
	c.wantError(http.MethodGet, "/api/webhooks/agents/tok-support-1", "", nil, http.StatusMethodNotAllowed, "method_not_allowed")

	// The status endpoint, both forms, and the API's task route.
	var view taskView
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, b := c.call(http.MethodGet, "/api/task_status?task_id="+task, "", nil)
		wantStatus(t, resp, b, http.StatusOK, "")
		jsonBody(t, b, &view)
		return view.Status == "SUCCESS" || view.Status == "FAILURE"
	}, "task %s did not finish", task)
	if view.Status != "SUCCESS" || view.TaskID != task || view.ChatID != chat || view.BackendStatus != 200 {
		t.Fatalf("status %+v", view)
	}
	resp, b := c.call(http.MethodGet, "/api/task_status/"+task, "", nil)
	wantStatus(t, resp, b, http.StatusOK, "")
	statusBody := string(b)
	resp, b = c.get("/api/tasks/" + task)
	wantStatus(t, resp, b, http.StatusOK, "")
	// The API's detail is the status endpoint's view, and more: the
	// endpoint and the request.
	var fromStatus, fromAPI map[string]any
	jsonBody(t, []byte(statusBody), &fromStatus)
	jsonBody(t, b, &fromAPI)
	for k, v := range fromStatus {
		if fmt.Sprint(fromAPI[k]) != fmt.Sprint(v) {
			t.Fatalf("GET /api/tasks/{id} %s differs from the status endpoint's %s in %s", b, statusBody, k)
		}
	}
	if ep, _ := fromAPI["endpoint"].(string); fromAPI["request"] == nil || !strings.HasPrefix(ep, "token-async") {
		t.Fatalf("GET /api/tasks/{id} without its request or endpoint: %s", b)
	}
	var apiTask struct {
		Agent    string `json:"agent"`
		Attempts int    `json:"attempts"`
	}
	jsonBody(t, b, &apiTask)
	if apiTask.Agent != "support" || apiTask.Attempts != 1 {
		t.Fatalf("task %s", b)
	}
	for _, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "nope", strings.Repeat("a", 100), "a.b"} {
		c.wantError(http.MethodGet, "/api/task_status?task_id="+id, "", nil, http.StatusNotFound, "task_not_found")
		c.wantError(http.MethodGet, "/api/task_status/"+id, "", nil, http.StatusNotFound, "task_not_found")
	}
	c.wantError(http.MethodGet, "/api/task_status", "", nil, http.StatusNotFound, "task_not_found")
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		c.wantError(m, "/api/task_status?task_id="+task, "", nil, http.StatusMethodNotAllowed, "method_not_allowed")
		c.wantError(m, "/api/task_status/"+task, "", nil, http.StatusMethodNotAllowed, "method_not_allowed")
	}
	resp, _ = c.do(http.MethodPost, "/api/task_status/"+task, "", nil)
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Fatalf("status Allow %q", allow)
	}
	resp, b = c.get("/api/tasks/AAAAAAAAAAAAAAAAAAAAAA")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown task: %d %s", resp.StatusCode, b)
	}
	if !strings.Contains(string(b), `"task_not_found"`) {
		t.Errorf("GET /api/tasks/{unknown} answers code %s; the status endpoint says task_not_found for the same thing", b)
	}
	for _, id := range []string{"nope", "a.b", strings.Repeat("a", 100)} {
		c.call(http.MethodGet, "/api/tasks/"+id, "", apiAuth)
	}

	// The sink answers 500: 1 + 2 attempts, then a dead letter.
	var failed []deliveryJSON
	testkit.Eventually(t, 15*time.Second, func() bool {
		resp, b := c.get(deliveries + "?status=failed")
		wantStatus(t, resp, b, http.StatusOK, "")
		var l struct{ Data []deliveryJSON }
		jsonBody(t, b, &l)
		failed = l.Data
		return len(failed) == 1
	}, "no dead letter")
	dl := failed[0]
	if !strings.HasPrefix(dl.ID, "dlv_") || !strings.HasPrefix(dl.MessageID, "msg_") || dl.TaskID != task || dl.ChatID != chat || dl.AgentID != "support" || dl.CallbackID != "cfg-support-1" ||
		dl.EventType != "task.succeeded" || dl.Status != "failed" || dl.AttemptCount != 3 || dl.NextAttemptAt != nil ||
		!strings.Contains(dl.LastError, "500") || dl.Attempts != nil || dl.Payload != nil {
		t.Fatalf("dead letter %+v", dl)
	}
	if n := sink.Requests(); n != 3 {
		t.Fatalf("the sink got %d attempts, want 3", n)
	}
	// The same delivery without a filter, with a limit, and not under
	// the other statuses.
	for _, q := range []string{"", "?limit=1", "?status=failed&limit=1000"} {
		resp, b := c.get(deliveries + q)
		wantStatus(t, resp, b, http.StatusOK, "")
		if !strings.Contains(string(b), dl.ID) {
			t.Fatalf("%s: %s", q, b)
		}
	}
	for _, q := range []string{"?status=pending", "?status=delivered"} {
		resp, b := c.get(deliveries + q)
		wantStatus(t, resp, b, http.StatusOK, "")
		if string(b) != "{\"data\":[]}\n" {
			t.Fatalf("%s: %s", q, b)
		}
	}
	resp, b = c.get("/api/agents/gone/deliveries")
	wantStatus(t, resp, b, http.StatusOK, "")
	if string(b) != "{\"data\":[]}\n" {
		t.Fatalf("another agent's deliveries %s", b)
	}

	// One delivery with its attempts and payload.
	resp, b = c.get("/api/deliveries/" + dl.ID)
	wantStatus(t, resp, b, http.StatusOK, "")
	var full deliveryJSON
	jsonBody(t, b, &full)
	if full.ID != dl.ID || full.Status != "failed" || len(full.Attempts) != 3 {
		t.Fatalf("delivery %s", b)
	}
	for i, at := range full.Attempts {
		if at.StatusCode != 500 || at.LatencyMS < 0 || !strings.Contains(at.Error, "500") ||
			!strings.Contains(at.Response, "receiver exploded") || at.At.Before(dl.CreatedAt.Add(-time.Second)) {
			t.Fatalf("attempt %d %+v", i, at)
		}
		if i > 0 && at.At.Before(full.Attempts[i-1].At) {
			t.Fatal("attempts are not oldest first")
		}
	}
	var payload struct {
		Type   string `json:"type"`
		TaskID string `json:"task_id"`
		Status string `json:"status"`
	}
	jsonBody(t, full.Payload, &payload)
	if payload.Type != "task.succeeded" || payload.TaskID != task || payload.Status != "SUCCESS" {
		t.Fatalf("payload %s", full.Payload)
	}

	// Bad filters.
	for _, q := range []string{"?status=bogus", "?status=FAILED", "?limit=0", "?limit=1001", "?limit=-1", "?limit=ten", "?limit=1.5"} {
		c.wantError(http.MethodGet, deliveries+q, "", apiAuth, http.StatusBadRequest, "bad_request")
	}
	// 404s.
	c.wantError(http.MethodGet, "/api/agents/nope/deliveries", "", apiAuth, http.StatusNotFound, "not_found")
	c.wantError(http.MethodPost, "/api/agents/nope/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`, apiAuth, http.StatusNotFound, "not_found")
	for _, id := range []string{"msg_doesnotexist", "nope", strings.Repeat("x", 100)} {
		c.wantError(http.MethodGet, "/api/deliveries/"+id, "", apiAuth, http.StatusNotFound, "not_found")
		c.wantError(http.MethodPost, "/api/deliveries/"+id+"/retry", "", apiAuth, http.StatusNotFound, "not_found")
	}

	// Retry: once the sink is fixed, the dead letter arrives, with the
	// same webhook-id.
	sink.Recover()
	resp, b = c.call(http.MethodPost, "/api/deliveries/"+dl.ID+"/retry", "", apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	var retried deliveryJSON
	jsonBody(t, b, &retried)
	if retried.ID != dl.ID || (retried.Status != "pending" && retried.Status != "delivered") {
		t.Fatalf("retry %s", b)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(webhookIDs(sink)) == 1 }, "the retried delivery did not arrive")
	if got := webhookIDs(sink)[0]; got != dl.MessageID {
		t.Fatalf("webhook-id %q, want the delivery's message id %q", got, dl.MessageID)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, b := c.get("/api/deliveries/" + dl.ID)
		jsonBody(t, b, &full)
		return resp.StatusCode == 200 && full.Status == "delivered"
	}, "the delivery is not marked delivered")
	if len(full.Attempts) != 4 || full.Attempts[3].StatusCode != 204 || full.Attempts[3].Error != "" {
		t.Fatalf("after the retry %+v", full.Attempts)
	}
	// Retrying a delivered delivery sends it again.
	resp, b = c.call(http.MethodPost, "/api/deliveries/"+dl.ID+"/retry", "", apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	testkit.Eventually(t, 10*time.Second, func() bool { return len(webhookIDs(sink)) == 2 }, "a delivered delivery was not sent again")

	// Recover: two more dead letters.
	sink.FailWith(http.StatusInternalServerError, receiverFire)
	before := time.Now().UTC()
	t2, _ := submit("tok-support-1", `{"n":2}`)
	t3, _ := submit("tok-support-1", `{"n":3}`)
	testkit.Eventually(t, 15*time.Second, func() bool {
		resp, b := c.get(deliveries + "?status=failed")
		var l struct{ Data []deliveryJSON }
		jsonBody(t, b, &l)
		return resp.StatusCode == 200 && len(l.Data) == 2
	}, "no new dead letters")
	time.Sleep(10 * time.Millisecond)
	after := time.Now().UTC()
	recoverPath := deliveries + "/recover"
	resp, b = c.call(http.MethodPost, recoverPath, fmt.Sprintf(`{"since":%q}`, after.Format(time.RFC3339Nano)), apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	if string(b) != "{\"recovered\":0}\n" {
		t.Fatalf("recover since after the failures: %s", b)
	}
	// Bad recover bodies.
	for _, bc := range []struct{ body, code string }{
		{`{}`, "missing_fields"},
		{`{"since":null}`, "missing_fields"},
		{`{"since":"yesterday"}`, "bad_request"},
		{`{"since":"2024-01-02"}`, "bad_request"},
		{`{"since":1700000000}`, "invalid_json"},
		{`{"since":"2020-01-01T00:00:00Z","agent":"support"}`, "invalid_json"},
		{`{"since":`, "invalid_json"},
		{``, "invalid_json"},
	} {
		c.wantError(http.MethodPost, recoverPath, bc.body, apiAuth, http.StatusBadRequest, bc.code)
	}
	c.wantError(http.MethodPost, recoverPath, `{"since":"`+strings.Repeat("9", 70<<10)+`"}`, apiAuth, http.StatusRequestEntityTooLarge, "body_too_large")
	sink.Recover()
	resp, b = c.call(http.MethodPost, recoverPath, fmt.Sprintf(`{"since":%q}`, before.Format(time.RFC3339)), apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	var rec struct {
		Recovered int `json:"recovered"`
	}
	jsonBody(t, b, &rec)
	if rec.Recovered != 2 {
		t.Fatalf("recovered %s, want 2", b)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(webhookIDs(sink)) == 4 }, "recovered deliveries did not arrive (%d)", len(webhookIDs(sink)))
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, b := c.get(deliveries + "?status=delivered")
		var l struct{ Data []deliveryJSON }
		jsonBody(t, b, &l)
		tasks := map[string]bool{}
		for _, d := range l.Data {
			tasks[d.TaskID] = true
		}
		return resp.StatusCode == 200 && len(l.Data) == 3 && tasks[task] && tasks[t2] && tasks[t3]
	}, "the delivery log does not show three delivered")
	resp, b = c.call(http.MethodPost, recoverPath, `{"since":"2000-01-01T00:00:00Z"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	if string(b) != "{\"recovered\":0}\n" {
		t.Fatalf("nothing left to recover, but %s", b)
	}

	// A registration whose receiver answers 410 is disabled, and PATCH
	// {"status":"active"} enables it again.
	resp, b = c.call(http.MethodPost, "/api/agents/gone/webhooks", fmt.Sprintf(`{"url":%q,"method":"POST","status":"active"}`, gone.URL+"/gone"), apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var reg webhookJSON
	jsonBody(t, b, &reg)
	goneTask, _ := submit("tok-gone-1", `{}`)
	var disabled webhookJSON
	testkit.Eventually(t, 10*time.Second, func() bool {
		resp, b := c.get("/api/agents/gone/webhooks/" + reg.ID)
		jsonBody(t, b, &disabled)
		return resp.StatusCode == 200 && disabled.Status == "disabled"
	}, "a 410 did not disable the registration")
	if !strings.Contains(disabled.DisabledReason, "410") || disabled.UpdatedAt.Before(reg.UpdatedAt) {
		t.Fatalf("disabled %+v", disabled)
	}
	resp, b = c.get("/api/agents/gone/webhooks")
	wantStatus(t, resp, b, http.StatusOK, "")
	if !strings.Contains(string(b), `"status":"disabled"`) || !strings.Contains(string(b), `"disabled_reason"`) {
		t.Fatalf("list %s", b)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, b := c.get("/api/agents/gone/deliveries?status=failed")
		var l struct{ Data []deliveryJSON }
		jsonBody(t, b, &l)
		return resp.StatusCode == 200 && len(l.Data) == 1 && l.Data[0].TaskID == goneTask && l.Data[0].AttemptCount == 1
	}, "the 410 delivery is not a dead letter after one attempt")
	// Pausing a disabled registration makes it inactive.
	resp, b = c.call(http.MethodPatch, "/api/agents/gone/webhooks/"+reg.ID, `{"status":"inactive"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var paused webhookJSON
	jsonBody(t, b, &paused)
	if paused.Status != "inactive" {
		t.Fatalf("paused %s", b)
	}
	if paused.DisabledReason != "" {
		t.Errorf("an inactive registration still shows disabled_reason %q", paused.DisabledReason)
	}
	resp, b = c.call(http.MethodPatch, "/api/agents/gone/webhooks/"+reg.ID, `{"status":"active"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var enabled webhookJSON
	jsonBody(t, b, &enabled)
	if enabled.Status != "active" || enabled.DisabledReason != "" {
		t.Fatalf("enabled %s", b)
	}
	if gone.Requests() != 1 {
		t.Fatalf("the 410 receiver got %d requests", gone.Requests())
	}
	// Enabled again, it gets the next result.
	goneAway.Store(false)
	submit("tok-gone-1", `{}`)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(gone.Received()) == 1 }, "the enabled registration got nothing")

	c.noLeaks(apiKey, reg.Secret, strings.TrimPrefix(reg.Secret, "whsec_"), "tok-support-1", "tok-gone-1")
}
