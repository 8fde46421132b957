// Command sink is a callback receiver for the benchmarks: the shared fake
// sink (internal/testkit/fake), answering every delivery 204 at once and
// noting, per delivery, its arrival time, its webhook-id and the task_id
// in its body. It runs as a process of its own so that its CPU is
// measured apart from Caddy's.
//
//	GET  /_stats  {"requests", "unique_ids", "first_ns", "last_ns", "bad_signatures", "checked"}
//	GET  /_dump   one line per delivery: "task_id arrival_ns webhook_id path"
//	POST /_reset  forget everything
//
// -verify checks the Standard Webhooks v1 signature of every n-th delivery
// (-verify-every), so the bench knows deliveries are really signed without
// the sink's own CPU use dominating a small machine.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/agenthook/agenthook/internal/testkit/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	secret := flag.String("verify", "", "whsec_ secret to verify signatures with")
	every := flag.Int64("verify-every", 100, "verify every n-th delivery")
	flag.Parse()
	s, err := fake.NewSink(fake.SinkOptions{
		Secret:      *secret,
		VerifyEvery: *every,
		Control:     true,
		// Arrivals are enough for the bench; whole deliveries would cost
		// memory and CPU that the measurement would see.
		MaxKept: -1,
	})
	if err != nil {
		log.Fatalf("-verify: %v", err)
	}
	log.Fatal(fake.Serve(*listen, s, os.Stdout))
}
