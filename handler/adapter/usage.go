package adapter

import "encoding/json"

// Usage is a backend's token count for one answer, for the metric
// caddy_agenthook_backend_tokens_total{agent,kind}.
type Usage struct {
	Prompt, Completion, Total int64
}

// Token kinds, the metric's kind label.
const (
	KindPrompt     = "prompt"
	KindCompletion = "completion"
	KindTotal      = "total"
)

// Each calls f with each kind and its count, in a fixed order, so a
// counter gets all three series from the first answer on.
func (u Usage) Each(f func(kind string, n int64)) {
	f(KindPrompt, u.Prompt)
	f(KindCompletion, u.Completion)
	f(KindTotal, u.Total)
}

// usageJSON covers the names in use: OpenAI's chat completions (and the
// servers that copy them), OpenAI's Responses API and Anthropic
// (input/output_tokens), and Ollama's native API (prompt_eval_count,
// eval_count, at the top level).
type usageJSON struct {
	PromptTokens     *int64 `json:"prompt_tokens"`
	CompletionTokens *int64 `json:"completion_tokens"`
	TotalTokens      *int64 `json:"total_tokens"`
	InputTokens      *int64 `json:"input_tokens"`
	OutputTokens     *int64 `json:"output_tokens"`
}

func (j *usageJSON) usage() (Usage, bool) {
	if j == nil {
		return Usage{}, false
	}
	var u Usage
	prompt, okP := first(j.PromptTokens, j.InputTokens)
	completion, okC := first(j.CompletionTokens, j.OutputTokens)
	if !okP && !okC {
		return Usage{}, false
	}
	u.Prompt, u.Completion = prompt, completion
	if j.TotalTokens != nil && *j.TotalTokens >= 0 {
		u.Total = *j.TotalTokens
	} else {
		u.Total = u.Prompt + u.Completion
	}
	return u, true
}

func first(ps ...*int64) (int64, bool) {
	for _, p := range ps {
		if p != nil && *p >= 0 {
			return *p, true
		}
	}
	return 0, false
}

// UsageOf reads the token usage of a backend's answer, or of an answer
// shaped by a preset (which keeps "usage"). ok is false when there is
// none.
func UsageOf(body []byte) (u Usage, ok bool) {
	var doc struct {
		Usage           *usageJSON `json:"usage"`
		PromptEvalCount *int64     `json:"prompt_eval_count"`
		EvalCount       *int64     `json:"eval_count"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return Usage{}, false
	}
	if u, ok := doc.Usage.usage(); ok {
		return u, true
	}
	if doc.PromptEvalCount != nil || doc.EvalCount != nil {
		return (&usageJSON{PromptTokens: doc.PromptEvalCount, CompletionTokens: doc.EvalCount}).usage()
	}
	return Usage{}, false
}
