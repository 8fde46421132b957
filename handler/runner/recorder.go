package runner

import (
	"bytes"
	"net/http"

	"github.com/agenthook/agenthook/store"
)

// recorder keeps a backend's answer, up to a limit.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func newRecorder(limit int64) *recorder { return &recorder{header: make(http.Header), limit: limit} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && (status < 100 || status >= 200) {
		w.status = status
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := w.limit - int64(w.body.Len()); int64(len(b)) > room {
		w.overflow = true
		w.body.Write(b[:max(room, 0)])
		return len(b), nil // keep reading, so the connection can be reused
	}
	return w.body.Write(b)
}

// Flush lets streamed answers be collected like any other.
func (w *recorder) Flush() {}

func (w *recorder) result() *store.Result {
	return &store.Result{StatusCode: w.status, ContentType: w.header.Get("Content-Type"), Body: bytes.Clone(w.body.Bytes())}
}

// Interface guards
var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
)
