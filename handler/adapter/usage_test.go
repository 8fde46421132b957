package adapter

import (
	"strings"
	"testing"
)

func TestUsageOf(t *testing.T) {
	tests := []struct {
		body string
		want Usage
		ok   bool
	}{
		{openAICompletion, Usage{19, 10, 29}, true},
		{`{"answer":"x","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, Usage{3, 4, 7}, true},
		{`{"usage":{"prompt_tokens":3,"completion_tokens":4}}`, Usage{3, 4, 7}, true},                                      // total missing: the sum
		{`{"usage":{"input_tokens":5,"output_tokens":6,"total_tokens":11}}`, Usage{5, 6, 11}, true},                        // Responses API
		{`{"usage":{"input_tokens":5,"output_tokens":6}}`, Usage{5, 6, 11}, true},                                          // Anthropic
		{`{"model":"llama3","message":{},"done":true,"prompt_eval_count":26,"eval_count":290}`, Usage{26, 290, 316}, true}, // Ollama native
		{`{"usage":null}`, Usage{}, false},
		{`{"usage":{"prompt_tokens":-1}}`, Usage{}, false},
		{`{"answer":"x"}`, Usage{}, false},
		{`not json`, Usage{}, false},
		{`[1]`, Usage{}, false},
	}
	for _, tt := range tests {
		u, ok := UsageOf([]byte(tt.body))
		if u != tt.want || ok != tt.ok {
			t.Errorf("%.60s: %+v %v, want %+v %v", tt.body, u, ok, tt.want, tt.ok)
		}
	}
}

func TestUsageEach(t *testing.T) {
	var got []string
	Usage{1, 2, 3}.Each(func(kind string, n int64) { got = append(got, kind+"="+string(rune('0'+n))) })
	if strings.Join(got, " ") != "prompt=1 completion=2 total=3" {
		t.Errorf("%q", got)
	}
}

func TestParseError(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		status int
		body   string
		want   string
		nilErr bool
	}{
		{401, `{"error":{"message":"Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			"backend answered 401 invalid_api_key: Incorrect API key provided: sk-abc***. You can find your API key at https://platform.openai.com/account/api-keys.", false},
		{429, `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			"backend answered 429 rate_limit_exceeded: Rate limit reached for requests", false},
		{400, `{"error":{"message":"Invalid value: 'bot'.","type":"invalid_request_error","param":"messages[0].role","code":"invalid_value"}}`,
			"backend answered 400 invalid_value: Invalid value: 'bot'. (param messages[0].role)", false},
		{500, `{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`,
			"backend answered 500 server_error: The server had an error", false},
		{400, `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`, // vLLM
			"backend answered 400 BadRequestError: max_tokens is too large", false},
		{404, `{"error":"model \"llama9\" not found, try pulling it first"}`, // Ollama
			`backend answered 404: model "llama9" not found, try pulling it first`, false},
		{422, `{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required","input":{"secret":"s"}}]}`, // FastAPI
			"backend answered 422: body.input: Field required", false},
		{404, `{"detail":"Not Found"}`, "backend answered 404: Not Found", false},
		{502, `<html><body>Bad gateway: secret upstream text</body></html>`, "backend answered 502 (no error message)", false},
		{503, ``, "backend answered 503 (no error message)", false},
		{500, `{"error":{"message":"` + long + `","type":"t\u0000x\ny"}}`, "backend answered 500 t x y: " + strings.Repeat("x", 297) + "…", false},
		{500, `{"error":{"message":"line one\n\tline two"}}`, "backend answered 500: line one line two", false},
		{200, openAICompletion, "", true},
		{200, `{"error":null}`, "", true},
		{400, `{"error":{"message":"` + strings.Repeat("y", maxErrorBody) + `"}}`, "backend answered 400 (no error message)", false},
	}
	for _, tt := range tests {
		e := ParseError(tt.status, []byte(tt.body))
		if tt.nilErr {
			if e != nil {
				t.Errorf("%d %.50s: %v, want none", tt.status, tt.body, e)
			}
			continue
		}
		if e == nil || e.Error() != tt.want {
			t.Errorf("%d %.50s:\n got %v\nwant %s", tt.status, tt.body, e, tt.want)
		}
		if e != nil && strings.Contains(e.Error(), "secret") {
			t.Errorf("%d: echoes the body: %v", tt.status, e)
		}
	}
}
