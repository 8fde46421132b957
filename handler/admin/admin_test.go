package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/memstore"
	"github.com/agenthook/agenthook/store/storetest"
)

type fixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *storetest.Clock
	st      *memstore.Store
	rt      *Runtime
	a       *Admin
	changed []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: storetest.NewClock(storetest.Start)}
	f.st = handlertest.OpenStore(t, f.clock.Now)
	f.rt = &Runtime{
		Store:  f.st,
		Agents: []string{"alpha", "beta"},
		Static: delivery.Static{
			"alpha": {{ID: "cfg-alpha-0", Agent: "alpha", URL: "https://hooks.example.com/secret/path?token=x", Method: http.MethodPost}},
		},
		Changed: func(id string) { f.changed = append(f.changed, id) },
		Now:     f.clock.Now,
	}
	f.a = &Admin{Runtime: func() (*Runtime, error) { return f.rt, nil }}
	return f
}

func (f *fixture) do(method, path, body string) (int, map[string]any) {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	f.a.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		f.t.Fatalf("%s %s: not JSON: %s", method, path, rec.Body)
	}
	return rec.Code, m
}

// task makes a finished task of agent with deliveries to callback; the
// deliveries fail at once if fail is set.
func (f *fixture) task(agent, callback string, n int, fail bool) (string, []string) {
	f.t.Helper()
	t := &store.Task{ID: handler.NewID(), Agent: agent, ChatID: handler.NewID(), Principal: "p",
		Request: store.Request{Method: http.MethodPost, Path: "/x", Body: []byte(`{"secret":"body"}`)},
		Meta:    map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: t}); err != nil {
		f.t.Fatal(err)
	}
	if _, _, err := f.st.ClaimTasks(f.ctx, store.Claim{Owner: "o", Limit: 10, Lease: time.Hour}); err != nil {
		f.t.Fatal(err)
	}
	var ds []*store.Delivery
	var ids []string
	for range n {
		d := &store.Delivery{ID: "msg_" + handler.NewID(), TaskID: t.ID, Agent: agent, ChatID: t.ChatID, CallbackID: callback,
			EventType: "task.succeeded", Payload: []byte(`{"secret":"payload"}`)}
		ds, ids = append(ds, d), append(ids, d.ID)
	}
	err := f.st.FinishTask(f.ctx, store.TaskFinish{ID: t.ID, Owner: "o", Status: store.TaskSuccess,
		Result: &store.Result{StatusCode: 200, Body: []byte(`{"secret":"result"}`)}, ExpiresAt: f.clock.Now().Add(48 * time.Hour), Deliveries: ds})
	if err != nil {
		f.t.Fatal(err)
	}
	if fail {
		got, _, err := f.st.ClaimDeliveries(f.ctx, store.DeliveryClaim{Owner: "d", Limit: 100, Lease: time.Hour})
		if err != nil {
			f.t.Fatal(err)
		}
		for _, d := range got {
			err := f.st.RecordAttempt(f.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d", Status: store.DeliveryFailed,
				Attempt: store.Attempt{At: f.clock.Now(), StatusCode: 500, Error: "the receiver answered 500", Response: "secret answer"}, ExpiresAt: f.clock.Now().Add(48 * time.Hour)})
			if err != nil {
				f.t.Fatal(err)
			}
		}
	}
	return t.ID, ids
}

