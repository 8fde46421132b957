// Package fake holds the fake agent backend and the fake callback
// receiver that the end-to-end tests and the benchmarks share. Both are
// plain http.Handlers with counters and knobs and need no testing.TB: the
// bench runs them as programs of their own (bench/cmd/fakeagent and
// bench/cmd/sink, so that their CPU is measured apart from Caddy's), and
// testkit serves them on loopback for the tests.
package fake

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Call is one request a fake received, kept whole.
type Call struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

func newCall(r *http.Request, body []byte, at time.Time) Call {
	return Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: at}
}

// callLog keeps calls whole, up to a cap: 0 keeps all, a negative cap
// none. A benchmark's fake answers hundreds of thousands of requests and
// must not hold them all.
type callLog struct {
	max   int
	mu    sync.Mutex
	calls []Call
}

// wants reports whether another call would be kept, so that a fake that
// keeps none need not copy headers and bodies.
func (l *callLog) wants() bool {
	switch {
	case l.max < 0:
		return false
	case l.max == 0:
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls) < l.max
}

func (l *callLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max == 0 || len(l.calls) < l.max {
		l.calls = append(l.calls, c)
	}
}

func (l *callLog) all() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

// Serve listens on addr, writes "listening <host:port>" to announce (the
// bench reads the address from that first line, so that the fakes can
// listen on port 0), and serves h until the listener fails.
func Serve(addr string, h http.Handler, announce io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(announce, "listening %s\n", l.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}
