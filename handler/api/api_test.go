package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

const key = "api-key"

type apiFixture struct {
	t       *testing.T
	st      store.Store
	a       *API
	changed []string
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	clock := storetest.NewClock(storetest.Start)
	st := handlertest.OpenStore(t, clock.Now)
	keys, err := RootKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{t: t, st: st}
	reg := &delivery.Registry{Store: st, Now: clock.Now}
	agents := map[string]*handler.Agent{"support": {Name: "support"}, "billing": {Name: "billing"}}
	f.a = &API{
		Keys:     keys,
		Store:    st,
		Registry: reg,
		Agents:   func() map[string]*handler.Agent { return agents },
		Static: delivery.Static{"support": {{ID: "cfg-support-1", Agent: "support", URL: "http://127.0.0.1:9/static",
			Method: http.MethodPost, Format: "cognigy", Ordered: true}}},
		CheckURL: func(_ context.Context, u string) error {
			if !strings.HasPrefix(u, "http://127.0.0.1") {
				return errors.New("not allowed by allow_networks")
			}
			return nil
		},
		Changed: func(id string) { f.changed = append(f.changed, id) },
		Logger:  zap.NewNop(),
		Metrics: handler.NopMetrics{},
		Now:     clock.Now,
	}
	return f
}

// do sends one request with the API key.
func (f *apiFixture) do(method, target, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	f.a.ServeHTTP(rec, req)
	return rec
}

