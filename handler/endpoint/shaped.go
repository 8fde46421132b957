package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

// MaxShapedAnswer bounds a backend answer read for an answer expression;
// a longer one is a 502, as a task's would be a failure.
const MaxShapedAnswer = 4 << 20

// CodeBackendError is the code of a sync call whose adapter backend
// answered with an error (4xx or 5xx): its message is the backend's.
const CodeBackendError = "backend_error"

// CodeBackendAnswer is the code of a sync call whose backend answer could
// not be shaped: cut short, or too large.
const CodeBackendAnswer = "backend_answer_unusable"

// serveShaped is serveSync for an agent with a request or answer
// expression: the caller's body is shaped before it goes, and the
// backend's answer is read whole and shaped before it comes back.
func (e *Endpoint) serveShaped(w http.ResponseWriter, r *http.Request, c *call, sh *exchange.Shaping) (string, error) {
	e.prepareForward(r, c)
	ctx := r.Context()
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	chat := shape.Chat{ID: c.chat.ID, ConversationID: c.chat.ConversationID, New: c.newChat}
	callerType := r.Header.Get("Content-Type")
	stream := false
	if sh.Request != nil {
		env := shape.RequestEnv{
			Chat:    chat,
			Caller:  shape.Caller{ID: c.principal, User: c.identity.User},
			Headers: r.Header,
			Query:   r.URL.Query(),
		}
		if sh.Keeps() && !c.newChat {
			turns, err := e.readHistory(ctx, c)
			if err != nil {
				return "", err
			}
			env.History = turns
		}
		body, err := sh.ShapeRequest(ctx, c.body, r.Header.Get("Content-Type"), env)
		if err != nil {
			return "", e.expressionError(c, err)
		}
		stream = sh.Streams() && wantsEventStream(r)
		if stream {
			if body, err = exchange.StreamBody(body); err != nil {
				return "", &handler.Error{Status: http.StatusBadGateway, Code: shape.CodeFailed, Message: "request expression: " + err.Error()}
			}
		}
		setBody(r, body)
		r.Header.Set("Content-Type", "application/json")
	}
	if sh.Path != "" {
		// The caller's path and query are agenthook's, not the backend's.
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = sh.Path, "", ""
		r.RequestURI = sh.Path
	}
	if stream {
		return e.forwardStream(w, r, c, sh, callerType)
	}
	if !sh.Records() {
		return e.forward(w, r, c)
	}
	// The answer expression reads the body as it is.
	r.Header.Del("Accept-Encoding")
	rec := exchange.NewRecorder(MaxShapedAnswer)
	start := time.Now()
	err := c.agent.Backend.Forward(rec, r)
	e.Metrics.BackendLatency(c.agent.Name, string(ModeSync), time.Since(start))
	switch {
	case err != nil && rec.Status() == 0:
		return "", backendError(ctx, err)
	case err != nil:
		e.Logger.Warn("backend answer cut short", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID), zap.Error(err))
		return "", handler.Errorf(http.StatusBadGateway, CodeBackendAnswer, "the agent backend's answer was cut short")
	case rec.Status() == 0:
		return "", handler.Errorf(http.StatusBadGateway, CodeBackendAnswer, "the agent backend gave no answer")
	case rec.Overflow():
		return "", handler.Errorf(http.StatusBadGateway, CodeBackendAnswer, "the agent backend's answer is larger than %d bytes", MaxShapedAnswer)
	}
	status := rec.Status()
	if apiErr := sh.BackendError(status, rec.Body()); apiErr != nil {
		e.Logger.Warn("backend error", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID), zap.Int("status", status), zap.String("error", apiErr.Error()))
		return "backend_error", &handler.Error{Status: http.StatusBadGateway, Code: CodeBackendError, Message: apiErr.Error()}
	}
	out, err := sh.ShapeAnswer(ctx, status, rec.Header(), rec.Body(), shape.AnswerEnv{Chat: chat})
	if err != nil {
		return "", e.expressionError(c, err)
	}
	// The shaped answer is a new document: of the backend's headers only
	// the conversation id matters, and attachChat takes it.
	h := w.Header()
	contentType := "application/json"
	if sh.Answer == nil {
		contentType = rec.Header().Get("Content-Type")
	}
	if ch := c.agent.ConversationHeader; ch != "" {
		if v := rec.Header().Get(ch); v != "" {
			h.Set(ch, v)
		}
	}
	e.attachChat(r, h, status, c)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Length", fmt.Sprint(len(out)))
	if sh.Keeps() && status/100 == 2 && h.Get(e.ChatHeader) != "" {
		// Before the answer goes out: a caller may send the next turn the
		// moment it has this one, and that turn must see this exchange.
		e.keepTurns(r, c, sh, callerType, out)
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
	if u, ok := sh.Usage(out); ok {
		u.Each(func(kind string, n int64) { e.Metrics.BackendTokens(c.agent.Name, kind, n) })
	}
	if status >= 500 {
		return "backend_error", nil
	}
	return "ok", nil
}

// expressionError is the 502 of a request or answer expression that
// failed: its code and message (which never quote a body) reach the
// caller, and the log.
func (e *Endpoint) expressionError(c *call, err error) error {
	var se *shape.Error
	if !errors.As(err, &se) {
		return &handler.Error{Status: http.StatusBadGateway, Code: shape.CodeFailed, Message: "the expression failed", Err: err}
	}
	e.Logger.Warn("expression failed", zap.String("agent", c.agent.Name), zap.String("endpoint", e.Name),
		zap.String("chat_id", c.chat.ID), zap.String("code", se.Code), zap.String("error", se.Message))
	return &handler.Error{Status: http.StatusBadGateway, Code: se.Code, Message: se.Message}
}

