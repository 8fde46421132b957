package endpoint

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// statusStore is what the status endpoint reads.
type statusStore interface {
	GetTask(ctx context.Context, id string) (*store.Task, error)
}

// StatusName is the endpoint part of the principal of status callers.
const StatusName = "status"

// Status answers DocsGPT-style task polls: GET ?task_id=<id>, or GET
// .../<id>. Without auth the task id, 128 random bits, is the capability.
// With auth, a caller sees a task only if the credential that verified the
// poll is one of the credentials of the auth line that created the task.
//
// A result can be megabytes: answers are written from the stored bytes as
// they go (see writeTask), at most MaxReaders at once, and each within
// WriteTimeout, so that slow readers cannot pile results up in memory.
type Status struct {
	Auth Auth
	// KeyIDs returns the KeyIDs behind a task's principal, as the current
	// config has them (see Endpoint.KeyIDs); nil, or none, shows the task
	// to no authenticated caller.
	KeyIDs func(principal string) []string
	Hooks
	Store   statusStore
	Logger  *zap.Logger
	Metrics handler.Metrics
	Now     func() time.Time
	// MaxReaders bounds the polls served at once; more are answered 503
	// overloaded. 0 means DefaultStatusReaders.
	MaxReaders int
	// WriteTimeout bounds the writing of one answer. 0 means
	// DefaultStatusWriteTimeout.
	WriteTimeout time.Duration

	slotsOnce sync.Once
	slots     chan struct{}
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
	if !s.acquire() {
		return &handler.Error{
			Status:     http.StatusServiceUnavailable,
			Code:       handler.CodeOverloaded,
			Message:    "too many task polls are being answered, try again shortly",
			RetryAfter: 1,
		}
	}
	defer s.release()
	var caller *Identity
	if s.Auth.Enabled() {
		id, err := s.Auth.Authenticate(r, nil, s.Now())
		if err != nil {
			return err
		}
		id.bind(StatusName)
		s.identity(r, id)
		caller = &id
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
	if caller != nil && !s.visible(t, caller) {
		return notFound
	}
	s.value(r, ValueAgent, t.Agent)
	s.value(r, ValueChatID, t.ChatID)
	s.value(r, ValueTaskID, t.ID)
	return s.writeTask(w, r, t)
}

// visible reports whether the credential that verified caller is one of
// those behind the task's principal. Comparing credentials, not
// principals, lets one sender poll with a bearer token the tasks it
// created with the same token, while a sender with a key of its own,
// verified by the same status endpoint, sees nothing of them.
func (s *Status) visible(t *store.Task, caller *Identity) bool {
	if caller.KeyID == "" || s.KeyIDs == nil {
		return false
	}
	return slices.Contains(s.KeyIDs(t.Principal), caller.KeyID)
}

// Interface guard
var _ http.Handler = (*Status)(nil)
