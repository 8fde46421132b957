package endpoint

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func binaryTask(size int) (*store.Task, []byte) {
	body := bytes.Repeat([]byte{0xff, 0x00, 0xfe}, size/3)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return &store.Task{ID: handler.NewID(), Agent: "a", ChatID: "c", Status: store.TaskSuccess, Attempts: 1,
		Result: &store.Result{StatusCode: 200, ContentType: "image/x-test", Body: body}, CreatedAt: now, UpdatedAt: now}, body
}

// TestStatusBinaryResult: a binary result is answered as base64 with its
// content type, with an exact Content-Length; HEAD has the headers only.
func TestStatusBinaryResult(t *testing.T) {
	t.Parallel()
	task, body := binaryTask(1 << 20)
	s := &Status{Store: tasks{task.ID: task}, Logger: zap.NewNop(), Metrics: handler.NopMetrics{}, Now: time.Now}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/s/"+task.ID, nil))
	if rec.Code != 200 || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d, Content-Length %q for %d bytes", rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
	}
	var v handler.TaskView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(v.ResultBase64)
	if err != nil || !bytes.Equal(raw, body) || string(v.Result) != "null" || v.ContentType != "image/x-test" || v.TaskID != task.ID || v.BackendStatus != 200 {
		t.Fatalf("view: result %s, type %q, %d attempts, base64: %v", v.Result, v.ContentType, v.Attempts, err)
	}

	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/s/"+task.ID, nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

// TestStatusSlowReaders: readers that do not read hold their slots at
// most WriteTimeout; beyond MaxReaders, polls get 503 with Retry-After.
func TestStatusSlowReaders(t *testing.T) {
	t.Parallel()
	// Over what loopback sockets buffer, so a reader that does not read
	// blocks the write.
	task, _ := binaryTask(24 << 20)
	// A small one, to poll once the slots are free: it can be read within
	// the write timeout however busy the machine.
	small, smallBody := binaryTask(300)
	s := &Status{Store: tasks{task.ID: task, small.ID: small}, Logger: zap.NewNop(), Metrics: handler.NopMetrics{}, Now: time.Now,
		MaxReaders: 2, WriteTimeout: 500 * time.Millisecond}
	srv := httptest.NewServer(s)
	defer srv.Close()

	// The clock starts before the stalled requests are sent: their write
	// deadlines are set after that, so slots freed by the timeout are
	// freed at least WriteTimeout later, however long the setup takes on
	// a busy machine. (Started after the setup, as it was, the check below
	// failed when the setup took over 100 ms.)
	start := time.Now()
	var stalled []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /s/%s HTTP/1.1\r\nHost: x\r\n\r\n", task.ID)
		// Read the status line only, then stall.
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "HTTP/1.1 200 OK\r\n" {
			t.Fatalf("stalled reader: %q, %v", line, err)
		}
		stalled = append(stalled, c)
	}
	resp, err := http.Get(srv.URL + "/s/" + small.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !bytes.Contains(b, []byte(handler.CodeOverloaded)) {
		t.Fatalf("a third reader: %d %s (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	// Once the write timeout cut the stalled readers off, polls are
	// answered again.
	var ok bool
	for time.Since(start) < 10*time.Second {
		resp, err := http.Get(srv.URL + "/s/" + small.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			var v handler.TaskView
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if raw, _ := base64.StdEncoding.DecodeString(v.ResultBase64); !bytes.Equal(raw, smallBody) {
				t.Fatal("the answer after the slots freed up is not the result")
			}
			ok = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Fatal("the slots of readers that stalled were never freed")
	}
	if took := time.Since(start); took < s.WriteTimeout {
		t.Fatalf("slots freed after %v, before the write timeout", took)
	}
	_ = stalled
}
