// Command receivers is a callback receiver that verifies Standard Webhooks
// deliveries from agenthook with the official library, in the shape a
// receiver of your own should have: verify the raw body, dedupe on
// webhook-id, answer 2xx quickly.
//
//	WEBHOOK_SECRET=whsec_... go run ./examples/receivers
//
// It listens on RECEIVER_ADDR (default 127.0.0.1:9003) and prints one line
// per delivery. receiver.py and receiver.js beside it do the same in
// Python and Node.js with their standard libraries only.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("set WEBHOOK_SECRET to the whsec_ secret of the callback (shown once when it is registered)")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		log.Fatalf("WEBHOOK_SECRET: %v", err)
	}
	addr := os.Getenv("RECEIVER_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9003"
	}
	var mu sync.Mutex
	seen := map[string]bool{} // a real receiver keeps these for a day or so, in its database

	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		// The raw bytes, before any JSON parsing: the signature covers them.
		if err := wh.Verify(body, r.Header); err != nil {
			fmt.Printf("refused: %v\n", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if dup {
			fmt.Printf("duplicate %s, already handled\n", id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var event struct {
			Type   string `json:"type"`
			TaskID string `json:"task_id"`
		}
		_ = json.Unmarshal(body, &event)
		fmt.Printf("verified %s %s task %s\n", id, event.Type, event.TaskID)
		w.WriteHeader(http.StatusNoContent) // answer first; do slow work afterwards
	})
	fmt.Printf("listening on http://%s\n", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
