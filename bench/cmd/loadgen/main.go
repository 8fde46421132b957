// Command loadgen is agenthook's HTTP/1.1 load generator for the
// benchmarks. It speaks HTTP/1.1 over raw keep-alive connections (one
// request in flight per connection, like wrk), so that the client costs
// little CPU on a small machine, and it prints one JSON object.
//
// Two modes:
//
//   - closed loop (default): -c connections send back to back for -d;
//     the result is the maximum throughput at that concurrency. Latency is
//     measured from each request's send.
//   - open loop (-rate R): requests are scheduled at a constant rate R,
//     whatever the server does, and each latency is measured from the
//     request's scheduled send time, not from when a connection was free
//     to send it. A server that stalls therefore shows its stall in every
//     request that should have been sent meanwhile: coordinated omission
//     is accounted for, as in wrk2. Requests still unsent -timeout after
//     their scheduled time are dropped and counted as errors ("dropped"),
//     with their lateness recorded as their latency.
//
// Bodies are templates: {{seq}} is the request's sequence number and
// {{rand}} 16 random hex digits. -hmac signs each body (hex HMAC-SHA256 in
// -hmac-header, UPTIQ style); -sw-secret signs it with Standard Webhooks
// headers. -basic 'user:password' sends Basic auth, and is a template too,
// so that a flood of wrong passwords can send a new one with every
// request. -chats N opens N chats first and continues them round robin
// (X-Continue-Chat-Id). -record writes "task_id scheduled_ns done_ns" for
// every measured 2xx answer that carries a task_id, so that the bench can
// join them with a sink's arrival times.
//
// -url may be given more than once: the connections are then split over
// the targets round robin (connection i goes to target i mod n), as a load
// balancer in front of several instances would split them, and the result
// holds a per-target tally (targets).
//
// The run is bounded: by -d (and -n if set) plus at most -timeout for the
// last answers.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenthook/agenthook/internal/testkit/scan"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type config struct {
	targets     []*url.URL // connection i sends to targets[i%len(targets)]
	method      string
	headers     []string
	body        template
	basic       *template // user:password for Basic auth, if any
	hmacSecret  string
	hmacHeader  string
	swSecret    []byte
	conns       int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	maxRequests int64
	timeout     time.Duration
	chats       int
	chatHeader  string
	contHeader  string
	record      string
	okStatus    func(int) bool
}

func main() {
	var (
		rawURLs  headerFlags
		method   = flag.String("method", "POST", "request method")
		body     = flag.String("body", "", "body template ({{seq}}, {{rand}})")
		bodyFile = flag.String("body-file", "", "read the body template from a file")
		hdrs     headerFlags
		cfg      config
		out      = flag.String("o", "", "also write the JSON result to this file")
		ok       = flag.String("ok", "2xx", "statuses that count as success: 2xx, or a comma list such as 200,202")
		label    = flag.String("label", "", "label copied into the result")
		swSecret = flag.String("sw-secret", "", "sign bodies with Standard Webhooks headers (whsec_...)")
		basic    = flag.String("basic", "", "Basic auth 'user:password' template ({{seq}}, {{rand}}), rendered for every request")
	)
	flag.Var(&hdrs, "H", "request header 'Name: value' (repeatable)")
	flag.Var(&rawURLs, "url", "target URL (http only); repeat it to split the connections over several targets")
	flag.StringVar(&cfg.hmacSecret, "hmac", "", "sign each body: hex HMAC-SHA256 with this secret")
	flag.StringVar(&cfg.hmacHeader, "hmac-header", "X-Signature", "header for -hmac")
	flag.IntVar(&cfg.conns, "c", 32, "connections")
	flag.Float64Var(&cfg.rate, "rate", 0, "open loop: requests per second (0: closed loop)")
	flag.DurationVar(&cfg.duration, "d", 10*time.Second, "duration, warmup included")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "first part of -d not measured")
	flag.Int64Var(&cfg.maxRequests, "n", 0, "stop after this many requests (0: only -d bounds the run)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per request timeout")
	flag.IntVar(&cfg.chats, "chats", 0, "open this many chats first and continue them round robin")
	flag.StringVar(&cfg.chatHeader, "chat-header", "X-Chat-Id", "response header with the chat id")
	flag.StringVar(&cfg.contHeader, "continue-header", "X-Continue-Chat-Id", "request header that continues a chat")
	flag.StringVar(&cfg.record, "record", "", "write 'task_id scheduled_ns done_ns' lines for measured 2xx answers")
	flag.Parse()

	targets, err := parseTargets(rawURLs)
	if err != nil {
		fatalf("%v", err)
	}
	cfg.targets = targets
	cfg.method = strings.ToUpper(*method)
	cfg.headers = hdrs
	tpl := *body
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fatalf("%v", err)
		}
		tpl = string(b)
	}
	cfg.body = parseTemplate(tpl)
	if *basic != "" {
		t := parseTemplate(*basic)
		cfg.basic = &t
	}
	if *swSecret != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*swSecret, "whsec_"))
		if err != nil {
			fatalf("-sw-secret: %v", err)
		}
		cfg.swSecret = k
	}
	cfg.okStatus, err = parseOK(*ok)
	if err != nil {
		fatalf("-ok: %v", err)
	}
	if cfg.conns < 1 {
		cfg.conns = 1
	}
	if cfg.warmup >= cfg.duration {
		cfg.warmup = 0
	}

	res, err := run(&cfg)
	if err != nil {
		fatalf("%v", err)
	}
	res.Label = *label
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	os.Stdout.Write(b)
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

