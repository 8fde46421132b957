package endpoint

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// statusStore is what the status endpoint reads.
type statusStore interface {
	GetTask(ctx context.Context, id string) (*store.Task, error)
}

// Status answers DocsGPT-style task polls: GET ?task_id=<id>, or GET
// .../<id>. Without auth the task id, 128 random bits, is the capability.
// With auth, a caller sees only its own tasks.
type Status struct {
	Auth    Auth
	Store   statusStore
	Logger  *zap.Logger
	Metrics handler.Metrics
	Now     func() time.Time
}

// ServeHTTP implements http.Handler.
func (s *Status) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.serve(w, r); err != nil {
		var he *handler.Error
		if errors.As(err, &he) && he.Status >= 500 && he.Err != nil {
			s.Logger.Error("status request failed", zap.Error(he.Err))
		}
		handler.WriteError(w, err)
	}
}

func (s *Status) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "use GET")
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
	notFound := handler.Errorf(http.StatusNotFound, handler.CodeTaskNotFound, "no such task")
	if !handler.ValidID(id) {
		return notFound
	}
	ctx, cancel := handler.WithStoreTimeout(r.Context())
	defer cancel()
	t, err := s.Store.GetTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return handler.StoreError(err)
	}
	if principal != "" && t.Principal != principal {
		return notFound
	}
	w.Header().Set("Cache-Control", "no-store")
	handler.WriteJSON(w, http.StatusOK, handler.ViewOf(t))
	return nil
}

// Interface guard
var _ http.Handler = (*Status)(nil)
