package exchange

import (
	"bytes"
	"net/http"
)

// Recorder keeps a backend's answer, up to a limit, for the answer
// expression to read.
type Recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

// NewRecorder makes a recorder keeping at most limit bytes of body.
func NewRecorder(limit int64) *Recorder { return &Recorder{header: make(http.Header), limit: limit} }

// Header implements http.ResponseWriter.
func (w *Recorder) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter; informational answers are
// skipped.
func (w *Recorder) WriteHeader(status int) {
	if w.status == 0 && (status < 100 || status >= 200) {
		w.status = status
	}
}

// Write implements http.ResponseWriter. Past the limit it keeps reading,
// so the connection can be reused, and marks the answer as overflowing.
func (w *Recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := w.limit - int64(w.body.Len()); int64(len(b)) > room {
		w.overflow = true
		w.body.Write(b[:max(room, 0)])
		return len(b), nil
	}
	return w.body.Write(b)
}

// Flush lets streamed answers be collected like any other.
func (w *Recorder) Flush() {}

// Status is the answer's status, 0 when none came.
func (w *Recorder) Status() int { return w.status }

// Body is the answer's body, up to the limit.
func (w *Recorder) Body() []byte { return w.body.Bytes() }

// Overflow reports whether the answer was longer than the limit.
func (w *Recorder) Overflow() bool { return w.overflow }

// Interface guards
var (
	_ http.ResponseWriter = (*Recorder)(nil)
	_ http.Flusher        = (*Recorder)(nil)
)
