package api

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

var taskNotFound = handler.Errorf(http.StatusNotFound, handler.CodeTaskNotFound, "no such task")

// task reads a task the request's key sees: the others do not exist for
// it.
func (a *API) task(r *http.Request, id string) (*store.Task, error) {
	if !handler.ValidID(id) {
		return nil, taskNotFound
	}
	t, err := a.Store.GetTask(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !callerOf(r).sees(t.Agent)) {
		return nil, taskNotFound
	}
	if err != nil {
		return nil, handler.StoreError(err)
	}
	return t, nil
}

// TaskDetail is a task as the management API shows it: the status
// endpoint's view, the endpoint that took it, and its request.
type TaskDetail struct {
	handler.TaskView
	Endpoint  string `json:"endpoint,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// Request is what the caller sent; absent for tasks of sensitive
	// endpoints.
	Request *RequestView `json:"request,omitempty"`
}

// RequestView is a task's request. Its path and query are left out (a
// token-routed endpoint has its token in the path, and queries often
// carry keys), and so are the values of headers whose names look like
// they carry a credential.
type RequestView struct {
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the body as text when it is UTF-8, its first
	// maxRequestShown bytes; BodyTruncated says more was left out.
	Body          string `json:"body,omitempty"`
	BodyBytes     int    `json:"body_bytes"`
	BodyBinary    bool   `json:"body_binary,omitempty"`
	BodyTruncated bool   `json:"body_truncated,omitempty"`
	// BodyDropped: the task is final and its store keeps request bodies
	// only until then (Badger does: the body is what a retry needs).
	BodyDropped bool `json:"body_dropped,omitempty"`
}

// maxRequestShown bounds the body a task's detail shows.
const maxRequestShown = 64 << 10

func requestView(t *store.Task) *RequestView {
	if t.Sensitive {
		return nil
	}
	req := t.Request
	v := &RequestView{Method: req.Method, Headers: headersView(req.Header), BodyBytes: len(req.Body)}
	body := req.Body
	v.BodyDropped = len(body) == 0 && t.Status.Final()
	if len(body) > maxRequestShown {
		body, v.BodyTruncated = body[:maxRequestShown], true
		// Do not cut a UTF-8 sequence in two.
		for i := 0; i < utf8.UTFMax-1; i++ {
			if r, size := utf8.DecodeLastRune(body); r != utf8.RuneError || size != 1 {
				break
			}
			body = body[:len(body)-1]
		}
	}
	if utf8.Valid(body) {
		v.Body = string(body)
	} else {
		v.BodyBinary = true
	}
	return v
}

func (a *API) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := a.task(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, TaskDetail{TaskView: handler.ViewOf(t), Endpoint: t.Endpoint,
		Sensitive: t.Sensitive, Request: requestView(t)})
	return nil
}

// listTasks searches tasks, newest first, without their results: by id,
// agent, chat, status and creation time.
func (a *API) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	c := callerOf(r)
	f := store.TaskFilter{Status: store.TaskStatus(q.Get("status")), Agents: c.Agents}
	switch f.Status {
	case "", store.TaskPending, store.TaskStarted, store.TaskSuccess, store.TaskFailure:
	default:
		return badParam("status must be PENDING, STARTED, SUCCESS or FAILURE")
	}
	if name := q.Get("agent"); name != "" {
		// An agent the key does not see is as unknown as one that does
		// not exist; one removed from the config may still have tasks.
		if !c.sees(name) {
			return notFound("no such agent")
		}
		f.Agents = []string{name}
	}
	var err error
	if f.ChatID, err = idParam(q, "chat"); err != nil {
		return err
	}
	if f.Since, f.Until, err = timeRange(q); err != nil {
		return err
	}
	limit, err := pageLimit(q)
	if err != nil {
		return err
	}
	if f.After, err = decodeCursor(listTasks, q.Get("cursor")); err != nil {
		return err
	}
	id, err := idParam(q, "id")
	if err != nil {
		return err
	}
	var ts []*store.Task
	if id != "" {
		// A search by id is a read of that task, filtered like the rest.
		t, err := a.task(r, id)
		if err != nil && !errors.Is(err, taskNotFound) {
			return err
		}
		if t != nil && f.Matches(t) && f.After.Admits(t.CreatedAt, t.ID) {
			ts = []*store.Task{t}
		}
	} else {
		f.Limit = limit + 1 // one more tells whether there is a next page
		if ts, err = a.Store.ListTasks(r.Context(), f); err != nil {
			return handler.StoreError(err)
		}
	}
	out := page[handler.TaskHead]{Data: make([]handler.TaskHead, 0, min(len(ts), limit))}
	for i, t := range ts {
		if i == limit {
			last := ts[i-1]
			out.NextCursor = encodeCursor(listTasks, store.Position{At: last.CreatedAt, ID: last.ID})
			break
		}
		out.Data = append(out.Data, handler.HeadOf(t))
	}
	handler.WriteJSON(w, http.StatusOK, out)
	return nil
}
