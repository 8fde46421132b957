package endpoint

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
)

// prepareForward turns the caller's request into the backend's: the exact
// body, no caller credentials, no X-Agenthook-* headers, and the chat's
// conversation id.
func (e *Endpoint) prepareForward(r *http.Request, c *call) {
	setBody(r, c.body)
	h := r.Header
	for _, name := range e.StripHeaders {
		h.Del(name)
	}
	// The caller's Idempotency-Key passes: it is the caller's key for
	// the backend. Headers named like agenthook's own do not.
	handler.StripReserved(h)
	h.Del(e.ContinueHeader)
	if ch := c.agent.ConversationHeader; ch != "" {
		// Only agenthook says which conversation this is.
		h.Del(ch)
		if c.chat.ConversationID != "" {
			h.Set(ch, c.chat.ConversationID)
		}
	}
}

// serveSync forwards the request and streams the backend's answer back,
// adding the chat id.
func (e *Endpoint) serveSync(w http.ResponseWriter, r *http.Request, c *call) (string, error) {
	if sh := e.Shapes.For(c.agent.Name, e.Name); sh != nil {
		return e.serveShaped(w, r, c, sh)
	}
	e.prepareForward(r, c)
	if e.Timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), e.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	return e.forward(w, r, c)
}

// forward sends the prepared request to the backend and streams its
// answer back, adding the chat id.
func (e *Endpoint) forward(w http.ResponseWriter, r *http.Request, c *call) (string, error) {
	cw := &chatWriter{ResponseWriter: w}
	cw.beforeHeader = func(status int) { e.attachChat(r, cw.Header(), status, c) }
	return e.forwardTo(cw, cw, r, c)
}

// forwardTo sends the request to the backend, which writes its answer to
// w: cw or a writer in front of it.
func (e *Endpoint) forwardTo(w http.ResponseWriter, cw *chatWriter, r *http.Request, c *call) (string, error) {
	ctx := r.Context()
	start := time.Now()
	err := c.agent.Backend.Forward(w, r)
	e.Metrics.BackendLatency(c.agent.Name, string(ModeSync), time.Since(start))
	if err == nil {
		if cw.status >= 500 {
			return "backend_error", nil
		}
		return "ok", nil
	}
	if cw.wroteHeader {
		// The answer had started; all that is left is to log.
		e.Logger.Warn("backend answer cut short", zap.String("agent", c.agent.Name), zap.String("chat_id", c.chat.ID), zap.Error(err))
		return "backend_error", nil
	}
	return "", backendError(ctx, err)
}

// backendError turns a failed backend call into 502 or 504.
func backendError(ctx context.Context, err error) *handler.Error {
	status := http.StatusBadGateway
	var be *handler.BackendError
	if errors.As(err, &be) && be.Status == http.StatusGatewayTimeout {
		status = http.StatusGatewayTimeout
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &handler.Error{Status: 499, Code: handler.CodeBadRequest, Message: "the request was canceled", Err: err}
	}
	if status == http.StatusGatewayTimeout {
		return &handler.Error{Status: status, Code: handler.CodeGatewayTimeout, Message: "the agent backend did not answer in time", Err: err}
	}
	return &handler.Error{Status: status, Code: handler.CodeBadGateway, Message: "the agent backend could not be reached", Err: err}
}

// attachChat runs just before the backend's status line goes out: it
// saves the chat if needed and adds the chat id header.
func (e *Endpoint) attachChat(r *http.Request, h http.Header, status int, c *call) {
	chat := c.chat
	conv := ""
	if ch := c.agent.ConversationHeader; ch != "" {
		conv = h.Get(ch)
		// The backend's conversation id stays between agenthook and the
		// backend; callers hold the chat id.
		h.Del(ch)
	}
	if c.newChat && status >= 400 {
		// A failed first turn starts nothing.
		return
	}
	now := e.Now()
	changed := conv != "" && conv != chat.ConversationID
	if c.newChat || changed || now.Sub(chat.UpdatedAt) > chatRefresh {
		saved := *chat
		if conv != "" {
			saved.ConversationID = conv
		}
		saved.UpdatedAt = now
		saved.ExpiresAt = now.Add(e.ChatTTL)
		ctx, cancel := handler.WithStoreTimeout(context.WithoutCancel(r.Context()))
		err := e.Store.SaveChat(ctx, &saved)
		cancel()
		if err != nil {
			e.Logger.Error("saving chat", zap.String("agent", c.agent.Name), zap.String("chat_id", chat.ID), handler.StoreErrField(err))
			if c.newChat {
				return // an id that would not resolve is worse than none
			}
		}
	}
	h.Set(e.ChatHeader, chat.ID)
	e.value(r, ValueChatID, chat.ID)
}