// parseTargets parses the -url values: at least one, each http:// with a
// host.
func parseTargets(raw []string) ([]*url.URL, error) {
	if len(raw) == 0 {
		return nil, errors.New("-url is required")
	}
	var out []*url.URL
	for _, r := range raw {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("-url must be an http:// URL, got %q", r)
		}
		if u.Port() == "" {
			u.Host += ":80"
		}
		out = append(out, u)
	}
	return out, nil
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+f+"\n", a...)
	os.Exit(2)
}

func parseOK(s string) (func(int) bool, error) {
	if s == "2xx" || s == "" {
		return func(c int) bool { return c >= 200 && c < 300 }, nil
	}
	set := map[int]bool{}
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		set[n] = true
	}
	return func(c int) bool { return set[c] }, nil
}

// template is a body with {{seq}} and {{rand}} holes.
type template struct {
	parts []string // literal text, then a hole, alternating; holes are "seq" or "rand"
	fixed bool
}

func parseTemplate(s string) template {
	var t template
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			break
		}
		name := s[i+2 : i+j]
		if name != "seq" && name != "rand" {
			t.parts = append(t.parts, s[:i+j+2])
			s = s[i+j+2:]
			continue
		}
		t.parts = append(t.parts, s[:i], name)
		s = s[i+j+2:]
	}
	t.parts = append(t.parts, s)
	t.fixed = len(t.parts) == 1
	if t.fixed {
		// Glue literal pieces back together.
		t.parts = []string{strings.Join(t.parts, "")}
	}
	return t
}

func (t template) render(dst []byte, seq int64) []byte {
	for i, p := range t.parts {
		if i%2 == 0 {
			dst = append(dst, p...)
			continue
		}
		switch p {
		case "seq":
			dst = strconv.AppendInt(dst, seq, 10)
		case "rand":
			var b [8]byte
			_, _ = rand.Read(b[:])
			dst = hex.AppendEncode(dst, b[:])
		}
	}
	return dst
}

// Result is what loadgen prints.
type Result struct {
	Label       string         `json:"label,omitempty"`
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	Connections int            `json:"connections"`
	TargetRate  float64        `json:"target_rate,omitempty"`
	DurationS   float64        `json:"duration_s"` // measured window
	Count       int64          `json:"count"`      // measured requests answered or failed
	OK          int64          `json:"ok"`
	Rate        float64        `json:"rate"`    // measured answers per second, any status
	OKRate      float64        `json:"ok_rate"` // measured successful answers per second
	Statuses    map[string]int `json:"statuses"`
	Errors      map[string]int `json:"errors"` // unexpected statuses, conn, timeout, dropped
	LatencyMS   Percentiles    `json:"latency_ms"`
	// ServiceMS is measured from the actual send; in open loop it leaves
	// out the time a request waited for a free connection.
	ServiceMS Percentiles `json:"service_ms"`
	Recorded  int         `json:"recorded,omitempty"`
	Chats     int         `json:"chats,omitempty"`
	Warnings  []string    `json:"warnings,omitempty"`
	// Targets is the tally per target, with more than one -url.
	Targets []TargetResult `json:"targets,omitempty"`
}