func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	if rec.Code != status || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Code != code || e.Error == "" {
		t.Fatalf("answer %d %s; want %d with code %q", rec.Code, rec.Body, status, code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
}

func TestAPIRoutes(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	const hooks = "/api/agents/support/webhooks"

	// The key comes first, even for routes that do not exist.
	for _, target := range []string{hooks, "/api/nope", "/api/tasks/x"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		rec := httptest.NewRecorder()
		f.a.ServeHTTP(rec, req)
		wantError(t, rec, http.StatusUnauthorized, handler.CodeUnauthorized)
		if rec.Header().Get("Www-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	}

	rec := f.do(http.MethodPost, hooks+"/", `{"url":"http://127.0.0.1:9/x"}`)
	var created WebhookView
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &created) != nil || created.Secret == "" || created.Format != "raw" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != hooks+"/"+created.ID {
		t.Fatalf("Location %q", loc)
	}
	one := hooks + "/" + created.ID

	// 405 with Allow, in a fixed order, for every route.
	for _, r := range []struct{ method, path, allow string }{
		{http.MethodPut, hooks, "GET, POST"},
		{http.MethodDelete, hooks + "/", "GET, POST"},
		{http.MethodPost, one, "GET, PATCH, DELETE"},
		{http.MethodPut, one, "GET, PATCH, DELETE"},
		{http.MethodPost, "/api/agents/support/deliveries", "GET"},
		{http.MethodGet, "/api/agents/support/deliveries/recover", "POST"},
		{http.MethodPut, "/api/deliveries/msg_x", "GET"},
		{http.MethodGet, "/api/deliveries/msg_x/retry", "POST"},
		{http.MethodDelete, "/api/tasks/AAAAAAAAAAAAAAAAAAAAAA", "GET"},
		{http.MethodDelete, hooks + "/cfg-support-1", "GET, PATCH"}, // from the config
	} {
		rec := f.do(r.method, r.path, "")
		wantError(t, rec, http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != r.allow {
			t.Errorf("%s %s: Allow %q, want %q", r.method, r.path, got, r.allow)
		}
	}

	// 404s: unknown routes, and an unknown agent before a wrong method.
	for _, r := range []struct{ method, path, code string }{
		{http.MethodGet, "/api/agents/nope/webhooks", handler.CodeNotFound},
		{http.MethodPut, "/api/agents/nope/webhooks", handler.CodeNotFound},
		{http.MethodPost, "/api/agents/nope/deliveries", handler.CodeNotFound},
		{http.MethodGet, "/api/agents/billing/webhooks/" + created.ID, handler.CodeNotFound},
		{http.MethodGet, hooks + "/wh_nope", handler.CodeNotFound},
		{http.MethodGet, "/api", handler.CodeNotFound},
		{http.MethodGet, "/api/", handler.CodeNotFound},
		{http.MethodGet, "/api/nope", handler.CodeNotFound},
		{http.MethodGet, "/api/agents/support", handler.CodeNotFound},
		{http.MethodGet, one + "/extra", handler.CodeNotFound},
		{http.MethodGet, "/api/agents//webhooks", handler.CodeNotFound},
		{http.MethodGet, "/api/agents/support/../support/webhooks", handler.CodeNotFound},
		{http.MethodGet, "/api/deliveries", handler.CodeNotFound},
		{http.MethodGet, "/api/deliveries/msg_nope", handler.CodeNotFound},
		{http.MethodPost, "/api/deliveries/msg_nope/retry", handler.CodeNotFound},
		{http.MethodGet, "/api/tasks/" + handler.NewID(), handler.CodeTaskNotFound},
	} {
		rec := f.do(r.method, r.path, "")
		if rec.Code == http.StatusMovedPermanently {
			t.Fatalf("%s %s: redirected to %s", r.method, r.path, rec.Header().Get("Location"))
		}
		wantError(t, rec, http.StatusNotFound, r.code)
	}

	// HEAD answers like GET; a trailing slash is ignored.
	if rec := f.do(http.MethodHead, hooks, ""); rec.Code != http.StatusOK {
		t.Fatalf("HEAD: %d", rec.Code)
	}
	rec = f.do(http.MethodGet, hooks+"/", "")
	var list struct{ Data []WebhookView }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Data) != 2 ||
		list.Data[0].Source != "config" || list.Data[0].Format != "cognigy" || list.Data[1].ID != created.ID || list.Data[1].Secret != "" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}

	// PATCH, then DELETE: the dispatcher hears of both.
	if rec := f.do(http.MethodPatch, one+"/", `{"status":"inactive","format":"cognigy"}`); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"inactive"`) {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodPatch, one, `{"format":"xml"}`), http.StatusBadRequest, handler.CodeBadRequest)
	if rec := f.do(http.MethodDelete, one, ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodGet, one, ""), http.StatusNotFound, handler.CodeNotFound)
	if len(f.changed) != 2 || f.changed[0] != created.ID {
		t.Fatalf("Changed told %v", f.changed)
	}

	// The config's callback: enabled again with PATCH, nothing else.
	wantError(t, f.do(http.MethodPatch, hooks+"/cfg-support-1", `{"url":"http://127.0.0.1:9/y"}`), http.StatusBadRequest, handler.CodeBadRequest)
	if rec := f.do(http.MethodPatch, hooks+"/cfg-support-1", `{"status":"active"}`); rec.Code != 200 {
		t.Fatalf("static patch: %d %s", rec.Code, rec.Body)
	}

	// Deliveries.
	wantError(t, f.do(http.MethodGet, "/api/agents/support/deliveries?status=lost", ""), http.StatusBadRequest, handler.CodeBadRequest)
	wantError(t, f.do(http.MethodGet, "/api/agents/support/deliveries?limit=0", ""), http.StatusBadRequest, handler.CodeBadRequest)
	if rec := f.do(http.MethodGet, "/api/agents/support/deliveries?status=failed&limit=5", ""); rec.Code != 200 || rec.Body.String() != "{\"data\":[]}\n" {
		t.Fatalf("deliveries: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodPost, "/api/agents/support/deliveries/recover", `{}`), http.StatusBadRequest, handler.CodeMissingFields)
	if rec := f.do(http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`); rec.Code != http.StatusAccepted {
		t.Fatalf("recover: %d %s", rec.Code, rec.Body)
	}
}

// TestAPIPrefix: another prefix moves every route, and Owns follows it.
func TestAPIPrefix(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.Prefix = "/manage/"
	if !f.a.Owns("/manage") || !f.a.Owns("/manage/agents") || f.a.Owns("/api/agents") || f.a.Owns("/managers") {
		t.Fatal("Owns does not follow the prefix")
	}
	if rec := f.do(http.MethodGet, "/manage/agents/support/webhooks", ""); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodGet, "/api/agents/support/webhooks", ""), http.StatusNotFound, handler.CodeNotFound)
}

// failingStore fails every call, as an unreachable database does.
type failingStore struct{ store.Store }

func (failingStore) GetTask(context.Context, string) (*store.Task, error) {
	return nil, errors.New("connection refused")
}

func TestAPIStoreDown(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.Store = failingStore{f.st}
	rec := f.do(http.MethodGet, "/api/tasks/"+handler.NewID(), "")
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}
