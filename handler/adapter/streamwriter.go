package adapter

import (
	"mime"
	"net/http"
)

// StreamWriter passes a backend's answer to the caller's ResponseWriter
// unchanged, flushed as the backend flushes, and feeds an event-stream
// answer to an Assembler on the way, for the chat history and the token
// metric. Answers of another content type pass through unread.
//
// It implements http.Flusher and Unwrap, so Caddy's reverse_proxy (which
// flushes event streams at once) and http.ResponseController reach the
// connection underneath.
type StreamWriter struct {
	w           http.ResponseWriter
	a           *Assembler
	status      int
	eventStream bool
}

// NewStreamWriter wraps w; a receives the body of an event stream.
func NewStreamWriter(w http.ResponseWriter, a *Assembler) *StreamWriter {
	return &StreamWriter{w: w, a: a}
}

// Header implements http.ResponseWriter.
func (s *StreamWriter) Header() http.Header { return s.w.Header() }

// WriteHeader implements http.ResponseWriter. The content type is read
// here: headers are final once written.
func (s *StreamWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		mt, _, _ := mime.ParseMediaType(s.w.Header().Get("Content-Type"))
		s.eventStream = mt == "text/event-stream"
	}
	s.w.WriteHeader(code)
}

// Write implements http.ResponseWriter: the caller's copy first, then
// the assembler's, so assembling never delays or changes the stream.
func (s *StreamWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	n, err := s.w.Write(p)
	if s.eventStream {
		_, _ = s.a.Write(p[:n])
	}
	return n, err
}

// Flush implements http.Flusher.
func (s *StreamWriter) Flush() { _ = http.NewResponseController(s.w).Flush() }

// Unwrap lets http.ResponseController reach the writer underneath.
func (s *StreamWriter) Unwrap() http.ResponseWriter { return s.w }

// Status is the status written, 0 before any.
func (s *StreamWriter) Status() int { return s.status }

// EventStream reports whether the answer was an event stream, so that
// the Assembler's result means something.
func (s *StreamWriter) EventStream() bool { return s.eventStream }

// Interface guards
var (
	_ http.ResponseWriter = (*StreamWriter)(nil)
	_ http.Flusher        = (*StreamWriter)(nil)
)
