package fakelangserve

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInvoke(t *testing.T) {
	s := New(t, "/chain/")
	status, body := post(t, s.URL+"/chain/invoke", `{"input":"hi","config":{},"kwargs":{}}`)
	var out struct {
		Output   any `json:"output"`
		Metadata struct {
			RunID          string `json:"run_id"`
			FeedbackTokens []any  `json:"feedback_tokens"`
		} `json:"metadata"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Output != "echo: hi" || out.Metadata.RunID == "" || out.Metadata.FeedbackTokens == nil {
		t.Fatalf("%d %s", status, body)
	}
	// Other inputs come back as they are.
	if status, body := post(t, s.URL+"/chain/invoke", `{"input":{"question":"q"}}`); status != 200 || !strings.Contains(body, `"output":{"question":"q"}`) {
		t.Errorf("%d %s", status, body)
	}
	if in := s.Inputs(); len(in) != 2 || string(in[0]) != `"hi"` {
		t.Errorf("inputs %s", in)
	}
}

func TestChatModelOutput(t *testing.T) {
	s := New(t, "")
	s.ChatModel = true
	_, body := post(t, s.URL+"/invoke", `{"input":"x"}`)
	var out struct {
		Output struct {
			Content string `json:"content"`
			Type    string `json:"type"`
		} `json:"output"`
	}
	if json.Unmarshal([]byte(body), &out) != nil || out.Output.Content != "echo: x" || out.Output.Type != "ai" {
		t.Errorf("%s", body)
	}
}

func TestErrors(t *testing.T) {
	s := New(t, "/c")
	for _, tt := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/c/invoke", `{"config":{}}`, 422, `"loc":["body","input"]`},
		{"/c/invoke", `{`, 422, `"type":"json_invalid"`},
		{"/c/batch", `{"input":1}`, 404, `Not Found`},
	} {
		status, body := post(t, s.URL+tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s: %d %s", tt.path, tt.body, status, body)
		}
	}
	s.FailNext(500, 1)
	if status, body := post(t, s.URL+"/c/invoke", `{"input":1}`); status != 500 || body != "Internal Server Error" {
		t.Errorf("%d %s", status, body)
	}
	if status, _ := post(t, s.URL+"/c/invoke", `{"input":1}`); status != 200 {
		t.Errorf("after the failure: %d", status)
	}
}