// TargetResult is one target's share of a run over several.
type TargetResult struct {
	URL         string  `json:"url"`
	Connections int     `json:"connections"`
	Count       int64   `json:"count"`
	OK          int64   `json:"ok"`
	OKRate      float64 `json:"ok_rate"`
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func percentiles(ns []int64) Percentiles {
	if len(ns) == 0 {
		return Percentiles{}
	}
	slices.Sort(ns)
	q := func(f float64) float64 {
		i := int(math.Ceil(f*float64(len(ns)))) - 1
		i = max(0, min(i, len(ns)-1))
		return float64(ns[i]) / 1e6
	}
	var sum float64
	for _, v := range ns {
		sum += float64(v)
	}
	return Percentiles{P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: float64(ns[len(ns)-1]) / 1e6, Mean: sum / float64(len(ns)) / 1e6}
}

// job is one scheduled request.
type job struct {
	sched    int64 // unix ns
	measured bool
}

// worker owns one connection and its tallies.
type worker struct {
	cfg      *config
	target   int // index in cfg.targets
	conn     *conn
	reqBuf   []byte
	bodyBuf  []byte
	basicBuf []byte
	mac      hash
	lat      []int64
	svc      []int64
	statuses map[int]int
	errs     map[string]int
	ok       int64
	count    int64
	records  []record
}

type hash interface {
	Reset()
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

type record struct {
	task        string
	sched, done int64
}

var (
	seq     atomic.Int64
	chatIDs []string
)

// newWorker returns a worker with a connection to cfg.targets[target].
func newWorker(cfg *config, target int) *worker {
	w := &worker{cfg: cfg, target: target, statuses: map[int]int{}, errs: map[string]int{}}
	if cfg.hmacSecret != "" {
		w.mac = hmac.New(sha256.New, []byte(cfg.hmacSecret))
	}
	w.conn = &conn{addr: cfg.targets[target].Host}
	return w
}

// build renders the next request into w.reqBuf.
func (w *worker) build(n int64, chat string) []byte {
	cfg := w.cfg
	target := cfg.targets[w.target]
	w.bodyBuf = cfg.body.render(w.bodyBuf[:0], n)
	b := w.reqBuf[:0]
	b = append(b, cfg.method...)
	b = append(b, ' ')
	b = append(b, target.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, target.Host...)
	b = append(b, "\r\nUser-Agent: agenthook-loadgen\r\n"...)
	for _, h := range cfg.headers {
		b = append(b, h...)
		b = append(b, "\r\n"...)
	}
	if cfg.basic != nil {
		w.basicBuf = cfg.basic.render(w.basicBuf[:0], n)
		b = append(b, "Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, w.basicBuf)
		b = append(b, "\r\n"...)
	}
	if w.mac != nil {
		w.mac.Reset()
		w.mac.Write(w.bodyBuf)
		b = append(b, cfg.hmacHeader...)
		b = append(b, ": "...)
		b = hex.AppendEncode(b, w.mac.Sum(nil))
		b = append(b, "\r\n"...)
	}
	if cfg.swSecret != nil {
		id := "msg_" + strconv.FormatInt(n, 10) + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		m := hmac.New(sha256.New, cfg.swSecret)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(w.bodyBuf)
		b = append(b, "webhook-id: "+id+"\r\nwebhook-timestamp: "+ts+"\r\nwebhook-signature: v1,"...)
		b = base64.StdEncoding.AppendEncode(b, m.Sum(nil))
		b = append(b, "\r\n"...)
	}
	if chat != "" {
		b = append(b, cfg.contHeader...)
		b = append(b, ": "...)
		b = append(b, chat...)
		b = append(b, "\r\n"...)
	}
	if len(w.bodyBuf) > 0 || cfg.method == "POST" || cfg.method == "PUT" || cfg.method == "PATCH" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.bodyBuf)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, w.bodyBuf...)
	w.reqBuf = b
	return b
}

// one sends request number n and tallies it if measured.
func (w *worker) one(n int64, sched int64, measured bool) {
	chat := ""
	if len(chatIDs) > 0 {
		chat = chatIDs[int(n)%len(chatIDs)]
	}
	req := w.build(n, chat)
	sent := time.Now()
	if sched == 0 {
		sched = sent.UnixNano()
	}
	wantBody := w.cfg.record != ""
	resp, err := w.conn.do(req, "", wantBody, sent.Add(w.cfg.timeout))
	done := time.Now()
	if !measured {
		return
	}
	w.count++
	w.lat = append(w.lat, done.UnixNano()-sched)
	w.svc = append(w.svc, done.Sub(sent).Nanoseconds())
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			w.errs["timeout"]++
		} else {
			w.errs["conn"]++
		}
		return
	}
	w.statuses[resp.status]++
	if !w.cfg.okStatus(resp.status) {
		w.errs[strconv.Itoa(resp.status)]++
		return
	}
	w.ok++
	if wantBody {
		if id := scan.TaskID(resp.body); id != "" {
			w.records = append(w.records, record{task: id, sched: sched, done: done.UnixNano()})
		}
	}
}

