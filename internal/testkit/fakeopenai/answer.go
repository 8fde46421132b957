package fakeopenai

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// completion is one answer, rendered whole or as chunks.
type completion struct {
	id      string
	created int64
	model   string
	reply   string
	usage   Usage
}

// Usage is OpenAI's usage object.
type Usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

// usageOf counts words for tokens: deterministic, and close enough for
// tests of the metric.
func usageOf(req Request, reply string) Usage {
	var u Usage
	for _, m := range req.Messages {
		u.PromptTokens += len(strings.Fields(m.Text())) + 3
	}
	u.CompletionTokens = len(strings.Fields(reply))
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

type assistantMessage struct {
	Role        string  `json:"role"`
	Content     string  `json:"content"`
	Refusal     *string `json:"refusal"`
	Annotations []any   `json:"annotations"`
}

type choice struct {
	Index        int              `json:"index"`
	Message      assistantMessage `json:"message"`
	Logprobs     *struct{}        `json:"logprobs"`
	FinishReason string           `json:"finish_reason"`
}

// Completion is the chat.completion object.
type Completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []choice `json:"choices"`
	Usage             Usage    `json:"usage"`
	ServiceTier       string   `json:"service_tier"`
	SystemFingerprint string   `json:"system_fingerprint"`
}

func (c completion) object() Completion {
	return Completion{
		ID: c.id, Object: "chat.completion", Created: c.created, Model: c.model,
		Choices: []choice{{
			Index:        0,
			Message:      assistantMessage{Role: "assistant", Content: c.reply, Annotations: []any{}},
			FinishReason: "stop",
		}},
		Usage:             c.usage,
		ServiceTier:       "default",
		SystemFingerprint: "fp_fake",
	}
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

// Chunk is the chat.completion.chunk object. Usage is present (null on
// all but the last chunk) only when the request asked for it.
type Chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
}

// chunkWithUsage renders "usage": null where Chunk would drop it.
type chunkWithUsage struct {
	Chunk
	Usage *Usage `json:"usage"`
}

// Pieces splits a reply as a model streams it: a word with the space
// before it per chunk.
func Pieces(reply string) []string {
	var out []string
	start := 0
	for i := 1; i < len(reply); i++ {
		if reply[i] == ' ' {
			out = append(out, reply[start:i])
			start = i
		}
	}
	if start < len(reply) {
		out = append(out, reply[start:])
	}
	return out
}

// stream writes the answer as OpenAI streams it: a first chunk with the
// role and empty content, one chunk per piece, a chunk with the
// finish_reason and an empty delta, the usage chunk (empty choices) when
// asked for, then [DONE].
func (s *Server) stream(w http.ResponseWriter, c completion, includeUsage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	base := Chunk{ID: c.id, Object: "chat.completion.chunk", Created: c.created, Model: c.model, SystemFingerprint: "fp_fake"}
	send := func(ch Chunk) {
		var b []byte
		if includeUsage {
			b, _ = json.Marshal(chunkWithUsage{Chunk: ch, Usage: ch.Usage})
		} else {
			b, _ = json.Marshal(ch)
		}
		_, _ = w.Write([]byte("data: " + string(b) + "\n\n"))
		_ = http.NewResponseController(w).Flush()
		if s.ChunkDelay > 0 {
			time.Sleep(s.ChunkDelay)
		}
	}
	empty := ""
	first := base
	first.Choices = []chunkChoice{{Delta: delta{Role: "assistant", Content: &empty}}}
	send(first)
	for _, p := range Pieces(c.reply) {
		ch := base
		ch.Choices = []chunkChoice{{Delta: delta{Content: &p}}}
		send(ch)
	}
	stop := "stop"
	last := base
	last.Choices = []chunkChoice{{Delta: delta{}, FinishReason: &stop}}
	send(last)
	if includeUsage {
		u := c.usage
		ch := base
		ch.Choices = []chunkChoice{}
		ch.Usage = &u
		send(ch)
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	_ = http.NewResponseController(w).Flush()
}

// ErrorBody is OpenAI's error body.
type ErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, message, typ, param, code string) {
	var b ErrorBody
	b.Error.Message, b.Error.Type = message, typ
	if param != "" {
		b.Error.Param = &param
	}
	if code != "" {
		b.Error.Code = &code
	}
	writeJSON(w, status, b)
}

// writeFailure answers a failure asked for with FailNext, with OpenAI's
// texts for the statuses it documents.
func writeFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusUnauthorized:
		writeError(w, status, "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
	case http.StatusNotFound:
		writeError(w, status, "The model `fake` does not exist or you do not have access to it.", "invalid_request_error", "", "model_not_found")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeError(w, status, "Rate limit reached for requests. Please try again in 1s.", "requests", "", "rate_limit_exceeded")
	case http.StatusServiceUnavailable:
		writeError(w, status, "The engine is currently overloaded, please try again later", "server_error", "", "")
	default:
		writeError(w, status, "The server had an error while processing your request. Sorry about that!", "server_error", "", "")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
