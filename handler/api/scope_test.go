package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

const (
	supportKey  = "support-key"
	readOnlyKey = "support-read-only-key"
	viewerKey   = "viewer-key" // every agent, read-only
)

// withScopedKeys gives the fixture a root key, a key limited to support,
// a read-only key limited to support and a read-only key for every agent.
func (f *apiFixture) withScopedKeys() {
	f.t.Helper()
	kr, err := NewKeyring([]ConfigKey{
		{Token: key},
		{Token: supportKey, Scope: Scope{Agents: []string{"support"}}},
		{Token: readOnlyKey, Scope: Scope{Agents: []string{"support"}, ReadOnly: true}},
		{Token: viewerKey, Scope: Scope{ReadOnly: true}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.a.Keys = kr
}

// doAs sends one request with the given key.
func (f *apiFixture) doAs(token, method, target, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.a.ServeHTTP(rec, req)
	return rec
}

// finished stores a finished task of agent with one failed delivery to
// callback, and returns both ids.
func (f *apiFixture) finished(agent, callback string) (taskID, deliveryID string) {
	f.t.Helper()
	ctx := f.t.Context()
	taskID, deliveryID = handler.NewID(), "msg_"+handler.NewID()
	_, err := f.st.CreateTask(ctx, store.NewTask{Task: &store.Task{ID: taskID, Agent: agent, ChatID: "chat-" + agent,
		Request: store.Request{Method: http.MethodPost, Path: "/x"}}})
	if err != nil {
		f.t.Fatal(err)
	}
	if ts, _, err := f.st.ClaimTasks(ctx, store.Claim{Owner: "w", Agents: []string{agent}, Limit: 1, Lease: time.Minute}); err != nil || len(ts) != 1 {
		f.t.Fatalf("claim: %v %v", ts, err)
	}
	err = f.st.FinishTask(ctx, store.TaskFinish{ID: taskID, Owner: "w", Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 200, Body: []byte(`{}`)}, ExpiresAt: f.a.Now().Add(time.Hour),
		Deliveries: []*store.Delivery{{ID: deliveryID, TaskID: taskID, Agent: agent, ChatID: "chat-" + agent,
			CallbackID: callback, EventType: "task.succeeded", Payload: []byte(`{}`)}}})
	if err != nil {
		f.t.Fatal(err)
	}
	ds, _, err := f.st.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 10, Lease: time.Minute})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, d := range ds {
		err := f.st.RecordAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d", Status: store.DeliveryFailed,
			Attempt: store.Attempt{At: f.a.Now(), StatusCode: 500, Error: "HTTP 500"}, ExpiresAt: f.a.Now().Add(time.Hour)})
		if err != nil {
			f.t.Fatal(err)
		}
	}
	return taskID, deliveryID
}

