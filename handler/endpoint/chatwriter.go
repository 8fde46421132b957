package endpoint

import "net/http"

// chatWriter calls beforeHeader once, right before the status line is
// written, when the backend's headers are known and can still change.
type chatWriter struct {
	http.ResponseWriter
	beforeHeader func(status int)
	wroteHeader  bool
	status       int
}

func (w *chatWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		// Informational answers (103 Early Hints) pass through as they are.
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.wroteHeader, w.status = true, status
	w.beforeHeader(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *chatWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer's other
// features.
func (w *chatWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// FlushError sends what is buffered, so streamed answers (SSE) go out as
// they come; a flush before any write still gets the chat id header.
func (w *chatWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Interface guard
var _ http.ResponseWriter = (*chatWriter)(nil)