func (w *worker) drop(j job, now int64) {
	if !j.measured {
		return
	}
	w.count++
	w.lat = append(w.lat, now-j.sched)
	w.errs["dropped"]++
}

// openChats opens cfg.chats chats one after another, on the first target
// (instances that share a store share its chats).
func openChats(cfg *config) error {
	w := newWorker(cfg, 0)
	defer w.conn.close()
	for i := 0; i < cfg.chats; i++ {
		req := w.build(seq.Add(1), "")
		resp, err := w.conn.do(req, cfg.chatHeader, false, time.Now().Add(cfg.timeout))
		if err != nil {
			return fmt.Errorf("opening chat %d: %w", i, err)
		}
		if resp.status >= 300 {
			return fmt.Errorf("opening chat %d: status %d", i, resp.status)
		}
		id := resp.header
		if id == "" {
			// A server without chats (plain reverse_proxy): send a
			// continue header of the same size anyway, so both sides see
			// the same bytes.
			id = fmt.Sprintf("nochat%016d", i)
		}
		chatIDs = append(chatIDs, id)
	}
	return nil
}

func run(cfg *config) (*Result, error) {
	if cfg.chats > 0 {
		if err := openChats(cfg); err != nil {
			return nil, err
		}
	}
	workers := make([]*worker, cfg.conns)
	for i := range workers {
		workers[i] = newWorker(cfg, i%len(cfg.targets))
	}
	var wg sync.WaitGroup
	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := start.Add(cfg.duration)
	hardStop := end.Add(cfg.timeout + time.Second)
	var warnings []string

	if cfg.rate > 0 {
		jobs := make(chan job, 1<<16)
		for _, w := range workers {
			wg.Add(1)
			go func(w *worker) {
				defer wg.Done()
				defer w.conn.close()
				for j := range jobs {
					now := time.Now()
					if now.After(hardStop) || now.UnixNano()-j.sched > cfg.timeout.Nanoseconds() {
						w.drop(j, now.UnixNano())
						continue
					}
					w.one(seq.Add(1), j.sched, j.measured)
				}
			}(w)
		}
		interval := float64(time.Second) / cfg.rate
		t0 := start.UnixNano()
		var i int64
		for ; cfg.maxRequests == 0 || i < cfg.maxRequests; i++ {
			at := t0 + int64(float64(i)*interval)
			if at >= end.UnixNano() {
				break
			}
			if d := time.Until(time.Unix(0, at)); d > 100*time.Microsecond {
				time.Sleep(d)
			}
			jobs <- job{sched: at, measured: at >= measureFrom.UnixNano()}
		}
		close(jobs)
		wg.Wait()
	} else {
		var sent atomic.Int64
		for _, w := range workers {
			wg.Add(1)
			go func(w *worker) {
				defer wg.Done()
				defer w.conn.close()
				for {
					now := time.Now()
					if now.After(end) {
						return
					}
					if cfg.maxRequests > 0 && sent.Add(1) > cfg.maxRequests {
						return
					}
					w.one(seq.Add(1), 0, !now.Before(measureFrom))
				}
			}(w)
		}
		wg.Wait()
	}
	finished := time.Now()

	res := &Result{
		Mode:        "closed",
		URL:         cfg.targets[0].String(),
		Connections: cfg.conns,
		Statuses:    map[string]int{},
		Errors:      map[string]int{},
		Chats:       len(chatIDs),
	}
	if cfg.rate > 0 {
		res.Mode, res.TargetRate = "open", cfg.rate
	}
	var lat, svc []int64
	var records []record
	for _, w := range workers {
		res.Count += w.count
		res.OK += w.ok
		lat = append(lat, w.lat...)
		svc = append(svc, w.svc...)
		for k, v := range w.statuses {
			res.Statuses[strconv.Itoa(k)] += v
		}
		for k, v := range w.errs {
			res.Errors[k] += v
		}
		records = append(records, w.records...)
	}
	// The measured window: from the end of the warmup to the end of the
	// run (closed loop: when the last worker stopped; open loop: the
	// schedule's end, since requests were due within it).
	window := end.Sub(measureFrom)
	if cfg.rate == 0 {
		window = end.Sub(measureFrom)
		if finished.Before(end) {
			window = finished.Sub(measureFrom)
		}
	}
	if window <= 0 {
		window = time.Millisecond
	}
	res.DurationS = window.Seconds()
	res.Rate = float64(res.Count) / window.Seconds()
	res.OKRate = float64(res.OK) / window.Seconds()
	res.LatencyMS = percentiles(lat)
	res.ServiceMS = percentiles(svc)
	if cfg.rate > 0 && res.Rate < 0.95*cfg.rate {
		warnings = append(warnings, fmt.Sprintf("achieved %.0f/s of the %.0f/s asked", res.Rate, cfg.rate))
	}
	res.Warnings = warnings
	if len(cfg.targets) > 1 {
		res.Targets = make([]TargetResult, len(cfg.targets))
		for i, u := range cfg.targets {
			res.Targets[i].URL = u.String()
		}
		for _, w := range workers {
			t := &res.Targets[w.target]
			t.Connections++
			t.Count += w.count
			t.OK += w.ok
		}
		for i := range res.Targets {
			res.Targets[i].OKRate = float64(res.Targets[i].OK) / window.Seconds()
		}
	}
	if cfg.record != "" {
		var b bytes.Buffer
		for _, r := range records {
			fmt.Fprintf(&b, "%s %d %d\n", r.task, r.sched, r.done)
		}
		if err := os.WriteFile(cfg.record, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		res.Recorded = len(records)
	}
	return res, nil
}

// conn is one keep-alive HTTP/1.1 connection.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

type response struct {
	status int
	header string // the value of the header asked for
	body   []byte
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and reads the answer. On any error the connection is
// closed; the next call dials again.
func (c *conn) do(req []byte, wantHeader string, keepBody bool, deadline time.Time) (response, error) {
	var resp response
	if c.c == nil {
		d := net.Dialer{Deadline: deadline}
		nc, err := d.Dial("tcp", c.addr)
		if err != nil {
			return resp, err
		}
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 32<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	_ = c.c.SetDeadline(deadline)
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return resp, err
	}
	resp, closeAfter, err := readResponse(c.br, wantHeader, keepBody)
	if err != nil || closeAfter {
		c.close()
	}
	return resp, err
}

var errMalformed = errors.New("malformed HTTP answer")

func readResponse(br *bufio.Reader, wantHeader string, keepBody bool) (response, bool, error) {
	var resp response
	line, err := br.ReadSlice('\n')
	if err != nil {
		return resp, true, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return resp, true, errMalformed
	}
	resp.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return resp, true, errMalformed
	}
	contentLength := int64(-1)
	chunked, closeAfter := false, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return resp, true, err
		}
		if len(line) <= 2 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := line[:colon]
		value := bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			contentLength, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil {
				return resp, true, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		case wantHeader != "" && bytes.EqualFold(name, []byte(wantHeader)):
			resp.header = string(value)
		}
	}
	if resp.status/100 == 1 || resp.status == 204 || resp.status == 304 {
		if resp.status == 100 {
			return readResponse(br, wantHeader, keepBody)
		}
		return resp, closeAfter, nil
	}
	var sink io.Writer = io.Discard
	var buf *bytes.Buffer
	if keepBody {
		buf = &bytes.Buffer{}
		sink = buf
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return resp, true, err
			}
			s := strings.TrimSpace(string(line))
			if i := strings.IndexByte(s, ';'); i >= 0 {
				s = s[:i]
			}
			n, err := strconv.ParseInt(s, 16, 64)
			if err != nil {
				return resp, true, errMalformed
			}
			if n == 0 {
				// Trailers, then an empty line.
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return resp, true, err
					}
					if len(line) <= 2 {
						break
					}
				}
				break
			}
			if _, err := io.CopyN(sink, br, n); err != nil {
				return resp, true, err
			}
			if _, err := br.Discard(2); err != nil {
				return resp, true, err
			}
		}
	case contentLength >= 0:
		if _, err := io.CopyN(sink, br, contentLength); err != nil {
			return resp, true, err
		}
	default:
		if _, err := io.Copy(sink, br); err != nil {
			return resp, true, err
		}
		closeAfter = true
	}
	if buf != nil {
		resp.body = buf.Bytes()
	}
	return resp, closeAfter, nil
}
