package fakeopenai

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
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

func TestCompletion(t *testing.T) {
	s := New(t)
	resp, body := post(t, s, Path, `{"model":"m1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "chat.completion" || c.Model != "m1" || !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.Choices) != 1 ||
		c.Choices[0].Message.Role != "assistant" || c.Choices[0].Message.Content != "echo: hello there" || c.Choices[0].FinishReason != "stop" {
		t.Fatalf("%s", body)
	}
	if u := c.Usage; u.PromptTokens != 2+3+2+3 || u.CompletionTokens != 3 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v", u)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Model != "m1" || len(reqs[0].Messages) != 2 || reqs[0].Messages[1].Text() != "hello there" {
		t.Errorf("requests %+v", reqs)
	}
}

// readStream returns the data of each event of an SSE body.
func readStream(t *testing.T, body []byte) []string {
	t.Helper()
	var data []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	blank := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			blank = true
			continue
		}
		if !blank || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("not one data line per event: %q", body)
		}
		blank = false
		data = append(data, strings.TrimPrefix(line, "data: "))
	}
	return data
}

func TestStream(t *testing.T) {
	s := New(t)
	s.Reply = func(Request) string { return "Hello there, friend" }
	for _, includeUsage := range []bool{false, true} {
		opts := ``
		if includeUsage {
			opts = `,"stream_options":{"include_usage":true}`
		}
		resp, body := post(t, s, Path, `{"model":"m","stream":true`+opts+`,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		events := readStream(t, body)
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("no [DONE]: %q", events)
		}
		var text strings.Builder
		var finish []string
		var usages int
		for i, e := range events[:len(events)-1] {
			var c map[string]json.RawMessage
			if err := json.Unmarshal([]byte(e), &c); err != nil {
				t.Fatal(err)
			}
			if string(c["object"]) != `"chat.completion.chunk"` {
				t.Errorf("object %s", c["object"])
			}
			u, hasUsage := c["usage"]
			if hasUsage != includeUsage {
				t.Errorf("include_usage %v, chunk %d has usage: %v", includeUsage, i, hasUsage)
			}
			if hasUsage && string(u) != "null" {
				usages++
				if string(c["choices"]) != "[]" || i != len(events)-2 {
					t.Errorf("the usage chunk is not last, with empty choices: %s", e)
				}
				continue
			}
			var choices []struct {
				Delta struct {
					Role    string  `json:"role"`
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			}
			_ = json.Unmarshal(c["choices"], &choices)
			ch := choices[0]
			if (i == 0) != (ch.Delta.Role == "assistant") {
				t.Errorf("chunk %d: role %q", i, ch.Delta.Role)
			}
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finish = append(finish, *ch.FinishReason)
			}
		}
		if text.String() != "Hello there, friend" || len(finish) != 1 || finish[0] != "stop" || usages != map[bool]int{false: 0, true: 1}[includeUsage] {
			t.Errorf("text %q, finish %q, usage chunks %d", text.String(), finish, usages)
		}
	}
}

func TestValidation(t *testing.T) {
	s := New(t)
	s.Models = []string{"m"}
	tests := []struct {
		body        string
		status      int
		param, code string
	}{
		{`{`, 400, "", ""},
		{`{"messages":[{"role":"user","content":"x"}]}`, 400, "", ""},
		{`{"model":"m"}`, 400, "messages", "missing_required_parameter"},
		{`{"model":"m","messages":[]}`, 400, "messages", "empty_array"},
		{`{"model":"m","messages":[{"role":"bot","content":"x"}]}`, 400, "messages[0].role", "invalid_value"},
		{`{"model":"m","messages":[{"role":"user","content":{"a":1}}]}`, 400, "messages[0].content", "invalid_type"},
		{`{"model":"m","messages":[{"role":"user"}]}`, 400, "messages[0].content", "invalid_type"},
		{`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`, 400, "messages", "invalid_value"},
		{`{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, 400, "stream_options", "invalid_value"},
		{`{"model":"other","messages":[{"role":"user","content":"x"}]}`, 404, "", "model_not_found"},
		{`{"model":"m","messages":[{"role":"assistant","content":null},{"role":"user","content":"x"}]}`, 200, "", ""},
	}
	for _, tt := range tests {
		resp, body := post(t, s, Path, tt.body)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s", tt.body, resp.StatusCode, body)
			continue
		}
		if tt.status == 200 {
			continue
		}
		var e ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Type != "invalid_request_error" {
			t.Errorf("%s: error body %s", tt.body, body)
		}
		if got := deref(e.Error.Param); got != tt.param {
			t.Errorf("%s: param %q", tt.body, got)
		}
		if got := deref(e.Error.Code); got != tt.code {
			t.Errorf("%s: code %q", tt.body, got)
		}
		if !strings.Contains(string(body), `"param":`) || !strings.Contains(string(body), `"code":`) {
			t.Errorf("%s: param and code are always present (null when unset): %s", tt.body, body)
		}
	}
	if len(s.Requests()) != 1 {
		t.Errorf("refused requests were recorded: %d", len(s.Requests()))
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestFailuresAndAuth(t *testing.T) {
	s := New(t)
	s.APIKey = "sk-test"
	ok := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	if resp, body := post(t, s, Path, ok); resp.StatusCode != 401 || !strings.Contains(string(body), `"code":"invalid_api_key"`) {
		t.Errorf("no key: %d %s", resp.StatusCode, body)
	}
	auth := []string{"Authorization", "Bearer sk-test"}
	s.FailNext(429, 1)
	s.FailNext(500, 1)
	s.FailNext(503, 1)
	want := []struct {
		status int
		typ    string
	}{{429, "requests"}, {500, "server_error"}, {503, "server_error"}, {200, ""}}
	for _, w := range want {
		resp, body := post(t, s, Path, ok, auth...)
		if resp.StatusCode != w.status {
			t.Fatalf("%d %s, want %d", resp.StatusCode, body, w.status)
		}
		if w.status == 429 && resp.Header.Get("Retry-After") != "1" {
			t.Error("429 without Retry-After")
		}
		if w.typ != "" && !strings.Contains(string(body), `"type":"`+w.typ+`"`) {
			t.Errorf("%d: %s", w.status, body)
		}
	}
	if resp, _ := post(t, s, "/v1/other", ok, auth...); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	resp, err := http.Get(s.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestPieces(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", "Hello there, friend": "Hello| there,| friend", " x  y": " x| | y"} {
		if got := strings.Join(Pieces(in), "|"); got != want {
			t.Errorf("Pieces(%q) = %q, want %q", in, got, want)
		}
	}
}
