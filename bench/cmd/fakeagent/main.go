// Command fakeagent is a fast fake AI agent backend for the benchmarks:
// it answers every request with a small JSON object and keeps the caller's
// conversation in X-Conversation-Id, as a real agent would.
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
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type agent struct {
	delay    time.Duration
	requests atomic.Int64
	convs    atomic.Int64

	mu   sync.Mutex
	gate chan struct{} // nil: open; otherwise closed on release
}

func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_control/") {
		a.control(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	a.requests.Add(1)
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	conv := r.Header.Get("X-Conversation-Id")
	if conv == "" {
		conv = "conv-" + strconv.FormatInt(a.convs.Add(1), 10)
	}
	h := w.Header()
	h.Set("X-Conversation-Id", conv)
	h.Set("Content-Type", "application/json")
	body := `{"answer":"Thanks, your order ships tomorrow.","conversation_id":"` + conv + `","data":{"intent":"order_status"}}`
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body)
}

func (a *agent) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_control/hold":
		a.mu.Lock()
		if a.gate == nil {
			a.gate = make(chan struct{})
		}
		a.mu.Unlock()
	case "/_control/release":
		a.mu.Lock()
		if a.gate != nil {
			close(a.gate)
			a.gate = nil
		}
		a.mu.Unlock()
	case "/_control/stats":
	default:
		http.NotFound(w, r)
		return
	}
	a.mu.Lock()
	held := a.gate != nil
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"requests":%d,"held":%v}`+"\n", a.requests.Load(), held)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "wait this long before each answer")
	hold := flag.Bool("hold", false, "start with answers held")
	flag.Parse()
	a := &agent{delay: *delay}
	if *hold {
		a.gate = make(chan struct{})
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The bench reads the address from the first line.
	fmt.Printf("listening %s\n", l.Addr())
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(l))
}
