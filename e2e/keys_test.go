package e2e

// End-to-end tests of API keys: keys limited to some agents or to reading,
// keys minted through the API, and what a delivery attempt keeps of the
// receiver's answer.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

const (
	supportKey = "support-only-key-for-tests"
	viewerKey  = "support-viewer-key-for-tests"
)

var (
	supportAuth = map[string]string{"Authorization": "Bearer " + supportKey}
	viewerAuth  = map[string]string{"Authorization": "Bearer " + viewerKey}
)

// scopedAPIRoutes is apiRoutes with a key limited to support and a
// read-only one limited to support beside the root key.
const scopedAPIRoutes = `
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
		bearer ` + supportKey + ` {
			agents support
		}
		bearer ` + viewerKey + ` {
			agents support
			read_only
		}
	}
`

// chattySink answers 500 with a long text body and headers, one of them
// a cookie the delivery log must not keep.
func chattySink(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Set-Cookie", "session=receiver-cookie-secret")
		w.Header().Set("X-Request-Id", "req-"+r.Header.Get("Webhook-Id"))
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "x"+strings.Repeat("é", 2500)) // 5001 bytes
	}))
	t.Cleanup(s.Close)
	return s
}

// submitToken posts to the DocsGPT-style endpoint of a token.
func (c *apiClient) submitToken(token, body string) (task, chat string) {
	c.t.Helper()
	resp, b := c.call(http.MethodPost, "/api/webhooks/agents/"+token, body, nil)
	wantStatus(c.t, resp, b, http.StatusAccepted, "")
	var a struct {
		TaskID string `json:"task_id"`
		ChatID string `json:"chat_id"`
	}
	jsonBody(c.t, b, &a)
	return a.TaskID, a.ChatID
}

// deadLetter waits for the one dead letter of a task and returns it.
func (c *apiClient) deadLetter(agent, task string) deliveryJSON {
	c.t.Helper()
	var d deliveryJSON
	testkit.Eventually(c.t, 15*time.Second, func() bool {
		resp, b := c.get("/api/agents/" + agent + "/deliveries?status=failed&task=" + task)
		var l struct{ Data []deliveryJSON }
		jsonBody(c.t, b, &l)
		if resp.StatusCode != 200 || len(l.Data) != 1 {
			return false
		}
		d = l.Data[0]
		return true
	}, "no dead letter for task %s of %s", task, agent)
	return d
}

// TestAPIKeyScopes: a key limited to support finds nothing of billing,
// anywhere; a read-only key writes nothing; a minted key lives, works
// within its scope and dies; attempts keep 4 KiB and some headers.
func TestAPIKeyScopes(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := chattySink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 30ms
			breaker 100 1s
			response_excerpt 4KiB
		}
		agent support {
			reverse_proxy %[1]s
			webhook_token tok-support-scoped
			callback %[2]s/support
		}
		agent billing {
			reverse_proxy %[1]s
			webhook_token tok-billing-scoped
			callback %[2]s/billing
		}
