package endpoint

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// acquire takes one of the MaxReaders slots, without waiting: a caller
// told 503 polls again, while a queue of waiting polls would hold memory.
func (s *Status) acquire() bool {
	s.slotsOnce.Do(func() {
		n := s.MaxReaders
		if n <= 0 {
			n = DefaultStatusReaders
		}
		s.slots = make(chan struct{}, n)
	})
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Status) release() { <-s.slots }

// writeTask writes the task's view straight to the connection: the small
// fields, then the result from the stored bytes (base64 encoded on the
// way for binary answers), never the whole answer in a buffer. The write
// has WriteTimeout to finish; a reader too slow for it is cut off, and
// its slot freed.
func (s *Status) writeTask(w http.ResponseWriter, r *http.Request, t *store.Task) error {
	env, err := handler.ViewEnvelope(t)
	if err != nil {
		return err
	}
	timeout := s.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultStatusWriteTimeout
	}
	// Not every ResponseWriter can (httptest's cannot); the answer is the
	// same without.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(env.Len()+1))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = env.WriteTo(w)
	if err == nil {
		_, err = w.Write([]byte("\n"))
	}
	if err != nil {
		// The reader went away or was too slow: nothing to answer.
		s.Logger.Debug("status answer cut short", zap.String("task_id", t.ID), zap.Error(err))
	}
	return nil
}
