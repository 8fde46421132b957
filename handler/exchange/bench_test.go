package exchange

import (
	"context"
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/shape"
)

// BenchmarkOpenAIExchange is the shaping a sync call through `adapter
// openai` costs: the caller's body into a chat-completions request, and
// the completion into the answer.
func BenchmarkOpenAIExchange(b *testing.B) {
	preset, err := adapter.OpenAI(adapter.OpenAIOptions{Model: "m", System: "You are a benchmark."})
	if err != nil {
		b.Fatal(err)
	}
	a, err := preset.Compile(Limits)
	if err != nil {
		b.Fatal(err)
	}
	sh := &Shaping{Adapter: a, Request: a.Request, Answer: a.Answer, Message: a.Message, Reply: a.Reply}
	body := []byte(`{"prompt":"Where is my order 12345? It was due yesterday and nobody answers the phone."}`)
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Your order ships today."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":6,"total_tokens":26}}`)
	h := http.Header{"Content-Type": {"application/json"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sh.ShapeRequest(ctx, body, "application/json", shape.RequestEnv{}); err != nil {
			b.Fatal(err)
		}
		if _, err := sh.ShapeAnswer(ctx, 200, h, answer, shape.AnswerEnv{}); err != nil {
			b.Fatal(err)
		}
	}
}
