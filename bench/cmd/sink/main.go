// Command sink is a callback receiver for the benchmarks. It answers every
// delivery 204 at once and records, per delivery, its arrival time, its
// webhook-id and the task_id in its body.
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
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenthook/agenthook/bench/internal/scan"
)

type delivery struct {
	task, webhookID, path string
	at                    int64
}

type sink struct {
	key         []byte
	verifyEvery int64

	n       atomic.Int64
	bad     atomic.Int64
	checked atomic.Int64

	mu   sync.Mutex
	got  []delivery
	ids  map[string]struct{}
	bufs sync.Pool
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_stats":
		s.stats(w)
		return
	case "/_dump":
		s.dump(w)
		return
	case "/_reset":
		s.mu.Lock()
		s.got, s.ids = nil, map[string]struct{}{}
		s.mu.Unlock()
		s.n.Store(0)
		s.bad.Store(0)
		s.checked.Store(0)
		w.WriteHeader(204)
		return
	}
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	_, _ = io.Copy(buf, r.Body)
	now := time.Now().UnixNano()
	n := s.n.Add(1)
	id := r.Header.Get("Webhook-Id")
	if s.key != nil && s.verifyEvery > 0 && n%s.verifyEvery == 0 {
		s.checked.Add(1)
		if !s.valid(id, r.Header.Get("Webhook-Timestamp"), r.Header.Get("Webhook-Signature"), buf.Bytes()) {
			s.bad.Add(1)
		}
	}
	d := delivery{task: scan.TaskID(buf.Bytes()), webhookID: id, path: r.URL.Path, at: now}
	s.bufs.Put(buf)
	s.mu.Lock()
	s.got = append(s.got, d)
	s.ids[id] = struct{}{}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) valid(id, ts, sigs string, body []byte) bool {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range strings.Fields(sigs) {
		v, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (s *sink) stats(w http.ResponseWriter) {
	s.mu.Lock()
	var first, last int64
	if len(s.got) > 0 {
		first, last = s.got[0].at, s.got[len(s.got)-1].at
	}
	unique := len(s.ids)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"requests":%d,"unique_ids":%d,"first_ns":%d,"last_ns":%d,"bad_signatures":%d,"checked":%d}`+"\n",
		s.n.Load(), unique, first, last, s.bad.Load(), s.checked.Load())
}

func (s *sink) dump(w http.ResponseWriter) {
	s.mu.Lock()
	got := append([]delivery(nil), s.got...)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	var b bytes.Buffer
	for _, d := range got {
		task := d.task
		if task == "" {
			task = "-"
		}
		fmt.Fprintf(&b, "%s %d %s %s\n", task, d.at, orDash(d.webhookID), d.path)
		if b.Len() > 1<<20 {
			_, _ = w.Write(b.Bytes())
			b.Reset()
		}
	}
	_, _ = w.Write(b.Bytes())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	secret := flag.String("verify", "", "whsec_ secret to verify signatures with")
	every := flag.Int64("verify-every", 100, "verify every n-th delivery")
	flag.Parse()
	s := &sink{verifyEvery: *every, ids: map[string]struct{}{}}
	if *secret != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
		if err != nil {
			log.Fatalf("-verify: %v", err)
		}
		s.key = k
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", l.Addr())
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(l))
}