// setBody replaces a request's body.
func setBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// readHistory reads the turns of the call's chat for $history.
func (e *Endpoint) readHistory(ctx context.Context, c *call) ([]history.Turn, error) {
	sctx, cancel := handler.WithStoreTimeout(ctx)
	defer cancel()
	turns, err := e.Store.History(sctx, store.HistoryKey{ChatID: c.chat.ID, Agent: c.agent.Name, Principal: c.principal})
	if errors.Is(err, store.ErrNotFound) {
		// The chat is new to the store (its first turn failed).
		return nil, nil
	}
	if err != nil {
		return nil, handler.StoreError(err)
	}
	return turns, nil
}

// keepTurns adds the exchange to the chat's history. The caller has its
// answer already: a failure here is logged, and the next turn goes
// without this one.
func (e *Endpoint) keepTurns(r *http.Request, c *call, sh *exchange.Shaping, callerType string, answer []byte) {
	ctx, cancel := handler.WithStoreTimeout(context.WithoutCancel(r.Context()))
	defer cancel()
	now := e.Now()
	turns, err := sh.Turns(ctx, c.body, callerType, answer, now)
	if err == nil {
		err = e.Store.AppendHistory(ctx, store.HistoryAppend{
			HistoryKey: store.HistoryKey{ChatID: c.chat.ID, Agent: c.agent.Name, Principal: c.principal},
			Turns:      turns,
			Limits:     sh.History,
			ExpiresAt:  now.Add(e.ChatTTL),
		})
	}
	if err != nil {
		e.Logger.Warn("keeping chat history", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID), zap.String("error", historyErr(err)))
	}
}

// historyErr is what may be logged of a history failure: an expression's
// message (never a body) or a store error's category.
func historyErr(err error) string {
	var se *shape.Error
	if errors.As(err, &se) {
		return se.Error()
	}
	return handler.StoreErrCategory(err)
}

// wantsEventStream reports whether the caller asked for server-sent
// events.
func wantsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// forwardStream passes a streamed answer to the caller as it comes,
// assembling it on the way for the history and the token count. The
// exchange is kept just before the stream's last event ("data: [DONE]")
// goes out, so that a caller sending its next turn the moment the stream
// ends finds it in the history.
func (e *Endpoint) forwardStream(w http.ResponseWriter, r *http.Request, c *call, sh *exchange.Shaping, callerType string) (string, error) {
	// The assembler reads the stream as it is.
	r.Header.Del("Accept-Encoding")
	cw := &chatWriter{ResponseWriter: w}
	cw.beforeHeader = func(status int) { e.attachChat(r, cw.Header(), status, c) }
	kept := false
	keep := func(s adapter.Streamed) {
		if kept || s.Err != nil || !sh.Keeps() || cw.Header().Get(e.ChatHeader) == "" {
			return
		}
		kept = true
		e.keepTurns(r, c, sh, callerType, s.Answer())
	}
	tap := &streamTap{ResponseWriter: cw, asm: adapter.NewAssembler(0)}
	tap.beforeDone = func() { keep(tap.asm.Result()) }
	outcome, err := e.forwardTo(tap, cw, r, c)
	if err != nil || !tap.eventStream || tap.status/100 != 2 {
		return outcome, err
	}
	s := tap.asm.Finish()
	if s.Usage != nil {
		s.Usage.Each(func(kind string, n int64) { e.Metrics.BackendTokens(c.agent.Name, kind, n) })
	}
	switch {
	case s.Err != nil:
		e.Logger.Warn("backend error in its stream", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID), zap.String("error", s.Err.Error()))
		return "backend_error", nil
	case !s.Done:
		e.Logger.Warn("backend stream ended before [DONE]", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID))
		return "backend_error", nil
	}
	// [DONE] came split across writes: keep the exchange now.
	keep(s)
	return outcome, nil
}

// doneEvent starts the last event of an OpenAI stream.
var doneEvent = []byte("data: [DONE]")

// streamTap passes a backend's answer to the caller unchanged, flushed as
// the backend flushes (reverse_proxy flushes event streams at once), and
// feeds an event stream to an Assembler. It calls beforeDone once, right
// before the bytes of "data: [DONE]" go out.
type streamTap struct {
	http.ResponseWriter
	asm         *adapter.Assembler
	beforeDone  func()
	status      int
	eventStream bool
	done        bool
}

func (s *streamTap) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
		mt, _, _ := mime.ParseMediaType(s.Header().Get("Content-Type"))
		s.eventStream = mt == "text/event-stream"
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *streamTap) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if !s.eventStream {
		return s.ResponseWriter.Write(p)
	}
	at := -1
	if !s.done {
		at = bytes.Index(p, doneEvent)
	}
	if at < 0 {
		n, err := s.ResponseWriter.Write(p)
		_, _ = s.asm.Write(p[:n])
		return n, err
	}
	n, err := s.ResponseWriter.Write(p[:at])
	_, _ = s.asm.Write(p[:n])
	if err != nil {
		return n, err
	}
	_, _ = s.asm.Write(p[at:])
	s.done = true
	s.beforeDone()
	m, err := s.ResponseWriter.Write(p[at:])
	return n + m, err
}

// Flush implements http.Flusher.
func (s *streamTap) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the writer underneath.
func (s *streamTap) Unwrap() http.ResponseWriter { return s.ResponseWriter }
