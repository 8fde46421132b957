package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
)

// internalRefusal is what caddymodule's check returns for an internal
// address: the reason names it, for the operator's debug log only.
type internalRefusal struct{}

func (internalRefusal) Error() string {
	return "the callback URL is refused: it points to 10.1.2.3:80, a private address"
}
func (internalRefusal) Unwrap() error { return delivery.ErrRefused }

// TestAPIRefusalSaysOnlyRefused: whatever made a URL refused (an internal
// address, a name that does not resolve, this server itself), the answer
// is one sentence; the reason goes to the debug log without the URL's path
// or query.
func TestAPIRefusalSaysOnlyRefused(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	core, logs := observer.New(zap.DebugLevel)
	f.a.Logger = zap.New(core)
	f.a.CheckURL = func(_ context.Context, u string) error {
		if strings.Contains(u, "syntax") {
			return fmt.Errorf("callback url must start with http:// or https://")
		}
		return internalRefusal{}
	}
	for _, u := range []string{"http://intranet.corp:8080/path?token=SECRET", "http://does-not-resolve.example/x"} {
		rec := f.do(http.MethodPost, "/api/agents/support/webhooks", fmt.Sprintf(`{"url":%q}`, u))
		wantError(t, rec, http.StatusBadRequest, handler.CodeBadRequest)
		var e struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if e.Error != delivery.ErrRefused.Error() {
			t.Errorf("%s: error %q, want only %q", u, e.Error, delivery.ErrRefused)
		}
	}
	for _, entry := range logs.All() {
		for k, v := range entry.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, "SECRET") || strings.Contains(s, "/path") {
				t.Errorf("log %q: %s=%q holds the URL's path or query", entry.Message, k, s)
			}
		}
	}
	if logs.FilterMessage("callback url refused").Len() != 2 {
		t.Errorf("the refusals were not logged at debug")
	}
	// Syntax errors still say what is wrong.
	rec := f.do(http.MethodPost, "/api/agents/support/webhooks", `{"url":"syntax://x"}`)
	wantError(t, rec, http.StatusBadRequest, handler.CodeBadRequest)
	if !strings.Contains(rec.Body.String(), "http://") {
		t.Errorf("a syntax error does not say what is wrong: %s", rec.Body)
	}
}

func TestAPIRegistrationCap(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.MaxRegistrations = 3
	const hooks = "/api/agents/support/webhooks"
	for i := range 3 {
		if rec := f.do(http.MethodPost, hooks, fmt.Sprintf(`{"url":"http://127.0.0.1:9/%d"}`, i)); rec.Code != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := f.do(http.MethodPost, hooks, `{"url":"http://127.0.0.1:9/over"}`)
	wantError(t, rec, http.StatusConflict, handler.CodeTooManyWebhooks)
	// The config's callback does not count, other agents have their own
	// count, and a deleted registration frees its place.
	if rec := f.do(http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/b"}`); rec.Code != http.StatusCreated {
		t.Fatalf("another agent: %d %s", rec.Code, rec.Body)
	}
	var list struct{ Data []WebhookView }
	_ = json.Unmarshal(f.do(http.MethodGet, hooks, "").Body.Bytes(), &list)
	if len(list.Data) != 4 {
		t.Fatalf("%d webhooks listed, want the static one and 3", len(list.Data))
	}
	if rec := f.do(http.MethodDelete, hooks+"/"+list.Data[1].ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	if rec := f.do(http.MethodPost, hooks, `{"url":"http://127.0.0.1:9/again"}`); rec.Code != http.StatusCreated {
		t.Fatalf("after a delete: %d %s", rec.Code, rec.Body)
	}
}

// TestAPIStaticURLOrigin: a static callback's URL is shown as its scheme
// and host only, in lists and reads, while a registration's URL, which its
// registrant chose, is shown whole.
func TestAPIStaticURLOrigin(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.Static["support"][0].URL = "https://hooks.example.com:8443/in/SECRET-PATH?token=SECRET"
	rec := f.do(http.MethodPost, "/api/agents/support/webhooks", `{"url":"http://127.0.0.1:9/mine?k=v"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	for _, target := range []string{"/api/agents/support/webhooks", "/api/agents/support/webhooks/cfg-support-1"} {
		rec := f.do(http.MethodGet, target, "")
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Fatalf("GET %s shows the static callback's path or query: %s", target, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `"url":"https://hooks.example.com:8443"`) {
			t.Fatalf("GET %s: %s", target, rec.Body)
		}
	}
	rec = f.do(http.MethodPatch, "/api/agents/support/webhooks/cfg-support-1", `{"status":"active"}`)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "SECRET") {
		t.Fatalf("PATCH: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodGet, "/api/agents/support/webhooks", ""); !strings.Contains(rec.Body.String(), `"url":"http://127.0.0.1:9/mine?k=v"`) {
		t.Fatalf("a registration's URL is not shown whole: %s", rec.Body)
	}
}
