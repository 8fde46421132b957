package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// sign makes Standard Webhooks headers, as the specification describes.
func sign(t *testing.T, id string, body []byte) []string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(testSecret[len("whsec_"):])
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	sig := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	return []string{"Webhook-Id", id, "Webhook-Timestamp", ts, "Webhook-Signature", "v1a,ignored " + sig}
}

func TestSinkStatusAndRecords(t *testing.T) {
	t.Parallel()
	s, err := NewSink(SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Status = func(n int, r *http.Request) int {
		if n == 2 {
			return 500
		}
		return http.StatusNoContent
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for i, id := range []string{"m1", "m2", "m3"} {
		resp, _ := post(t, srv.URL+"/hook?q=1", `{"type":"task","task_id":"t`+strconv.Itoa(i)+`"}`, "Webhook-Id", id)
		want := map[bool]int{true: 500, false: 204}[i == 1]
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	got := s.Received()
	if len(got) != 2 || got[0].Header.Get("Webhook-Id") != "m1" || got[1].Path != "/hook" || got[1].Query != "q=1" || !bytes.Contains(got[1].Body, []byte(`"t2"`)) {
		t.Fatalf("received %+v", got)
	}
	arr := s.Arrivals()
	if len(arr) != 2 || arr[0].TaskID != "t0" || arr[1].TaskID != "t2" || arr[1].WebhookID != "m3" {
		t.Fatalf("arrivals %+v", arr)
	}
	st := s.Stats()
	if st.Requests != 3 || st.UniqueIDs != 2 || st.FirstNS != arr[0].At.UnixNano() || st.LastNS != arr[1].At.UnixNano() || st.Checked != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s.Requests() != 3 {
		t.Fatalf("requests %d", s.Requests())
	}
}

func TestSinkVerifies(t *testing.T) {
	t.Parallel()
	if _, err := NewSink(SinkOptions{Secret: "whsec_!!"}); err == nil {
		t.Fatal("a malformed secret was taken")
	}
	s, err := NewSink(SinkOptions{Secret: testSecret, VerifyEvery: 2, MaxKept: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	body := []byte(`{"task_id":"a"}`)
	post(t, srv.URL, string(body), sign(t, "m1", body)...)                       // 1st: not checked
	post(t, srv.URL, string(body), sign(t, "m2", body)...)                       // 2nd: good
	post(t, srv.URL, string(body), sign(t, "m3", body)...)                       // 3rd: not checked
	post(t, srv.URL, string(body)+" ", sign(t, "m4", body)...)                   // 4th: body changed
	post(t, srv.URL, string(body), "Webhook-Id", "m6", "Webhook-Signature", "x") // 5th: not checked
	post(t, srv.URL, string(body), "Webhook-Id", "m6", "Webhook-Signature", "v1,AAAA")
	st := s.Stats()
	if st.Checked != 3 || st.BadSignatures != 2 || st.UniqueIDs != 5 {
		t.Fatalf("stats %+v", st)
	}
	if len(s.Received()) != 0 {
		t.Fatal("MaxKept -1 kept deliveries")
	}
}

func TestSinkControlAndDump(t *testing.T) {
	t.Parallel()
	s, _ := NewSink(SinkOptions{Control: true, MaxKept: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	post(t, srv.URL+"/a", `{"task_id":"t1"}`, "Webhook-Id", "m1")
	post(t, srv.URL+"/b", `{"no":"task"}`)
	if n := len(s.Received()); n != 1 {
		t.Fatalf("kept %d, MaxKept 1", n)
	}
	resp, b := post(t, srv.URL+"/_stats", "")
	var st SinkStats
	if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil || st.Requests != 2 {
		t.Fatalf("/_stats %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, srv.URL+"/_dump", "")
	arr, err := ReadDump(bytes.NewReader(b))
	if resp.StatusCode != 200 || err != nil || len(arr) != 2 {
		t.Fatalf("/_dump %d %q: %v", resp.StatusCode, b, err)
	}
	want := s.Arrivals()
	for i := range arr {
		if arr[i].TaskID != want[i].TaskID || arr[i].WebhookID != want[i].WebhookID || arr[i].Path != want[i].Path || !arr[i].At.Equal(want[i].At) {
			t.Fatalf("dump line %d: %+v, want %+v", i, arr[i], want[i])
		}
	}
	if !bytes.HasPrefix(b, []byte("t1 ")) || !bytes.Contains(b, []byte(" - /b\n")) || !bytes.HasPrefix(b[bytes.IndexByte(b, '\n')+1:], []byte("- ")) {
		t.Fatalf("dump %q", b)
	}
	if resp, _ := post(t, srv.URL+"/_reset", ""); resp.StatusCode != 204 {
		t.Fatalf("/_reset %d", resp.StatusCode)
	}
	if st := s.Stats(); st != (SinkStats{}) || len(s.Received()) != 0 || len(s.Arrivals()) != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

// TestSinkCountsFanOutApart: one event keeps its webhook-id at every
// callback it fans out to, so the same id at two paths is two deliveries;
// the same id again at the same path (a redelivery) is not.
func TestSinkCountsFanOutApart(t *testing.T) {
	t.Parallel()
	s, _ := NewSink(SinkOptions{MaxKept: -1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, path := range []string{"/hook/1", "/hook/2", "/hook/1"} {
		post(t, srv.URL+path, `{"task_id":"t1"}`, "Webhook-Id", "msg_1")
	}
	if st := s.Stats(); st.Requests != 3 || st.UniqueIDs != 2 {
		t.Fatalf("stats %+v, want 3 requests and 2 distinct deliveries", st)
	}
}

func TestReadDumpRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"t1 12 id\n", "t1 x id /p\n"} {
		if _, err := ReadDump(bytes.NewReader([]byte(in))); err == nil {
			t.Errorf("ReadDump(%q) took it", in)
		}
	}
}

func TestSinkFailWith(t *testing.T) {
	t.Parallel()
	s, _ := NewSink(SinkOptions{})
	s.Status = func(int, *http.Request) int { return http.StatusAccepted }
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.FailWith(http.StatusInternalServerError, "database on fire")
	resp, b := post(t, srv.URL, "{}", "Webhook-Id", "m1")
	if resp.StatusCode != 500 || string(b) != "database on fire" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("failing: %d %q", resp.StatusCode, b)
	}
	s.Recover()
	if resp, _ := post(t, srv.URL, "{}", "Webhook-Id", "m2"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("recovered: %d", resp.StatusCode)
	}
	if arr := s.Arrivals(); len(arr) != 1 || arr[0].WebhookID != "m2" || s.Requests() != 2 {
		t.Fatalf("arrivals %+v of %d requests", arr, s.Requests())
	}
}
