// Command fakeagent is a fast fake AI agent backend for the benchmarks:
// the shared fake agent (internal/testkit/fake) answering every request
// with one small canned JSON object, keeping the caller's conversation in
// X-Conversation-Id as a real agent would. It runs as a process of its
// own so that its CPU is measured apart from Caddy's.
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
	"log"
	"os"

	"github.com/agenthook/agenthook/internal/testkit/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "wait this long before each answer")
	hold := flag.Bool("hold", false, "start with answers held")
	flag.Parse()
	a := fake.NewAgent(fake.AgentOptions{
		Reply:   fake.Canned,
		Delay:   *delay,
		Hold:    *hold,
		Control: true,
		// It answers hundreds of thousands of requests; nobody reads them.
		MaxCalls: -1,
	})
	log.Fatal(fake.Serve(*listen, a, os.Stdout))
}
