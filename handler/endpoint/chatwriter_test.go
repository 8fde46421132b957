package endpoint

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// TestChatWriterInformationalAndFlush runs over a real connection: a
// 103 passes through before the final answer, and Flush through
// http.ResponseController pushes streamed bytes out at once.
func TestChatWriterInformationalAndFlush(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	proceed := make(chan struct{})
	flushErr := make(chan error, 1)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data: one\n\n")
		flushErr <- http.NewResponseController(w).Flush()
		select {
		case <-proceed:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
		return nil
	})
	srv := httptest.NewServer(f.e)
	defer srv.Close()

	var informational []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		informational = append(informational, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, srv.URL+"/p", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := <-flushErr; err != nil {
		t.Fatalf("Flush through the chat writer: %v", err)
	}
	if len(informational) != 1 || informational[0] != http.StatusEarlyHints {
		t.Fatalf("1xx answers seen: %v, want [103]", informational)
	}
	if resp.StatusCode != 200 || resp.Header.Get(DefaultChatHeader) == "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("final answer %d %v", resp.StatusCode, resp.Header)
	}
	// The first event arrives before the backend writes the second.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(proceed)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

// TestChatWriterFlushBeforeHeader: a backend that flushes before writing
// anything still gets the chat id onto its answer: the flush goes
// through chatWriter, which writes the status line with it first.
func TestChatWriterFlushBeforeHeader(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, nil)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "data: one\n\n")
		return nil
	})
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/p", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(DefaultChatHeader) == "" {
		t.Fatal("no x-chat-id on an answer whose backend flushed first")
	}
}

func TestChatWriterUnit(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	calls := 0
	cw := &chatWriter{ResponseWriter: rec}
	cw.beforeHeader = func(status int) {
		calls++
		cw.Header().Set("X-Chat-Id", fmt.Sprint("status-", status))
	}
	cw.WriteHeader(http.StatusContinue)
	if calls != 0 || cw.wroteHeader {
		t.Fatal("a 100 counted as the final status")
	}
	_, _ = cw.Write([]byte("x"))
	cw.WriteHeader(http.StatusTeapot) // too late, ignored
	if calls != 1 || cw.status != 200 || rec.Header().Get("X-Chat-Id") != "status-200" {
		t.Fatalf("calls %d, status %d, header %q", calls, cw.status, rec.Header().Get("X-Chat-Id"))
	}
	if cw.Unwrap() != rec {
		t.Fatal("Unwrap does not return the real writer")
	}
}