func TestAPIScopedKeys(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	billingTask, billingDelivery := f.finished("billing", "cb-billing")
	supportTask, supportDelivery := f.finished("support", "cfg-support-1")
	rec := f.doAs(key, http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/b"}`)
	var hook WebhookView
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &hook) != nil {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	billing := []struct{ method, path, body, code string }{
		{http.MethodGet, "/api/agents/billing/webhooks", "", handler.CodeNotFound},
		{http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/c"}`, handler.CodeNotFound},
		{http.MethodGet, "/api/agents/billing/webhooks/" + hook.ID, "", handler.CodeNotFound},
		{http.MethodPatch, "/api/agents/billing/webhooks/" + hook.ID, `{"status":"inactive"}`, handler.CodeNotFound},
		{http.MethodDelete, "/api/agents/billing/webhooks/" + hook.ID, "", handler.CodeNotFound},
		{http.MethodPut, "/api/agents/billing/webhooks", "", handler.CodeNotFound},
		{http.MethodGet, "/api/agents/billing/deliveries", "", handler.CodeNotFound},
		{http.MethodPost, "/api/agents/billing/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`, handler.CodeNotFound},
		{http.MethodGet, "/api/deliveries/" + billingDelivery, "", handler.CodeNotFound},
		{http.MethodGet, "/api/tasks/" + billingTask, "", handler.CodeTaskNotFound},
		{http.MethodGet, "/api/tasks?agent=billing", "", handler.CodeNotFound},
	}
	for _, tok := range []string{supportKey, readOnlyKey} {
		for _, r := range billing {
			wantError(t, f.doAs(tok, r.method, r.path, r.body), http.StatusNotFound, r.code)
		}
	}
	for _, tok := range []string{supportKey, readOnlyKey} {
		wantError(t, f.doAs(tok, http.MethodPost, "/api/deliveries/"+billingDelivery+"/retry", ""), http.StatusNotFound, handler.CodeNotFound)
	}
	if d, _ := f.st.GetDelivery(t.Context(), billingDelivery); d.Status != store.DeliveryFailed {
		t.Fatal("a key limited to support retried a delivery of billing")
	}
	// The same routes of its own agent answer.
	for _, p := range []string{"/api/agents/support/webhooks", "/api/agents/support/deliveries", "/api/deliveries/" + supportDelivery, "/api/tasks/" + supportTask} {
		if rec := f.doAs(supportKey, http.MethodGet, p, ""); rec.Code != http.StatusOK {
			t.Fatalf("GET %s with the support key: %d %s", p, rec.Code, rec.Body)
		}
	}
	// Listings show only what the key sees.
	for tok, want := range map[string]string{supportKey: `[{"id":"support","endpoints":[]}]`, viewerKey: `[{"id":"billing","endpoints":[]},{"id":"support","endpoints":[]}]`} {
		if rec := f.doAs(tok, http.MethodGet, "/api/agents", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("agents with %s: %d %s", tok, rec.Code, rec.Body)
		}
	}
	rec = f.doAs(supportKey, http.MethodGet, "/api/tasks", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), supportTask) || strings.Contains(rec.Body.String(), billingTask) {
		t.Fatalf("tasks with the support key: %d %s", rec.Code, rec.Body)
	}
	rec = f.doAs(supportKey, http.MethodGet, "/api/tasks?id="+billingTask, "")
	if rec.Code != 200 || rec.Body.String() != "{\"data\":[]}\n" {
		t.Fatalf("a search for another agent's task id: %d %s", rec.Code, rec.Body)
	}
	// Keys are for root keys only.
	for _, tok := range []string{supportKey, readOnlyKey, viewerKey} {
		wantError(t, f.doAs(tok, http.MethodGet, "/api/keys", ""), http.StatusForbidden, handler.CodeForbidden)
		wantError(t, f.doAs(tok, http.MethodPost, "/api/keys", `{"agents":["support"]}`), http.StatusForbidden, handler.CodeForbidden)
	}
}

func TestAPIReadOnlyKeys(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	_, delivery := f.finished("support", "cfg-support-1")
	rec := f.doAs(key, http.MethodPost, "/api/agents/support/webhooks", `{"url":"http://127.0.0.1:9/b"}`)
	var hook WebhookView
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &hook) != nil {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	writes := []struct{ method, path, body string }{
		{http.MethodPost, "/api/agents/support/webhooks", `{"url":"http://127.0.0.1:9/c"}`},
		{http.MethodPatch, "/api/agents/support/webhooks/" + hook.ID, `{"status":"inactive"}`},
		{http.MethodPatch, "/api/agents/support/webhooks/cfg-support-1", `{"status":"active"}`},
		{http.MethodDelete, "/api/agents/support/webhooks/" + hook.ID, ""},
		{http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`},
		{http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z","dry_run":true}`},
		{http.MethodPost, "/api/deliveries/" + delivery + "/retry", ""},
	}
	for _, tok := range []string{readOnlyKey, viewerKey} {
		for _, w := range writes {
			wantError(t, f.doAs(tok, w.method, w.path, w.body), http.StatusForbidden, handler.CodeForbidden)
		}
		for _, p := range []string{"/api/agents/support/webhooks/" + hook.ID, "/api/deliveries/" + delivery, "/api/agents/support/deliveries?status=failed"} {
			if rec := f.doAs(tok, http.MethodGet, p, ""); rec.Code != http.StatusOK {
				t.Fatalf("GET %s read-only: %d %s", p, rec.Code, rec.Body)
			}
		}
	}
	if d, _ := f.st.GetDelivery(t.Context(), delivery); d.Status != store.DeliveryFailed {
		t.Fatal("a read-only key retried a delivery")
	}
	if r, err := f.st.GetRegistration(t.Context(), hook.ID); err != nil || r.Status != "active" {
		t.Fatalf("a read-only key changed a registration: %+v %v", r, err)
	}
	// The key that may write does.
	if rec := f.doAs(supportKey, http.MethodPost, "/api/deliveries/"+delivery+"/retry", ""); rec.Code != http.StatusAccepted {
		t.Fatalf("retry with the support key: %d %s", rec.Code, rec.Body)
	}
}
