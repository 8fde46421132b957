package handler

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// Status answers DocsGPT-style task polls: GET ?task_id=<id>, or GET
// .../<id>. Without auth the task id, 128 random bits, is the capability.
// With auth, a caller sees only its own tasks.
type Status struct {
	Auth    Auth
	Store   store.Store
	Logger  *zap.Logger
	Metrics Metrics
	Now     func() time.Time
}

// TaskView is the status answer.
type TaskView struct {
	TaskID        string           `json:"task_id"`
	Status        store.TaskStatus `json:"status"`
	Result        json.RawMessage  `json:"result"`
	BackendStatus int              `json:"backend_status,omitempty"`
	Error         string           `json:"error,omitempty"`
	ChatID        string           `json:"chat_id"`
	Agent         string           `json:"agent"`
	Attempts      int              `json:"attempts"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
}

// ViewOf renders a task for callers. On FAILURE without an answer, the
// result is the error sentence, as DocsGPT reports failures.
func ViewOf(t *store.Task) TaskView {
	v := TaskView{
		TaskID:    t.ID,
		Status:    t.Status,
		Result:    resultJSON(t.Result),
		Error:     t.Error,
		ChatID:    t.ChatID,
		Agent:     t.Agent,
		Attempts:  t.Attempts,
		CreatedAt: t.CreatedAt.UTC(),
		UpdatedAt: t.UpdatedAt.UTC(),
	}
	if t.Result != nil {
		v.BackendStatus = t.Result.StatusCode
	}
	if t.Status == store.TaskFailure && t.Result == nil {
		v.Result, _ = json.Marshal(t.Error)
	}
	if !t.Status.Final() {
		v.Result = json.RawMessage("null")
	}
	return v
}

// ServeHTTP implements http.Handler.
func (s *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.serve(w, r); err != nil {
		var he *Error
		if errors.As(err, &he) && he.Status >= 500 && he.Err != nil {
			s.Logger.Error("status request failed", zap.Error(he.Err))
		}
		WriteError(w, err)
	}
}

func (s *Status) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET")
	}
	principal := ""
	if s.Auth.Enabled() {
		id, err := s.Auth.Authenticate(r.Context(), r, nil, s.Now())
		if err != nil {
			return err
		}
		principal = id.Principal
	}
	id := r.URL.Query().Get("task_id")
	if id == "" {
		id = lastSegment(r.URL.Path)
	}
	notFound := Errorf(http.StatusNotFound, CodeTaskNotFound, "no such task")
	if !validID(id) {
		return notFound
	}
	ctx, cancel := withStoreTimeout(r.Context())
	defer cancel()
	t, err := s.Store.GetTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return storeError(err)
	}
	if principal != "" && t.Principal != principal {
		return notFound
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ViewOf(t))
	return nil
}