func TestAdminStatusAndTasks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	taskID, _ := f.task("alpha", "cfg-alpha-0", 2, true)
	f.clock.Advance(time.Second)
	pending := &store.Task{ID: handler.NewID(), Agent: "beta", ChatID: handler.NewID(), Request: store.Request{Method: "POST", Path: "/"}}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: pending}); err != nil {
		t.Fatal(err)
	}

	code, m := f.do(http.MethodGet, "/agenthook/status", "")
	if code != 200 {
		t.Fatalf("status %d %v", code, m)
	}
	b, _ := json.Marshal(m)
	want := `{"agents":[{"callbacks":{"active":1},"name":"alpha"},{"callbacks":{},"name":"beta"}],"deliveries":{"failed":2,"pending":0},"tasks":{"pending":1,"started":0}}`
	if string(b) != want {
		t.Fatalf("status\n got %s\nwant %s", b, want)
	}
	if code, m = f.do(http.MethodGet, "/agenthook/tasks", ""); code != 200 || m["pending"] != 1.0 || m["started"] != 0.0 {
		t.Fatalf("tasks %d %v", code, m)
	}
	code, m = f.do(http.MethodGet, "/agenthook/tasks/"+taskID, "")
	if code != 200 || m["status"] != "SUCCESS" || m["result_status"] != 200.0 || m["traceparent"] == nil || m["agent"] != "alpha" {
		t.Fatalf("task %d %v", code, m)
	}
	if b, _ := json.Marshal(m); strings.Contains(string(b), "secret") {
		t.Fatalf("the task view shows a body: %s", b)
	}
	if code, m = f.do(http.MethodGet, "/agenthook/tasks/nope", ""); code != 404 || m["code"] != handler.CodeTaskNotFound {
		t.Fatalf("unknown task %d %v", code, m)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/tasks", ""); code != 405 {
		t.Fatalf("POST tasks %d %v", code, m)
	}
	if code, _ = f.do(http.MethodGet, "/agenthook/nothing", ""); code != 404 {
		t.Fatalf("unknown route %d", code)
	}
	f.a.Runtime = func() (*Runtime, error) { return nil, errors.New("no agenthook app in the running config") }
	f.a.mux = nil
	if code, m = f.do(http.MethodGet, "/agenthook/status", ""); code != 503 || !strings.Contains(m["error"].(string), "not running") {
		t.Fatalf("not running: %d %v", code, m)
	}
}

func TestAdminDeadLettersPagingAndRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, ids := f.task("alpha", "cfg-alpha-0", 3, true)
	f.clock.Advance(time.Second)
	_, more := f.task("beta", "wh_x", 2, true)
	ids = append(ids, more...)

	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		path := "/agenthook/deliveries?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, m := f.do(http.MethodGet, path, "")
		if code != 200 {
			t.Fatalf("page %d: %d %v", page, code, m)
		}
		data := m["data"].([]any)
		for _, d := range data {
			d := d.(map[string]any)
			if d["status"] != "failed" || d["last_error"] == nil || d["attempts"] != nil {
				t.Fatalf("list item %v", d)
			}
			seen[d["id"].(string)] = true
		}
		if page == 0 && data[0].(map[string]any)["agent"] != "beta" {
			t.Fatalf("the newest dead letters do not come first: %v", data)
		}
		c, _ := m["next_cursor"].(string)
		if c == "" {
			break
		}
		cursor = c
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d of 5 dead letters", len(seen))
	}
	if code, m := f.do(http.MethodGet, "/agenthook/deliveries?agent=beta&status=failed", ""); code != 200 || len(m["data"].([]any)) != 2 {
		t.Fatalf("by agent %d %v", code, m)
	}
	for _, bad := range []string{"status=lost", "limit=0", "cursor=zz", "agent=nobody", "limit=500&cursor=o600"} {
		if code, _ := f.do(http.MethodGet, "/agenthook/deliveries?"+bad, ""); code != 400 && code != 404 {
			t.Errorf("?%s: %d", bad, code)
		}
	}

	code, m := f.do(http.MethodGet, "/agenthook/deliveries/"+ids[0], "")
	if code != 200 || len(m["attempts"].([]any)) != 1 || m["payload_bytes"] == nil {
		t.Fatalf("delivery %d %v", code, m)
	}
	if b, _ := json.Marshal(m); strings.Contains(string(b), "secret") {
		t.Fatalf("the delivery view shows a body: %s", b)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/deliveries/"+ids[0]+"/retry", ""); code != 202 || m["status"] != "pending" {
		t.Fatalf("retry %d %v", code, m)
	}
	if code, _ = f.do(http.MethodPost, "/agenthook/deliveries/msg_nope/retry", ""); code != 404 {
		t.Fatalf("retry unknown %d", code)
	}
	if p, fl, _ := f.st.DeliveryCounts(f.ctx); p != 1 || fl != 4 {
		t.Fatalf("after a retry: %d pending, %d failed", p, fl)
	}
}

