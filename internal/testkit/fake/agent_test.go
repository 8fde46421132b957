package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestAgentEcho(t *testing.T) {
	t.Parallel()
	a := NewAgent(AgentOptions{})
	srv := httptest.NewServer(a)
	defer srv.Close()
	resp, b := post(t, srv.URL+"/run?x=1", `{"q":1}`)
	conv := resp.Header.Get("X-Conversation-Id")
	if resp.StatusCode != 200 || conv != "conv-1" {
		t.Fatalf("%d, conversation %q", resp.StatusCode, conv)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["answer"] != `echo: {"q":1}` || m["conversation_id"] != "conv-1" || m["turn"] != 1.0 {
		t.Fatalf("answer %s", b)
	}
	_, b = post(t, srv.URL, `again`, "X-Conversation-Id", "conv-1")
	_ = json.Unmarshal(b, &m)
	if m["turn"] != 2.0 || m["answer"] != "echo: again" {
		t.Fatalf("second turn %s", b)
	}
	calls := a.Calls()
	if len(calls) != 2 || calls[0].Path != "/run" || calls[0].Query != "x=1" || string(calls[0].Body) != `{"q":1}` || calls[1].Header.Get("X-Conversation-Id") != "conv-1" {
		t.Fatalf("calls %+v", calls)
	}
	if a.Requests() != 2 {
		t.Fatalf("requests %d", a.Requests())
	}
}

func TestAgentCanned(t *testing.T) {
	t.Parallel()
	a := NewAgent(AgentOptions{Reply: Canned, MaxCalls: -1, Status: 201})
	srv := httptest.NewServer(a)
	defer srv.Close()
	resp, b := post(t, srv.URL, `{"q":1}`, "X-Conversation-Id", "c-7")
	want := `{"answer":"` + CannedAnswer + `","conversation_id":"c-7","data":{"intent":"order_status"}}`
	if resp.StatusCode != 201 || string(b) != want || resp.ContentLength != int64(len(want)) || resp.Header.Get("X-Conversation-Id") != "c-7" {
		t.Fatalf("%d %q (length %d)", resp.StatusCode, b, resp.ContentLength)
	}
	if len(a.Calls()) != 0 || a.Requests() != 1 {
		t.Fatalf("kept %d calls of %d", len(a.Calls()), a.Requests())
	}
}

func TestAgentMaxCallsAndHandle(t *testing.T) {
	t.Parallel()
	a := NewAgent(AgentOptions{MaxCalls: 2})
	a.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write(body)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	for i := 0; i < 3; i++ {
		resp, b := post(t, srv.URL, "hi")
		if resp.StatusCode != http.StatusTeapot || string(b) != "hi" {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	if len(a.Calls()) != 2 || a.Requests() != 3 {
		t.Fatalf("kept %d calls of %d, want 2 of 3", len(a.Calls()), a.Requests())
	}
}

func TestAgentDelay(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewAgent(AgentOptions{Delay: 100 * time.Millisecond}))
	defer srv.Close()
	start := time.Now()
	post(t, srv.URL, "x")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("answered after %s", d)
	}
}

func TestAgentHoldAndControl(t *testing.T) {
	t.Parallel()
	a := NewAgent(AgentOptions{Reply: Canned, Hold: true, Control: true})
	srv := httptest.NewServer(a)
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/run", "application/json", strings.NewReader("{}"))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	stats := func() (n int64, held bool) {
		resp, b := post(t, srv.URL+"/_control/stats", "")
		var s struct {
			Requests int64
			Held     bool
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &s) != nil {
			t.Fatalf("stats: %d %s", resp.StatusCode, b)
		}
		return s.Requests, s.Held
	}
	deadline := time.Now().Add(5 * time.Second)
	for n, held := stats(); n != 1 || !held; n, held = stats() {
		if time.Now().After(deadline) {
			t.Fatalf("requests %d, held %v", n, held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("a held answer went out")
	case <-time.After(50 * time.Millisecond):
	}
	post(t, srv.URL+"/_control/release", "")
	if code := <-done; code != 200 {
		t.Fatalf("released answer %d", code)
	}
	post(t, srv.URL+"/_control/hold", "")
	if !a.Held() {
		t.Fatal("/_control/hold did not hold")
	}
	if resp, _ := post(t, srv.URL+"/_control/nope", ""); resp.StatusCode != 404 {
		t.Fatalf("unknown control path: %d", resp.StatusCode)
	}
}

// Without Control, the control paths are ordinary requests.
func TestAgentControlOff(t *testing.T) {
	t.Parallel()
	a := NewAgent(AgentOptions{})
	srv := httptest.NewServer(a)
	defer srv.Close()
	post(t, srv.URL+"/_control/hold", "")
	if a.Held() || a.Requests() != 1 {
		t.Fatalf("held %v, requests %d", a.Held(), a.Requests())
	}
}
