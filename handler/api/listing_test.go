package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func TestCursor(t *testing.T) {
	p := store.Position{At: time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC), ID: "msg_abc-DEF"}
	c := encodeCursor(listDeliveries, p)
	got, err := decodeCursor(listDeliveries, c)
	if err != nil || !got.At.Equal(p.At) || got.ID != p.ID {
		t.Fatalf("decode(encode(%v)) = %v, %v", p, got, err)
	}
	if got, err := decodeCursor(listTasks, ""); got != nil || err != nil {
		t.Fatalf("an empty cursor: %v, %v", got, err)
	}
	for _, bad := range []string{"!!", "bm9wZQ", encodeCursor(listTasks, p), encodeCursor(listDeliveries, store.Position{ID: "a.b"})} {
		if _, err := decodeCursor(listDeliveries, bad); err != errBadCursor {
			t.Errorf("decode(%q) = %v, want the bad cursor error", bad, err)
		}
	}
}

type listJSON struct {
	Data []struct {
		ID     string `json:"id"`
		TaskID string `json:"task_id"`
		Status string `json:"status"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func (f *apiFixture) listPage(path string) listJSON {
	f.t.Helper()
	rec := f.do(http.MethodGet, path, "")
	var l listJSON
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &l) != nil {
		f.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return l
}

// pageAll follows next_cursor from path and returns the ids read.
func (f *apiFixture) pageAll(path string) []string {
	f.t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		l := f.listPage(p)
		for _, d := range l.Data {
			ids = append(ids, d.ID+d.TaskID)
		}
		if l.NextCursor == "" {
			return ids
		}
		cursor = l.NextCursor
	}
	f.t.Fatal("paging did not end")
	return nil
}

func TestAPIDeliveryLog(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	var tasks, deliveries []string
	for range 3 {
		tk, d := f.finished("support", "cfg-support-1")
		tasks, deliveries = append(tasks, tk), append(deliveries, d)
	}
	const log = "/api/agents/support/deliveries?limit=1"
	if got := f.pageAll(log); len(got) != 3 {
		t.Fatalf("pages of 1: %v", got)
	}
	if l := f.listPage("/api/agents/support/deliveries?limit=3"); len(l.Data) != 3 || l.NextCursor != "" {
		t.Fatalf("a page holding everything has a next cursor: %+v", l)
	}
	if l := f.listPage("/api/agents/support/deliveries?task=" + tasks[1]); len(l.Data) != 1 || l.Data[0].ID != deliveries[1] {
		t.Fatalf("by task: %+v", l)
	}
	if l := f.listPage("/api/agents/support/deliveries?callback=cfg-other"); len(l.Data) != 0 {
		t.Fatalf("by another callback: %+v", l)
	}
	// A cursor of dead letters is not one of the whole log.
	l := f.listPage("/api/agents/support/deliveries?status=failed&limit=1")
	wantError(t, f.do(http.MethodGet, "/api/agents/support/deliveries?cursor="+l.NextCursor, ""), http.StatusBadRequest, handler.CodeBadRequest)
	for _, q := range []string{"task=a.b", "chat=" + strings.Repeat("c", 70), "callback=%00", "event_type=Task", "since=yesterday",
		"until=2020-01-01", "since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z", "cursor=nope"} {
		wantError(t, f.do(http.MethodGet, "/api/agents/support/deliveries?"+q, ""), http.StatusBadRequest, handler.CodeBadRequest)
	}

	// Recover: a dry run counts, then the recover itself.
	rec := f.do(http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2000-01-01T00:00:00Z","callback":"cfg-support-1","dry_run":true}`)
	if rec.Code != http.StatusOK || rec.Body.String() != "{\"dry_run\":true,\"matched\":3}\n" {
		t.Fatalf("dry run: %d %s", rec.Code, rec.Body)
	}
	if l := f.listPage("/api/agents/support/deliveries?status=failed"); len(l.Data) != 3 {
		t.Fatalf("a dry run changed the dead letters: %+v", l)
	}
	until := f.a.Now().Format(time.RFC3339)
	rec = f.do(http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2000-01-01T00:00:00Z","until":"`+until+`"}`)
	if rec.Code != http.StatusAccepted || rec.Body.String() != "{\"recovered\":0}\n" {
		t.Fatalf("recover until before the failures: %d %s", rec.Code, rec.Body)
	}
	for _, body := range []string{`{"since":"2000-01-01T00:00:00Z","until":"x"}`, `{"since":"2000-01-01T00:00:00Z","callback":"a b"}`,
		`{"since":"2000-01-01T00:00:00Z","until":"1999-01-01T00:00:00Z"}`} {
		wantError(t, f.do(http.MethodPost, "/api/agents/support/deliveries/recover", body), http.StatusBadRequest, handler.CodeBadRequest)
	}
	wantError(t, f.do(http.MethodPost, "/api/agents/support/deliveries/recover", `{"since":"2000-01-01T00:00:00Z","dry_run":"yes"}`), http.StatusBadRequest, handler.CodeInvalidJSON)
}

func TestAPITaskList(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	s1, _ := f.finished("support", "cfg-support-1")
	b1, _ := f.finished("billing", "cb-billing")
	if got := f.pageAll("/api/tasks?limit=1"); len(got) != 2 {
		t.Fatalf("every task, a page at a time: %v", got)
	}
	for q, want := range map[string]string{
		"agent=billing":                b1,
		"id=" + s1:                     s1,
		"chat=chat-support":            s1,
		"status=SUCCESS&agent=billing": b1,
	} {
		if l := f.listPage("/api/tasks?" + q); len(l.Data) != 1 || l.Data[0].TaskID != want {
			t.Fatalf("%s: %+v", q, l)
		}
	}
	for _, q := range []string{"status=PENDING", "id=" + s1 + "&agent=billing", "id=" + handler.NewID(), "agent=nobody", "until=2000-01-01T00:00:00Z"} {
		if l := f.listPage("/api/tasks?" + q); len(l.Data) != 0 {
			t.Fatalf("%s: %+v", q, l)
		}
	}
	for _, q := range []string{"status=done", "id=a.b", "chat=%20", "limit=0", "cursor=x"} {
		wantError(t, f.do(http.MethodGet, "/api/tasks?"+q, ""), http.StatusBadRequest, handler.CodeBadRequest)
	}
}
