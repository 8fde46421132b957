package runner

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// startAttempt starts the span of one backend attempt, a child of the
// task's intake span (see package tracing); a task accepted without
// tracing gets a no-op span.
func startAttempt(ctx context.Context, t *store.Task) (context.Context, trace.Span) {
	return tracing.StartTask(ctx, tracing.SpanBackend, t.Meta,
		tracing.AttrTaskID.String(t.ID), tracing.AttrAgent.String(t.Agent),
		tracing.AttrChatID.String(t.ChatID), tracing.AttrAttempt.Int(t.Attempts))
}

// endAttempt ends it with the backend's status, marking failures.
func endAttempt(span trace.Span, status int, err error) {
	failure := ""
	switch {
	case err != nil || status == 0:
		failure = "the agent backend could not be reached"
	case status >= 400:
		failure = fmt.Sprintf("the agent backend answered %d %s", status, http.StatusText(status))
	}
	tracing.End(span, status, failure)
}