`, agent.Addr(), sink.URL)
	c := newAPIClient(startSite(t, globals, scopedAPIRoutes))
	sTask, _ := c.submitToken("tok-support-scoped", `{"q":"support"}`)
	bTask, _ := c.submitToken("tok-billing-scoped", `{"q":"billing"}`)
	sDead, bDead := c.deadLetter("support", sTask), c.deadLetter("billing", bTask)
	resp, b := c.call(http.MethodPost, "/api/agents/billing/webhooks", fmt.Sprintf(`{"url":%q}`, sink.URL+"/b2"), apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var bHook webhookJSON
	jsonBody(t, b, &bHook)

	// Every resource of billing is a 404 to the keys limited to support,
	// whatever the method.
	billing := []struct{ method, path, body, code string }{
		{http.MethodGet, "/api/agents/billing/webhooks", "", "not_found"},
		{http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/x"}`, "not_found"},
		{http.MethodGet, "/api/agents/billing/webhooks/" + bHook.ID, "", "not_found"},
		{http.MethodPatch, "/api/agents/billing/webhooks/" + bHook.ID, `{"status":"inactive"}`, "not_found"},
		{http.MethodDelete, "/api/agents/billing/webhooks/" + bHook.ID, "", "not_found"},
		{http.MethodGet, "/api/agents/billing/webhooks/cfg-billing-1", "", "not_found"},
		{http.MethodGet, "/api/agents/billing/deliveries", "", "not_found"},
		{http.MethodPost, "/api/agents/billing/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`, "not_found"},
		{http.MethodGet, "/api/deliveries/" + bDead.ID, "", "not_found"},
		{http.MethodPost, "/api/deliveries/" + bDead.ID + "/retry", "", "not_found"},
		{http.MethodGet, "/api/tasks/" + bTask, "", "task_not_found"},
		{http.MethodGet, "/api/tasks?agent=billing", "", "not_found"},
	}
	for _, r := range billing {
		// 404 before 403: a read-only key learns nothing of billing.
		for _, h := range []map[string]string{supportAuth, viewerAuth} {
			c.wantError(r.method, r.path, r.body, h, http.StatusNotFound, r.code)
		}
	}
	resp, b = c.get("/api/deliveries/" + bDead.ID)
	var still deliveryJSON
	jsonBody(t, b, &still)
	if resp.StatusCode != 200 || still.Status != "failed" {
		t.Fatalf("billing's dead letter after the support key's retry: %d %s", resp.StatusCode, b)
	}
	resp, b = c.get("/api/agents/billing/webhooks/" + bHook.ID)
	wantStatus(t, resp, b, http.StatusOK, "")
	// What the support keys see of their own agent, and of the listings.
	for _, h := range []map[string]string{supportAuth, viewerAuth} {
		for _, p := range []string{"/api/agents/support/webhooks", "/api/agents/support/webhooks/cfg-support-1",
			"/api/agents/support/deliveries", "/api/deliveries/" + sDead.ID, "/api/tasks/" + sTask} {
			resp, b := c.call(http.MethodGet, p, "", h)
			wantStatus(t, resp, b, http.StatusOK, "")
		}
		resp, b := c.call(http.MethodGet, "/api/agents", "", h)
		wantStatus(t, resp, b, http.StatusOK, "")
		var agents struct{ Data []struct{ ID string } }
		jsonBody(t, b, &agents)
		if len(agents.Data) != 1 || agents.Data[0].ID != "support" {
			t.Fatalf("agents for a support key: %s", b)
		}
		resp, b = c.call(http.MethodGet, "/api/tasks", "", h)
		wantStatus(t, resp, b, http.StatusOK, "")
		if !strings.Contains(string(b), sTask) || strings.Contains(string(b), bTask) {
			t.Fatalf("tasks for a support key: %s", b)
		}
		resp, b = c.call(http.MethodGet, "/api/tasks?id="+bTask, "", h)
		wantStatus(t, resp, b, http.StatusOK, "")
		if string(b) != "{\"data\":[]}\n" {
			t.Fatalf("a search for billing's task by id: %s", b)
		}
		c.wantError(http.MethodGet, "/api/keys", "", h, http.StatusForbidden, "forbidden")
		c.wantError(http.MethodPost, "/api/keys", `{"agents":["support"]}`, h, http.StatusForbidden, "forbidden")
	}
	resp, b = c.get("/api/agents")
	wantStatus(t, resp, b, http.StatusOK, "")
	var all struct{ Data []struct{ ID string } }
	jsonBody(t, b, &all)
	if len(all.Data) != 2 || all.Data[0].ID != "billing" || all.Data[1].ID != "support" {
		t.Fatalf("agents for the root key: %s", b)
	}

	// The read-only key writes nothing of its own agent either.
	resp, b = c.call(http.MethodPost, "/api/agents/support/webhooks", fmt.Sprintf(`{"url":%q}`, sink.URL+"/s2"), supportAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var sHook webhookJSON
	jsonBody(t, b, &sHook)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/agents/support/webhooks", `{"url":"http://127.0.0.1:9/x"}`},
		{http.MethodPatch, "/api/agents/support/webhooks/" + sHook.ID, `{"status":"inactive"}`},
		{http.MethodPatch, "/api/agents/support/webhooks/cfg-support-1", `{"status":"active"}`},
		{http.MethodDelete, "/api/agents/support/webhooks/" + sHook.ID, ""},
		{http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z"}`},
		{http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2020-01-01T00:00:00Z","dry_run":true}`},
		{http.MethodPost, "/api/deliveries/" + sDead.ID + "/retry", ""},
	} {
		c.wantError(r.method, r.path, r.body, viewerAuth, http.StatusForbidden, "forbidden")
	}
	resp, b = c.call(http.MethodGet, "/api/agents/support/webhooks/"+sHook.ID, "", viewerAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var sHookNow webhookJSON
	jsonBody(t, b, &sHookNow)
	if sHookNow.Status != "active" {
		t.Fatalf("a read-only key changed a registration: %s", b)
	}

	// The attempts kept 4 KiB of the answer, less the half of a character
	// the cut left, and its headers but the cookie.
	resp, b = c.call(http.MethodGet, "/api/deliveries/"+sDead.ID, "", viewerAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var full deliveryJSON
	jsonBody(t, b, &full)
	if len(full.Attempts) != 2 {
		t.Fatalf("attempts %s", b)
	}
	for _, a := range full.Attempts {
		if a.StatusCode != 500 || a.Response != "x"+strings.Repeat("é", 2047) || !a.ResponseTruncated || a.ResponseBase64 != "" {
			t.Fatalf("attempt: status %d, %d bytes of answer, truncated %v", a.StatusCode, len(a.Response), a.ResponseTruncated)
		}
		if got := a.ResponseHeaders["X-Request-Id"]; len(got) != 1 || got[0] != "req-"+sDead.MessageID {
			t.Fatalf("headers kept %v", a.ResponseHeaders)
		}
		if a.ResponseHeaders["Content-Type"] == nil || a.ResponseHeaders["Set-Cookie"] != nil {
			t.Fatalf("headers kept %v", a.ResponseHeaders)
		}
	}
	if strings.Contains(string(b), "receiver-cookie-secret") {
		t.Fatal("the delivery log shows the receiver's cookie")
	}

	// A minted key: shown once, works at once within its scope, listed
	// without itself, revoked.
	resp, b = c.call(http.MethodPost, "/api/keys", `{"agents":["billing"],"read_only":true,"name":"Tess user 7"}`, apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var minted struct {
		ID     string   `json:"id"`
		Key    string   `json:"key"`
		Agents []string `json:"agents"`
	}
	jsonBody(t, b, &minted)
	if resp.Header.Get("Location") != "/api/keys/"+minted.ID || !strings.HasPrefix(minted.Key, "ahk_") {
		t.Fatalf("minted %s, Location %q", b, resp.Header.Get("Location"))
	}
	mintedAuth := map[string]string{"Authorization": "Bearer " + minted.Key}
	resp, b = c.call(http.MethodGet, "/api/agents/billing/deliveries", "", mintedAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	if !strings.Contains(string(b), bDead.ID) {
		t.Fatalf("the minted key's billing deliveries: %s", b)
	}
	c.wantError(http.MethodGet, "/api/agents/support/deliveries", "", mintedAuth, http.StatusNotFound, "not_found")
	c.wantError(http.MethodGet, "/api/tasks/"+sTask, "", mintedAuth, http.StatusNotFound, "task_not_found")
	c.wantError(http.MethodPost, "/api/deliveries/"+bDead.ID+"/retry", "", mintedAuth, http.StatusForbidden, "forbidden")
	c.wantError(http.MethodGet, "/api/keys", "", mintedAuth, http.StatusForbidden, "forbidden")
	for _, p := range []string{"/api/keys", "/api/keys/" + minted.ID} {
		resp, b = c.get(p)
		wantStatus(t, resp, b, http.StatusOK, "")
		if !strings.Contains(string(b), minted.ID) || strings.Contains(string(b), minted.Key) || strings.Contains(string(b), minted.Key[4:]) {
			t.Fatalf("GET %s: %s", p, b)
		}
	}
	_, b = c.get("/api/keys")
	if strings.Count(string(b), `"source":"config"`) != 3 || !strings.Contains(string(b), `"name":"Tess user 7"`) {
		t.Fatalf("keys: %s", b)
	}
	c.wantError(http.MethodPost, "/api/keys", `{"agents":["nope"]}`, apiAuth, http.StatusBadRequest, "bad_request")
	c.wantError(http.MethodPost, "/api/keys", `{}`, apiAuth, http.StatusBadRequest, "missing_fields")
	resp, b = c.call(http.MethodDelete, "/api/keys/"+minted.ID, "", apiAuth)
	wantStatus(t, resp, b, http.StatusNoContent, "")
	c.wantError(http.MethodGet, "/api/agents/billing/deliveries", "", mintedAuth, http.StatusUnauthorized, "unauthorized")
	c.wantError(http.MethodDelete, "/api/keys/"+minted.ID, "", apiAuth, http.StatusNotFound, "not_found")

	c.noLeaks(apiKey, supportKey, viewerKey, minted.Key, "receiver-cookie-secret", "tok-support-scoped", "tok-billing-scoped")
}

// logPage is one page of a listing.
type logPage struct {
	Data []struct {
		ID         string    `json:"id"`
		TaskID     string    `json:"task_id"`
		ChatID     string    `json:"chat_id"`
		CallbackID string    `json:"callback_id"`
		Status     string    `json:"status"`
		CreatedAt  time.Time `json:"created_at"`
		UpdatedAt  time.Time `json:"updated_at"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func (c *apiClient) page(path string) logPage {
	c.t.Helper()
	resp, b := c.get(path)
	wantStatus(c.t, resp, b, http.StatusOK, "")
	var p logPage
	jsonBody(c.t, b, &p)
	return p
}

// ids returns the ids of a page (deliveries' ids, tasks' task ids).
func (p logPage) ids() []string {
	var out []string
	for _, d := range p.Data {
		if d.ID != "" {
			out = append(out, d.ID)
		} else {
			out = append(out, d.TaskID)
		}
	}
	return out
}

// TestAPIDeliveryLog: the delivery log pages with cursors that hold while
// deliveries keep arriving, filters on every field, and recover takes a
// range, a callback and a dry run; tasks are searched the same way.
func TestAPIDeliveryLog(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	ok := testkit.NewSink(t)
	broken := testkit.NewSink(t)
	broken.FailWith(http.StatusInternalServerError, receiverFire)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 30ms
			breaker 100 1s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-log
			callback %s/static
		}
`, agent.Addr(), ok.URL)
	c := newAPIClient(startSite(t, globals, apiRoutes))
	const log = "/api/agents/support/deliveries"
	resp, b := c.call(http.MethodPost, "/api/agents/support/webhooks", fmt.Sprintf(`{"url":%q}`, broken.URL+"/registered"), apiAuth)
	wantStatus(t, resp, b, http.StatusCreated, "")
	var reg webhookJSON
	jsonBody(t, b, &reg)

	// Six tasks, two deliveries each: the static callback takes them, the
	// registration dead-letters them.
	var tasks, chats []string
	for i := range 6 {
		task, chat := c.submitToken("tok-support-log", fmt.Sprintf(`{"n":%d}`, i))
		tasks, chats = append(tasks, task), append(chats, chat)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return len(c.page(log+"?status=failed&limit=1000").Data) == 6 && len(c.page(log+"?status=delivered&limit=1000").Data) == 6
	}, "the deliveries did not settle")
	all := c.page(log + "?limit=1000").ids()
	if len(all) != 12 {
		t.Fatalf("the log holds %d deliveries, want 12", len(all))
	}

	// Pages of 5 while more tasks arrive: every delivery there was, once,
	// in the order of the whole list, and none of the new ones.
	first := c.page(log + "?limit=5")
	got := first.ids()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 4 {
			resp, _ := c.do(http.MethodPost, "/api/webhooks/agents/tok-support-log", fmt.Sprintf(`{"late":%d}`, i), nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("a late task: %d", resp.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for cursor := first.NextCursor; cursor != ""; {
		p := c.page(log + "?limit=5&cursor=" + cursor)
		got = append(got, p.ids()...)
		cursor = p.NextCursor
		time.Sleep(30 * time.Millisecond)
	}
	<-done
	if fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("pages while deliveries arrive:\n%v\nwant\n%v", got, all)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return len(c.page(log+"?limit=1000").Data) == 20
	}, "the late tasks' deliveries did not arrive")

	// Each filter.
	count := func(q string) int { return len(c.page(log + "?limit=1000&" + q).Data) }
	for q, want := range map[string]int{
		"callback=cfg-support-1":                  10,
		"callback=" + reg.ID:                      10,
		"task=" + tasks[2]:                        2,
		"chat=" + chats[3]:                        2,
		"status=delivered&task=" + tasks[0]:       1,
		"event_type=task.succeeded":               20,
		"event_type=task.failed":                  0,
		"callback=cfg-support-1&chat=" + chats[1]: 1,
	} {
		if n := count(q); n != want {
			t.Errorf("?%s: %d deliveries, want %d", q, n, want)
		}
	}
	full := c.page(log + "?limit=1000")
	mid := full.Data[9].CreatedAt // the log is newest first
	since, until := mid.Format(time.RFC3339Nano), full.Data[0].CreatedAt.Format(time.RFC3339Nano)
	wantSince, wantUntil, wantRange := 0, 0, 0
	for _, d := range full.Data {
		after, before := !d.CreatedAt.Before(mid), d.CreatedAt.Before(full.Data[0].CreatedAt)
		if after {
			wantSince++
		}
		if before {
			wantUntil++
		}
		if after && before {
			wantRange++
		}
	}
	if n := count("since=" + since); n != wantSince {
		t.Errorf("since: %d, want %d", n, wantSince)
	}
	if n := count("until=" + until); n != wantUntil {
		t.Errorf("until: %d, want %d", n, wantUntil)
	}
	if n := count("since=" + since + "&until=" + until); n != wantRange {
		t.Errorf("since and until: %d, want %d", n, wantRange)
	}
	for _, q := range []string{"?cursor=bogus", "?since=yesterday", "?until=2020-01-01", "?task=a.b", "?event_type=Task!", "?since=" + until + "&until=" + since} {
		c.wantError(http.MethodGet, log+q, "", apiAuth, http.StatusBadRequest, "bad_request")
	}
	// A dead letters' cursor is of another listing.
	failedPage := c.page(log + "?status=failed&limit=1")
	c.wantError(http.MethodGet, log+"?cursor="+failedPage.NextCursor, "", apiAuth, http.StatusBadRequest, "bad_request")

	// Tasks: searched and paged the same way.
	var taskIDs []string
	for cursor := "start"; cursor != ""; {
		q := "/api/tasks?agent=support&limit=3"
		if cursor != "start" {
			q += "&cursor=" + cursor
		}
		p := c.page(q)
		taskIDs = append(taskIDs, p.ids()...)
		cursor = p.NextCursor
	}
	if len(taskIDs) != 10 || taskIDs[9] != tasks[0] {
		t.Fatalf("tasks by pages of 3: %v", taskIDs)
	}
	for q, want := range map[string]int{"chat=" + chats[4]: 1, "status=SUCCESS": 10, "status=PENDING": 0, "id=" + tasks[5]: 1,
		"id=" + tasks[5] + "&status=FAILURE": 0} {
		if n := len(c.page("/api/tasks?" + q).Data); n != want {
			t.Errorf("tasks ?%s: %d, want %d", q, n, want)
		}
	}

	// Recover: a dry run counts; until and callback bound it.
	testkit.Eventually(t, 20*time.Second, func() bool { return count("status=failed") == 10 }, "the late dead letters")
	failed := c.page(log + "?status=failed&limit=1000") // newest failure first
	cut := failed.Data[3].UpdatedAt                     // four failed at or after it
	recoverPath := log + "/recover"
	dry := func(body string) string {
		resp, b := c.call(http.MethodPost, recoverPath, body, apiAuth)
		wantStatus(t, resp, b, http.StatusOK, "")
		return string(b)
	}
	if got := dry(`{"since":"2000-01-01T00:00:00Z","dry_run":true}`); got != "{\"dry_run\":true,\"matched\":10}\n" {
		t.Fatalf("dry run: %s", got)
	}
	if got := dry(`{"since":"2000-01-01T00:00:00Z","callback":"cfg-support-1","dry_run":true}`); got != "{\"dry_run\":true,\"matched\":0}\n" {
		t.Fatalf("dry run of the static callback: %s", got)
	}
	wantBefore := 0
	for _, d := range failed.Data {
		if d.UpdatedAt.Before(cut) {
			wantBefore++
		}
	}
	body := fmt.Sprintf(`{"since":"2000-01-01T00:00:00Z","until":%q,"callback":%q,"dry_run":true}`, cut.Format(time.RFC3339Nano), reg.ID)
	if got := dry(body); got != fmt.Sprintf("{\"dry_run\":true,\"matched\":%d}\n", wantBefore) {
		t.Fatalf("dry run until the fourth newest failure: %s, want %d", got, wantBefore)
	}
	if n := count("status=failed"); n != 10 {
		t.Fatalf("a dry run recovered something: %d dead letters left", n)
	}
	broken.Recover()
	resp, b = c.call(http.MethodPost, recoverPath, strings.Replace(body, `,"dry_run":true`, "", 1), apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	if string(b) != fmt.Sprintf("{\"recovered\":%d}\n", wantBefore) {
		t.Fatalf("recover until the fourth newest failure: %s, want %d", b, wantBefore)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(webhookIDs(broken)) == wantBefore }, "the recovered deliveries did not arrive")
	if n := count("status=failed"); n != 10-wantBefore {
		t.Fatalf("%d dead letters left, want %d", n, 10-wantBefore)
	}
	c.wantError(http.MethodPost, recoverPath, `{"since":"2000-01-01T00:00:00Z","until":"1999-01-01T00:00:00Z"}`, apiAuth, http.StatusBadRequest, "bad_request")
	c.wantError(http.MethodPost, recoverPath, `{"since":"2000-01-01T00:00:00Z","callback":"no such/id"}`, apiAuth, http.StatusBadRequest, "bad_request")
	c.noLeaks(apiKey, reg.Secret, "tok-support-log")
}

// TestAPIKeysAcrossInstances: two instances on one PostgreSQL database. A
// key minted on A works on A at once and on B within the refresh time (2
// seconds); revoked on A, it stops on A at once and on B within that time.
func TestAPIKeysAcrossInstances(t *testing.T) {
	dsn := testkit.Postgres(t)
	agent := testkit.NewAgent(t)
	p := startPair(t, dsn, agentBlock("support", agent.Addr()), apiRoutes)
	a, b := newAPIClient(p.a), newAPIClient(p.b)
	// B reads the minted keys (none yet) before A mints one.
	b.wantError(http.MethodGet, "/api/agents", "", map[string]string{"Authorization": "Bearer ahk_not-a-key"}, http.StatusUnauthorized, "unauthorized")
	resp, body := a.call(http.MethodPost, "/api/keys", `{"agents":["support"],"name":"across"}`, apiAuth)
	wantStatus(t, resp, body, http.StatusCreated, "")
	var minted struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	jsonBody(t, body, &minted)
	auth := map[string]string{"Authorization": "Bearer " + minted.Key}
	mintedAt := time.Now()
	resp, body = a.call(http.MethodGet, "/api/agents/support/webhooks", "", auth)
	wantStatus(t, resp, body, http.StatusOK, "")
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, _ := b.call(http.MethodGet, "/api/agents/support/webhooks", "", auth)
		return resp.StatusCode == http.StatusOK
	}, "the key minted on A does not work on B")
	if d := time.Since(mintedAt); d > 3*time.Second {
		t.Errorf("B took %v to accept a key minted on A; the refresh time is 2s", d)
	}
	resp, body = b.get("/api/keys/" + minted.ID)
	wantStatus(t, resp, body, http.StatusOK, "")

	resp, body = a.call(http.MethodDelete, "/api/keys/"+minted.ID, "", apiAuth)
	wantStatus(t, resp, body, http.StatusNoContent, "")
	revokedAt := time.Now()
	a.wantError(http.MethodGet, "/api/agents/support/webhooks", "", auth, http.StatusUnauthorized, "unauthorized")
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, _ := b.call(http.MethodGet, "/api/agents/support/webhooks", "", auth)
		return resp.StatusCode == http.StatusUnauthorized
	}, "the key revoked on A still works on B")
	if d := time.Since(revokedAt); d > 3*time.Second {
		t.Errorf("B took %v to refuse a key revoked on A; the refresh time is 2s", d)
	}
	b.wantError(http.MethodDelete, "/api/keys/"+minted.ID, "", apiAuth, http.StatusNotFound, "not_found")
	a.noLeaks(apiKey, minted.Key)
}
