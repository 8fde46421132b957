package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Stable error codes, part of the HTTP contract. Callers switch on them.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidJSON      = "invalid_json"
	CodeMissingFields    = "missing_fields"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeChatNotFound     = "chat_not_found"
	CodeTaskNotFound     = "task_not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeReplayed         = "replayed"
	CodeIdempotency      = "idempotency_key_reused"
	CodeTooLarge         = "body_too_large"
	CodeOverloaded       = "overloaded"
	CodeUnavailable      = "unavailable"
	CodeBadGateway       = "backend_unavailable"
	CodeGatewayTimeout   = "backend_timeout"
	CodeInternal         = "internal_error"
	// CodeResultTooLarge starts the error of a task whose answer could
	// not be stored with its callback payloads (see store.MaxRecordBytes).
	CodeResultTooLarge  = "result_too_large"
	CodeLoopDetected    = "loop_detected"
	CodeTooManyWebhooks = "too_many_webhooks"
)

// Error is an HTTP error answer: {"error": Message, "code": Code}.
// Message is a human sentence and never holds a secret or a token.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
	// Header holds extra response headers, such as WWW-Authenticate.
	Header http.Header
	// Err is the cause, for logs only; it is never sent.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes err as a JSON error answer. Errors that are not
// *Error become a 500 whose message says nothing about the cause.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	WriteJSON(w, e.Status, struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{e.Message, e.Code})
}

// Unavailable turns a store failure into a 503 that callers retry. The
// cause logs as its category only (see StoreErrField).
func Unavailable(err error) *Error {
	return &Error{
		Status:     http.StatusServiceUnavailable,
		Code:       CodeUnavailable,
		Message:    "storage is unavailable, try again shortly",
		RetryAfter: 1,
		Err:        storeFailure{err},
	}
}

// StoreError maps a store error to an answer. store.ErrNotFound is left
// to the caller, which knows what was not found.
func StoreError(err error) *Error {
	if errors.Is(err, context.Canceled) {
		return &Error{Status: 499, Code: CodeBadRequest, Message: "the request was canceled", Err: storeFailure{err}}
	}
	return Unavailable(err)
}

// WithStoreTimeout bounds a request's wait on the store by StoreTimeout.
func WithStoreTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, StoreTimeout)
}
