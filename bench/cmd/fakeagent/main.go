// Command fakeagent is a fast fake AI agent backend for the benchmarks:
// the shared fake agent (internal/testkit/fake) answering every request
// with one small canned JSON object, keeping the caller's conversation in
// X-Conversation-Id as a real agent would. It runs as a process of its
// own so that its CPU is measured apart from Caddy's.
//
// -openai answers as an OpenAI chat-completions server would (one canned
// completion, whatever the request), for the adapter's benchmark.
//
// -delay makes every answer wait. The control endpoints hold and release
// all answers (a gate), so the bench can fill a queue and then let it run:
//
//	POST /_control/hold     answers wait from now on
//	POST /_control/release  answers go out again
//	GET  /_control/stats    {"requests": n, "held": bool}
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/agenthook/agenthook/internal/testkit/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "wait this long before each answer")
	hold := flag.Bool("hold", false, "start with answers held")
	openai := flag.Bool("openai", false, "answer as an OpenAI chat-completions server")
	flag.Parse()
	a := fake.NewAgent(fake.AgentOptions{
		Reply:   fake.Canned,
		Delay:   *delay,
		Hold:    *hold,
		Control: true,
		// It answers hundreds of thousands of requests; nobody reads them.
		MaxCalls: -1,
	})
	if *openai {
		a.Handle = func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", strconv.Itoa(len(completion)))
			_, _ = io.WriteString(w, completion)
		}
	}
	log.Fatal(fake.Serve(*listen, a, os.Stdout))
}

// completion is a chat completion as OpenAI writes one.
const completion = `{"id":"chatcmpl-bench","object":"chat.completion","created":1741569952,"model":"bench-model",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"` + fake.CannedAnswer + `","refusal":null,"annotations":[]},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29},` +
	`"service_tier":"default","system_fingerprint":null}`
