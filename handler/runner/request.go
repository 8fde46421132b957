package runner

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// backendRequest rebuilds the caller's request for a worker.
func backendRequest(ctx context.Context, t *store.Task, agent *handler.Agent, conv string) (*http.Request, error) {
	host := t.Request.Host
	if host == "" {
		host = "localhost"
	}
	u := &url.URL{Scheme: "http", Host: host, Path: t.Request.Path, RawQuery: t.Request.RawQuery}
	req, err := http.NewRequestWithContext(ctx, t.Request.Method, u.String(), bytes.NewReader(t.Request.Body))
	if err != nil {
		return nil, err
	}
	req.Header = t.Request.Header.Clone()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Host = host
	req.RequestURI = u.RequestURI()
	req.RemoteAddr = t.Request.RemoteAddr
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}
	// Tasks queued before intake stripped them may hold a caller's
	// X-Agenthook-* headers.
	handler.StripReserved(req.Header)
	// The task id is a natural idempotency key: a backend can recognise a
	// re-run after a crash or a lost lease.
	req.Header.Set("Idempotency-Key", t.ID)
	req.Header.Set("X-Agenthook-Task-Id", t.ID)
	if agent.ConversationHeader != "" {
		req.Header.Del(agent.ConversationHeader)
		if conv != "" {
			req.Header.Set(agent.ConversationHeader, conv)
		}
	}
	return req, nil
}
