package endpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
)

func TestEndpointSyncBackendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		fail    func(ctx context.Context) error
		status  int
		code    string
	}{
		{"unreachable", 0, func(context.Context) error {
			return &handler.BackendError{Status: 502, Err: errors.New("dial tcp 10.1.2.3:8080: connection refused")}
		}, 502, handler.CodeBadGateway},
		{"backend timeout", 0, func(context.Context) error {
			return &handler.BackendError{Status: 504, Err: errors.New("i/o timeout")}
		}, 504, handler.CodeGatewayTimeout},
		{"plain error", 0, func(context.Context) error { return errors.New("upstream exploded at 10.1.2.3") }, 502, handler.CodeBadGateway},
		{"deadline error", 0, func(context.Context) error { return fmt.Errorf("waiting: %w", context.DeadlineExceeded) }, 504, handler.CodeGatewayTimeout},
		{"endpoint timeout", 20 * time.Millisecond, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, 504, handler.CodeGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.Timeout = tt.timeout })
			f.setBackend(func(w http.ResponseWriter, r *http.Request) error { return tt.fail(r.Context()) })
			rec := f.do(http.MethodPost, "/p", "{}")
			wantError(t, rec, tt.status, tt.code)
			if strings.Contains(rec.Body.String(), "10.1.2.3") || rec.Header().Get(DefaultChatHeader) != "" {
				t.Fatalf("answer %s (chat %q) leaks the cause or hands out a chat", rec.Body, rec.Header().Get(DefaultChatHeader))
			}
		})
	}
	// The caller went away: 499, not a backend error.
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error { return r.Context().Err() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, "/p", strings.NewReader("{}")).WithContext(ctx)
	if rec := f.serve(req); rec.Code != 499 {
		t.Fatalf("canceled request: %d", rec.Code)
	}
}

func TestEndpointSyncPassesBackendAnswer(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-From-Backend", "yes")
		w.Header().Set(testConvHeader, "conv-9")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte{0, 1, 2, 0xff})
		return nil
	})
	rec := f.do(http.MethodPost, "/p", "\x00\x01binary")
	if rec.Code != http.StatusCreated || rec.Header().Get("X-From-Backend") != "yes" || !bytes.Equal(rec.Body.Bytes(), []byte{0, 1, 2, 0xff}) {
		t.Fatalf("%d %v %q", rec.Code, rec.Header(), rec.Body.Bytes())
	}
	if rec.Header().Get(testConvHeader) != "" || rec.Header().Get(DefaultChatHeader) == "" {
		t.Fatalf("headers %v", rec.Header())
	}
	if c := f.calls()[0]; string(c.Body) != "\x00\x01binary" || c.Method != http.MethodPost {
		t.Fatalf("backend got %q", c.Body)
	}
}

func TestEndpointSyncCutShort(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		return &handler.BackendError{Status: 502, Err: io.ErrUnexpectedEOF}
	})
	rec := f.do(http.MethodPost, "/p", "{}")
	if rec.Code != 200 || rec.Body.String() != "partial" || rec.Header().Get(DefaultChatHeader) == "" {
		t.Fatalf("cut-short answer: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	if len(f.logs.FilterMessage("backend answer cut short").All()) != 1 {
		t.Fatal("the cut-short answer was not logged")
	}
}
