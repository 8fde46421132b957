package fake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenthook/agenthook/internal/testkit/scan"
)

// SinkOptions are the sink's knobs. The zero value is the tests' sink:
// every delivery kept whole, no signature checks.
type SinkOptions struct {
	// Secret, a whsec_ secret, makes the sink check the Standard Webhooks
	// v1 signature of deliveries; Stats counts the bad ones.
	Secret string
	// VerifyEvery checks only every n-th delivery (default 1: all), so
	// that a benchmark's sink knows deliveries are really signed without
	// its own CPU use dominating a small machine.
	VerifyEvery int64
	// MaxKept bounds the deliveries kept whole for Received: 0 keeps
	// all, a negative number none.
	MaxKept int
	// Control serves GET /_stats (SinkStats as JSON), GET /_dump
	// (WriteDump) and POST /_reset, for a program that reads the sink from
	// outside.
	Control bool
}

// Arrival is what the sink notes of every accepted delivery, cheaply:
// enough to time deliveries and count them.
type Arrival struct {
	TaskID    string // "task_id" of the body; "" if none
	WebhookID string // the webhook-id header
	Path      string
	At        time.Time
}

// SinkStats are the sink's counters; /_stats answers them as JSON.
type SinkStats struct {
	Requests int64 `json:"requests"` // every request, accepted or not
	// UniqueIDs counts the distinct deliveries accepted: webhook-id and
	// path. One event keeps its webhook-id at every callback it goes to
	// (as Standard Webhooks has it), so fanned-out copies at other paths
	// count apart, and only a redelivery to the same path counts once.
	UniqueIDs     int64 `json:"unique_ids"`
	FirstNS       int64 `json:"first_ns"` // first and last arrival, Unix ns
	LastNS        int64 `json:"last_ns"`
	BadSignatures int64 `json:"bad_signatures"`
	Checked       int64 `json:"checked"` // signatures checked
}

// Sink is a fake callback receiver. It answers 204 at once unless Status
// says otherwise, and notes every accepted (2xx) delivery.
type Sink struct {
	// Status, if set, picks the answer's status for the n-th request
	// (counting from 1). Set it before the first request.
	Status func(n int, r *http.Request) int

	opts SinkOptions
	key  []byte
	fail atomic.Pointer[failure]

	n       atomic.Int64
	bad     atomic.Int64
	checked atomic.Int64
	log     callLog
	bufs    sync.Pool

	mu       sync.Mutex
	arrivals []Arrival
	ids      map[string]struct{}
}

// NewSink returns a sink with the given knobs; it fails only on a
// malformed Secret.
func NewSink(o SinkOptions) (*Sink, error) {
	s := &Sink{opts: o, log: callLog{max: o.MaxKept}, ids: map[string]struct{}{}}
	if s.opts.VerifyEvery <= 0 {
		s.opts.VerifyEvery = 1
	}
	if o.Secret != "" {
		k, err := parseSecret(o.Secret)
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Control && s.control(w, r) {
		return
	}
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer s.bufs.Put(buf)
	buf.Reset()
	_, _ = io.Copy(buf, r.Body)
	now := time.Now()
	n := s.n.Add(1)
	id := r.Header.Get("Webhook-Id")
	if s.key != nil && n%s.opts.VerifyEvery == 0 {
		s.checked.Add(1)
		if !verify(s.key, id, r.Header.Get("Webhook-Timestamp"), r.Header.Get("Webhook-Signature"), buf.Bytes()) {
			s.bad.Add(1)
		}
	}
	if f := s.fail.Load(); f != nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
		return
	}
	status := http.StatusNoContent
	if s.Status != nil {
		status = s.Status(int(n), r)
	}
	if status >= 200 && status < 300 {
		if s.log.wants() {
			s.log.add(newCall(r, bytes.Clone(buf.Bytes()), now))
		}
		a := Arrival{TaskID: scan.TaskID(buf.Bytes()), WebhookID: id, Path: r.URL.Path, At: now}
		s.mu.Lock()
		s.arrivals = append(s.arrivals, a)
		s.ids[id+" "+r.URL.Path] = struct{}{}
		s.mu.Unlock()
	}
	w.WriteHeader(status)
}

// failure is what a failing sink answers.
type failure struct {
	status int
	body   string
}

// FailWith makes every request from now on fail with status and a
// text/plain body, as a receiver that broke would, until Recover. It
// takes precedence over Status, and may be called at any time.
func (s *Sink) FailWith(status int, body string) {
	s.fail.Store(&failure{status: status, body: body})
}

// Recover undoes FailWith.
func (s *Sink) Recover() { s.fail.Store(nil) }

// Received returns the accepted deliveries kept whole so far.
func (s *Sink) Received() []Call { return s.log.all() }

// Requests counts every request, accepted or not.
func (s *Sink) Requests() int { return int(s.n.Load()) }

// Arrivals returns every accepted delivery so far, in arrival order.
func (s *Sink) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrivals...)
}

// Stats returns the counters.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	st := SinkStats{UniqueIDs: int64(len(s.ids))}
	if len(s.arrivals) > 0 {
		st.FirstNS, st.LastNS = s.arrivals[0].At.UnixNano(), s.arrivals[len(s.arrivals)-1].At.UnixNano()
	}
	s.mu.Unlock()
	st.Requests, st.BadSignatures, st.Checked = s.n.Load(), s.bad.Load(), s.checked.Load()
	return st
}

// Reset forgets every delivery and zeroes the counters.
func (s *Sink) Reset() {
	s.mu.Lock()
	s.arrivals, s.ids = nil, map[string]struct{}{}
	s.mu.Unlock()
	s.log.reset()
	s.n.Store(0)
	s.bad.Store(0)
	s.checked.Store(0)
}

// control serves the control paths; false for any other path.
func (s *Sink) control(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/_stats":
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(s.Stats())
		_, _ = w.Write(append(b, '\n'))
	case "/_dump":
		w.Header().Set("Content-Type", "text/plain")
		_ = WriteDump(w, s.Arrivals())
	case "/_reset":
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		return false
	}
	return true
}