func TestAdminRecover(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.task("alpha", "cfg-alpha-0", 2, true)
	f.clock.Advance(time.Hour)
	mid := f.clock.Now()
	f.task("alpha", "wh_other", 1, true)
	f.task("beta", "wh_b", 3, true)

	// A dry run counts and changes nothing.
	code, m := f.do(http.MethodPost, "/agenthook/recover", `{"dry_run": true}`)
	if code != 200 || m["recovered"] != 6.0 || m["dry_run"] != true {
		t.Fatalf("dry run %d %v", code, m)
	}
	if _, fl, _ := f.st.DeliveryCounts(f.ctx); fl != 6 {
		t.Fatalf("a dry run recovered: %d failed left", fl)
	}
	// until and callback select.
	until := mid.Format(time.RFC3339Nano)
	if code, m = f.do(http.MethodPost, "/agenthook/recover", `{"agent":"alpha","until":"`+until+`","dry_run":true}`); code != 200 || m["recovered"] != 2.0 {
		t.Fatalf("until %d %v", code, m)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/recover", `{"callback":"wh_other"}`); code != 202 || m["recovered"] != 1.0 || m["agents"].(map[string]any)["alpha"] != 1.0 {
		t.Fatalf("by callback %d %v", code, m)
	}
	// since, through the store's own recover.
	if code, m = f.do(http.MethodPost, "/agenthook/recover", `{"since":"`+until+`"}`); code != 202 || m["recovered"] != 3.0 {
		t.Fatalf("since %d %v", code, m)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/recover", ``); code != 202 || m["recovered"] != 2.0 {
		t.Fatalf("everything %d %v", code, m)
	}
	if p, fl, _ := f.st.DeliveryCounts(f.ctx); p != 6 || fl != 0 {
		t.Fatalf("after recovering: %d pending, %d failed", p, fl)
	}
	for _, bad := range []string{`{"since":"yesterday"}`, `{"unknown":1}`, `{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, `{"agent":"nobody"}`} {
		if code, _ := f.do(http.MethodPost, "/agenthook/recover", bad); code != 400 && code != 404 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}

func TestAdminCallbacksOnAndOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reg := &store.Registration{ID: "wh_" + handler.NewID(), Agent: "beta", URL: "https://r.example.com/hook", Method: "POST", Status: "active", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	if err := f.st.CreateRegistration(f.ctx, reg, 0); err != nil {
		t.Fatal(err)
	}
	code, m := f.do(http.MethodGet, "/agenthook/callbacks", "")
	if code != 200 {
		t.Fatalf("%d %v", code, m)
	}
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "secret/path") || strings.Contains(string(b), "whsec_") || !strings.Contains(string(b), `"url":"https://hooks.example.com"`) {
		t.Fatalf("callbacks show a secret: %s", b)
	}

	for _, id := range []string{"cfg-alpha-0", reg.ID} {
		code, m = f.do(http.MethodPost, "/agenthook/callbacks/"+id+"/disable", `{"reason":"receiver migrating"}`)
		if code != 200 || m["status"] != "disabled" || m["reason"] != "receiver migrating" {
			t.Fatalf("disable %s: %d %v", id, code, m)
		}
	}
	got, _ := f.st.GetRegistration(f.ctx, reg.ID)
	if got.Status != "disabled" || got.DisabledReason != "receiver migrating" {
		t.Fatalf("registration after disable: %+v", got)
	}
	if code, m = f.do(http.MethodGet, "/agenthook/status", ""); m["agents"].([]any)[0].(map[string]any)["callbacks"].(map[string]any)["disabled"] != 1.0 {
		t.Fatalf("status after disable: %v", m)
	}
	// The registry skips both now.
	reg2 := &delivery.Registry{Store: f.st, Now: f.clock.Now}
	reg2.Configure(f.rt.Static)
	for _, agent := range []string{"alpha", "beta"} {
		if cbs, err := reg2.Active(f.ctx, agent); err != nil || len(cbs) != 0 {
			t.Fatalf("%s active after disable: %v, %v", agent, cbs, err)
		}
	}
	for _, id := range []string{"cfg-alpha-0", reg.ID} {
		if code, m = f.do(http.MethodPost, "/agenthook/callbacks/"+id+"/enable", ""); code != 200 || m["status"] != "active" || m["reason"] != nil {
			t.Fatalf("enable %s: %d %v", id, code, m)
		}
	}
	if states, _ := f.st.ListCallbackStates(f.ctx); len(states) != 0 {
		t.Fatalf("states left after enabling: %v", states)
	}
	if len(f.changed) != 4 {
		t.Fatalf("changes told: %v", f.changed)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/callbacks/nope/disable", ""); code != 404 {
		t.Fatalf("unknown callback %d %v", code, m)
	}
	if code, m = f.do(http.MethodPost, "/agenthook/callbacks/cfg-alpha-0/disable", ""); code != 200 || m["reason"] != operatorReason {
		t.Fatalf("default reason %d %v", code, m)
	}
}
