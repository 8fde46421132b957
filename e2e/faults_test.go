package e2e

// The fault suite (F1–F6). Each test drives a real Caddy built
// from this checkout, at a reduced size by default, so that CI runs the
// whole file in a few minutes, and at full size with AGENTHOOK_FAULTS=full
// (bench/run.sh sets it and puts the results in BENCHMARKS.md). Every
// test records its result with testkit.RecordFault: one summary sentence
// and its key numbers, logged, and appended as JSON to the file that
// AGENTHOOK_FAULT_RESULTS names, which the bench's report reads.
//
// Unlike the other e2e tests, these do not call t.Parallel: they load the
// machine and measure it (timings, goroutines, RSS), so each runs alone;
// Go runs the parallel tests only after them.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/internal/testkit/fake"
	"github.com/agenthook/agenthook/signing"
)

// faultsFull reports whether the full-size fault suite was asked for.
func faultsFull() bool { return os.Getenv("AGENTHOOK_FAULTS") == "full" }

// sized picks the reduced or the full size.
func sized[T any](reduced, full T) T {
	if faultsFull() {
		return full
	}
	return reduced
}

// faultClient has its own connection pool, so that a test can close its
// idle connections before counting Caddy's goroutines.
func faultClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// tally counts answers of a load.
type tally struct {
	mu       sync.Mutex
	accepted []string       // task ids answered 202
	statuses map[int]int    // every HTTP answer
	errs     map[string]int // transport errors, by kind
	bad      []string       // unexpected answers, first few
}

func newTally() *tally { return &tally{statuses: map[int]int{}, errs: map[string]int{}} }

func (t *tally) answer(code int, task string, unexpected string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.statuses[code]++
	if task != "" {
		t.accepted = append(t.accepted, task)
	}
	if unexpected != "" && len(t.bad) < 5 {
		t.bad = append(t.bad, unexpected)
	}
}

func (t *tally) transport(kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs[kind]++
}

func (t *tally) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.accepted...)
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("answers %v, transport errors %v", t.statuses, t.errs)
}

// submitUntil posts async tasks from n goroutines until stop is closed.
// Connection errors are counted and the loop goes on (Caddy may be down
// on purpose); only a 202 with a task id counts as accepted. With
// allowed, any other status fails the test.
//
// With retry, a request that fails without any answer is sent again, up
// to three times, as postRetrying does: a reload closes keep-alive
// connections, and a request caught in that never reached a handler.
// Such resends are counted as "resent".
func submitUntil(t *testing.T, c *http.Client, url string, header map[string]string, n int, stop <-chan struct{}, tl *tally, retry bool, allowed ...int) *sync.WaitGroup {
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := seq.Add(1)
				var resp *http.Response
				var err error
				for try := 0; try < 3; try++ {
					req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
					req.Header.Set("Content-Type", "application/json")
					for k, v := range header {
						req.Header.Set(k, v)
					}
					if resp, err = c.Do(req); err == nil || !retry {
						break
					}
					tl.transport("resent")
					time.Sleep(10 * time.Millisecond)
				}
				if err != nil {
					tl.transport(errKind(err))
					time.Sleep(20 * time.Millisecond)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var a struct {
					TaskID string `json:"task_id"`
				}
				unexpected := ""
				if resp.StatusCode == http.StatusAccepted {
					if json.Unmarshal(b, &a) != nil || a.TaskID == "" {
						unexpected = "202 without task_id: " + string(b)
					}
				} else {
					ok := false
					for _, s := range allowed {
						ok = ok || s == resp.StatusCode
					}
					if !ok {
						unexpected = fmt.Sprintf("%d %s", resp.StatusCode, b)
					}
				}
				tl.answer(resp.StatusCode, a.TaskID, unexpected)
				if resp.StatusCode == http.StatusServiceUnavailable {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	return &wg
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}

// deliveriesByPath maps callback path -> task id -> deliveries received.
// It reads the sink's arrivals, whose task ids the sink scanned as they
// came, rather than decoding every body at every poll.
func deliveriesByPath(sink *testkit.Sink) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, a := range sink.Arrivals() {
		if out[a.Path] == nil {
			out[a.Path] = map[string]int{}
		}
		out[a.Path][a.TaskID]++
	}
	return out
}

// waitAllFinal waits until every task is final, polling its status, and
// returns how many ended in each status.
func (s *site) waitAllFinal(ids []string, timeout time.Duration) map[string]int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	counts := map[string]int{}
	for _, id := range ids {
		for {
			code, v := s.status(id)
			if code != 200 {
				s.t.Fatalf("status of accepted task %s: %d (an accepted task was lost)", id, code)
			}
			if v.Status == "SUCCESS" || v.Status == "FAILURE" {
				counts[v.Status]++
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("task %s still %s after %s", id, v.Status, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return counts
}

// waitDelivered waits until every task has at least one delivery on each
// path, and returns the total number of requests the sink accepted.
func waitDelivered(t *testing.T, sink *testkit.Sink, ids []string, paths []string, timeout time.Duration) int {
	t.Helper()
	missing := func() (int, string) {
		got := deliveriesByPath(sink)
		n, example := 0, ""
		for _, p := range paths {
			for _, id := range ids {
				if got[p][id] == 0 {
					n++
					example = p + " " + id
				}
			}
		}
		return n, example
	}
	deadline := time.Now().Add(timeout)
	for {
		n, example := missing()
		if n == 0 {
			return len(sink.Arrivals())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries never arrived within %s (e.g. %s)", n, timeout, example)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func faultCallbacksGlobals(agentAddr, sinkURL, extraDelivery, callbacks string, workers int) string {
	return fmt.Sprintf(`		workers %d
		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
			callback %s/a {
				sign standard_webhooks %s
			}
			callback %s/b
%s
		}
`, workers, extraDelivery, agentAddr, sinkURL, cbSecret, sinkURL, callbacks)
}

// ---------------------------------------------------------------- F1

// TestFaultF1KillDuringIntakeAndDelivery kills Caddy with SIGKILL while
// tasks pour in and deliveries go out, restarts it on the same store, and
// checks that every task answered 202 finishes and that every delivery of
// every such task arrives at least once.
func TestFaultF1KillDuringIntakeAndDelivery(t *testing.T) {
	fr := testkit.RecordFault(t)
	kills := sized(1, 3)
	perPhase := sized(1500*time.Millisecond, 4*time.Second)
	agent := testkit.NewAgentWith(t, fake.AgentOptions{Delay: 2 * time.Millisecond, MaxCalls: -1})
	// Arrivals are all these checks need; whole deliveries would cost
	// this process memory and CPU next to the Caddy under test.
	sink := testkit.NewSinkWith(t, fake.SinkOptions{MaxKept: -1})
	sink.Status = func(int, *http.Request) int {
		time.Sleep(time.Millisecond)
		return 204
	}
	globals := faultCallbacksGlobals(agent.Addr(), sink.URL, fastRetry, "", 8)
	s := startSite(t, globals, asyncRoutes)
	c := faultClient()
	tl := newTally()
	stop := make(chan struct{})
	wg := submitUntil(t, c, s.base+"/tasks", alice, 8, stop, tl, false)
	for k := 0; k < kills; k++ {
		time.Sleep(perPhase)
		before := len(tl.ids())
		s.caddy.Kill9()
		t.Logf("kill %d: %d tasks accepted so far, %d deliveries received", k+1, before, len(sink.Arrivals()))
		time.Sleep(200 * time.Millisecond)
		s.restart(globals, asyncRoutes)
	}
	time.Sleep(perPhase)
	close(stop)
	wg.Wait()
	if bad := tl.bad; len(bad) > 0 {
		t.Fatalf("unexpected answers: %v (%s)", bad, tl)
	}
	ids := tl.ids()
	if len(ids) < 50 {
		t.Fatalf("only %d tasks accepted: %s", len(ids), tl)
	}
	final := s.waitAllFinal(ids, sized(60*time.Second, 180*time.Second))
	if final["SUCCESS"] != len(ids) {
		t.Fatalf("final states %v of %d accepted tasks", final, len(ids))
	}
	total := waitDelivered(t, sink, ids, []string{"/a", "/b"}, sized(60*time.Second, 180*time.Second))
	dups := total - 2*len(ids)
	fr.Number("kills", float64(kills))
	fr.Number("tasks", float64(len(ids)))
	fr.Number("deliveries", float64(2*len(ids)))
	fr.Number("duplicates", float64(max(dups, 0)))
	fr.Summary("%d kill -9 during intake and deliveries; %d tasks answered 202, all SUCCESS after restart; all %d deliveries arrived (%d duplicates, allowed: at least once); client saw %s",
		kills, len(ids), 2*len(ids), max(dups, 0), tl)
}

// ---------------------------------------------------------------- F2

// TestFaultF2ReloadEverySecond reloads the config every second while
// async tasks, sync chat turns and deliveries flow. No answer may be an
// error other than a shed-load 503, and nothing is lost.
func TestFaultF2ReloadEverySecond(t *testing.T) {
	fr := testkit.RecordFault(t)
	reloads := sized(5, 30)
	agent := testkit.NewAgentWith(t, fake.AgentOptions{MaxCalls: -1})
	// Arrivals are all these checks need; whole deliveries would cost
	// this process memory and CPU next to the Caddy under test.
	sink := testkit.NewSinkWith(t, fake.SinkOptions{MaxKept: -1})
	routes := asyncRoutes + `
	agenthook /chat support {
		auth bearer alice-token
	}
`
	globalsN := func(n int) string { return faultCallbacksGlobals(agent.Addr(), sink.URL, fastRetry, "", 4+n%4) }
	s := startSite(t, globalsN(0), routes)
	c := faultClient()
	tl := newTally()
	stop := make(chan struct{})
	wg := submitUntil(t, c, s.base+"/tasks", alice, 4, stop, tl, true, http.StatusServiceUnavailable)

	// Sync turns continuing one chat, through postRetrying (a reload may
	// reset a connection before any handler saw the request; see there).
	resp, b := s.post("/chat", []byte(`{}`), alice)
	wantStatus(t, resp, b, 200, "")
	chat := resp.Header.Get("X-Chat-Id")
	var syncOK, syncShed, syncFail atomic.Int64
	var syncBad sync.Map
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": chat}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := postRetrying(s.base+"/chat", []byte(`{"sync":true}`), h)
				switch {
				case err != nil:
					syncFail.Add(1)
					syncBad.Store(err.Error(), true)
				case resp.StatusCode == 200:
					syncOK.Add(1)
				case resp.StatusCode == 503:
					syncShed.Add(1)
				default:
					syncFail.Add(1)
					b, _ := io.ReadAll(resp.Body)
					syncBad.Store(fmt.Sprintf("%d %s", resp.StatusCode, b), true)
				}
			}
		}()
	}
	for i := 1; i <= reloads; i++ {
		time.Sleep(time.Second)
		if err := s.caddy.TryReload(s.caddyfile(globalsN(i), routes)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	var bad []string
	syncBad.Range(func(k, _ any) bool { bad = append(bad, k.(string)); return len(bad) < 5 })
	if syncFail.Load() > 0 {
		t.Fatalf("%d sync turns failed during reloads, e.g. %v", syncFail.Load(), bad)
	}
	if len(tl.bad) > 0 {
		t.Fatalf("async answers other than 202/503 during reloads: %v (%s)", tl.bad, tl)
	}
	if n := tl.errs["refused"] + tl.errs["reset"] + tl.errs["eof"] + tl.errs["other"] + tl.errs["timeout"]; n > 0 {
		t.Fatalf("%d async requests failed without an answer, three times in a row, during reloads: %s", n, tl)
	}
	ids := tl.ids()
	final := s.waitAllFinal(ids, sized(60*time.Second, 180*time.Second))
	if final["SUCCESS"] != len(ids) {
		t.Fatalf("final states %v of %d accepted tasks", final, len(ids))
	}
	waitDelivered(t, sink, ids, []string{"/a", "/b"}, sized(60*time.Second, 180*time.Second))
	if n := strings.Count(s.caddy.Log(), "opening badger store"); n != 1 {
		t.Fatalf("the store was opened %d times across reloads", n)
	}
	fr.Number("reloads", float64(reloads))
	fr.Number("tasks", float64(len(ids)))
	fr.Number("deliveries", float64(2*len(ids)))
	fr.Number("sync_ok", float64(syncOK.Load()))
	fr.Number("sync_shed", float64(syncShed.Load()))
	fr.Summary("%d reloads, one a second, under load; async %s; sync turns: %d ok, %d shed (503), 0 failed; all %d tasks SUCCESS and all %d deliveries arrived",
		reloads, tl, syncOK.Load(), syncShed.Load(), len(ids), 2*len(ids))
}

// ---------------------------------------------------------------- F3

// TestFaultF3SinkDownThenUp: the callback receiver is down for a window
// while results pile up; once it is back, every delivery arrives, and an
// `ordered` callback gets each chat's results in order.
func TestFaultF3SinkDownThenUp(t *testing.T) {
	fr := testkit.RecordFault(t)
	chats, perChat := sized(4, 8), sized(8, 40)
	window := sized(2*time.Second, 20*time.Second)
	agent := testkit.NewAgent(t)
	port := testkit.FreePort(t)
	sinkURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 100ms 200ms 400ms 800ms 1s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s 2s
			breaker 5 500ms
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
			callback %s/ordered {
				ordered
			}
			callback %s/plain
		}
`, agent.Addr(), sinkURL, sinkURL)
	s := startSite(t, globals, asyncRoutes)
	down := time.Now()
	ids := make([]string, chats)
	var tasks []string
	for i := 0; i < perChat; i++ {
		for c := 0; c < chats; c++ {
			h := alice
			if i > 0 {
				h = map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": ids[c]}
			}
			task, chat := s.submit("/tasks", fmt.Sprintf(`{"chat":%d,"seq":%d}`, c, i), h)
			ids[c] = chat
			tasks = append(tasks, task)
		}
	}
	time.Sleep(time.Until(down.Add(window)))
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	sink := testkit.NewSinkOn(t, l)
	waitDelivered(t, sink, tasks, []string{"/ordered", "/plain"}, window+sized(60*time.Second, 120*time.Second))
	recovered := time.Since(up)
	// Order: per chat, first arrivals on /ordered carry seq 0, 1, 2, ...
	next := map[int]int{}
	seen := map[string]bool{}
	for _, c := range sink.Received() {
		if c.Path != "/ordered" {
			continue
		}
		id := c.Header.Get("Webhook-Id")
		if seen[id] {
			continue
		}
		seen[id] = true
		var p struct {
			Result struct{ Answer string }
		}
		_ = json.Unmarshal(c.Body, &p)
		var in struct{ Chat, Seq int }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(p.Result.Answer, "echo: ")), &in); err != nil {
			t.Fatalf("delivery body %s", c.Body)
		}
		if in.Seq != next[in.Chat] {
			t.Fatalf("chat %d: result %d arrived when %d was next: out of order", in.Chat, in.Seq, next[in.Chat])
		}
		next[in.Chat]++
	}
	fr.Number("down_s", window.Seconds())
	fr.Number("results", float64(len(tasks)))
	fr.Number("deliveries", float64(2*len(tasks)))
	fr.Number("recovered_s", recovered.Seconds())
	fr.Number("requests", float64(sink.Requests()))
	fr.Summary("receiver down %s with %d results (%d chats × %d) waiting on 2 callbacks; after it came back all %d deliveries arrived within %s, the ordered callback in order in every chat; %d requests in all",
		window.Round(time.Second), len(tasks), chats, perChat, 2*len(tasks), recovered.Round(100*time.Millisecond), sink.Requests())
}

// ---------------------------------------------------------------- F4

// TestFaultF4BackendHangsOrResets: a backend that never answers, and one
// that resets connections. Sync calls end in bounded time with 504/502;
// async tasks fail cleanly after their attempts, or succeed when a retry
// gets through.
func TestFaultF4BackendHangsOrResets(t *testing.T) {
	fr := testkit.RecordFault(t)
	n := sized(20, 200)
	hang := testkit.NewAgent(t)
	hang.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) { <-r.Context().Done() }
	reset := testkit.NewAgent(t)
	reset.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) { resetConn(w) }
	var flakyTries sync.Map
	flaky := testkit.NewAgent(t)
	flaky.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		v, _ := flakyTries.LoadOrStore(r.Header.Get("Idempotency-Key"), new(atomic.Int64))
		if v.(*atomic.Int64).Add(1) == 1 {
			resetConn(w)
			return
		}
		flaky.Echo(w, r, body)
	}
	globals := fmt.Sprintf(`		agent hang {
			reverse_proxy %s
		}
		agent reset {
			reverse_proxy %s
		}
		agent flaky {
			reverse_proxy %s
		}
		workers 64
		queue {
			attempts 2
			backoff 50ms
			timeout 500ms
		}
`, hang.Addr(), reset.Addr(), flaky.Addr())
	routes := `
	agenthook /sync/hang hang {
		auth none
		timeout 500ms
	}
	agenthook /sync/reset reset {
		auth none
	}
	agenthook /async/hang hang {
		auth none
		mode async
	}
	agenthook /async/reset reset {
		auth none
		mode async
	}
	agenthook /async/flaky flaky {
		auth none
		mode async
	}
	agenthook_status /api/task_status*
`
	s := startSite(t, globals, routes)
	c := faultClient()
	g0, _ := s.caddy.Goroutines()

	// Sync: n concurrent calls to each; every answer in bounded time.
	type outcome struct {
		path string
		code int
		took time.Duration
	}
	var mu sync.Mutex
	var outs []outcome
	var wg sync.WaitGroup
	for _, path := range []string{"/sync/hang", "/sync/reset"} {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				resp, err := c.Post(s.base+path, "application/json", strings.NewReader(`{}`))
				code := -1
				if err == nil {
					code = resp.StatusCode
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				outs = append(outs, outcome{path, code, time.Since(start)})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	var worst = map[string]time.Duration{}
	for _, o := range outs {
		want := map[string]int{"/sync/hang": 504, "/sync/reset": 502}[o.path]
		if o.code != want {
			t.Fatalf("%s answered %d, want %d", o.path, o.code, want)
		}
		worst[o.path] = max(worst[o.path], o.took)
	}
	if worst["/sync/hang"] > 3*time.Second || worst["/sync/reset"] > 3*time.Second {
		t.Fatalf("slowest answers %v: not bounded (timeout 500ms)", worst)
	}

	// Async: n tasks each; hang and reset fail after 2 attempts, flaky
	// succeeds on its second.
	var hangIDs, resetIDs, flakyIDs []string
	for i := 0; i < n; i++ {
		h, _ := s.submit("/async/hang", `{}`, nil)
		r, _ := s.submit("/async/reset", `{}`, nil)
		f, _ := s.submit("/async/flaky", `{}`, nil)
		hangIDs, resetIDs, flakyIDs = append(hangIDs, h), append(resetIDs, r), append(flakyIDs, f)
	}
	check := func(ids []string, status string, attempts int, errPart string) {
		for _, id := range ids {
			v := s.waitFinal(id, 60*time.Second)
			if v.Status != status || v.Attempts != attempts || !strings.Contains(v.Error, errPart) {
				t.Fatalf("task %s: %+v; want %s after %d attempts with %q", id, v, status, attempts, errPart)
			}
		}
	}
	check(hangIDs, "FAILURE", 2, "did not answer within")
	check(resetIDs, "FAILURE", 2, "could not be reached")
	// A reset flaky call is retried: by Go's transport on a fresh
	// connection (the request carries Idempotency-Key, so it is
	// replayable), or else as a second attempt.
	retried := 0
	for _, id := range flakyIDs {
		v := s.waitFinal(id, 60*time.Second)
		if v.Status != "SUCCESS" || v.Attempts > 2 {
			t.Fatalf("flaky task %s: %+v; want SUCCESS", id, v)
		}
		if n, ok := flakyTries.Load(id); !ok || n.(*atomic.Int64).Load() < 2 {
			t.Fatalf("flaky task %s succeeded without the reset try", id)
		}
		if v.Attempts == 2 {
			retried++
		}
	}

	// Nothing left hanging: goroutines back near where they started.
	c.CloseIdleConnections()
	var g1 int
	testkit.Eventually(t, 15*time.Second, func() bool {
		g1, _ = s.caddy.Goroutines()
		return g1 <= g0+20
	}, "goroutines %d, %d before the hanging and resetting backends", g1, g0)
	fr.Number("calls", float64(n))
	fr.Number("slowest_504_ms", float64(worst["/sync/hang"].Milliseconds()))
	fr.Number("slowest_502_ms", float64(worst["/sync/reset"].Milliseconds()))
	fr.Number("second_attempts", float64(retried))
	fr.Number("goroutines_before", float64(g0))
	fr.Number("goroutines_after", float64(g1))
	fr.Summary("%d sync calls each to a hanging and a resetting backend: all 504 (slowest %s, timeout 500ms) and 502 (slowest %s); %d async tasks each: hanging and resetting ones FAILURE after 2 attempts with a readable error, flaky ones SUCCESS after the reset (%d of them as a 2nd attempt, the rest retried by the transport); goroutines %d before, %d after",
		n, worst["/sync/hang"].Round(time.Millisecond), worst["/sync/reset"].Round(time.Millisecond), n, retried, g0, g1)
}

// resetConn closes the connection with an RST, as a crashing backend does.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// ---------------------------------------------------------------- F5

// TestFaultF5PostgresRestart restarts PostgreSQL under load, with the
// PostgreSQL store: Caddy recovers without a restart and loses nothing.
func TestFaultF5PostgresRestart(t *testing.T) {
	fr := testkit.RecordFault(t)
	// Is the PostgreSQL store in this build? Provisioning says so before
	// it connects anywhere.
	probe := testkit.New(t)
	port := testkit.FreePort(t)
	probeSite := fmt.Sprintf("http://127.0.0.1:%d {\n\trespond 200\n}\n", port)
	probe.Start(fmt.Sprintf("{\n\tadmin %s\n}\n", probe.Admin)+probeSite, port)
	err := probe.TryReload(fmt.Sprintf(`{
	admin %s
	agenthook {
		storage postgres "postgres://agenthook@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	}
}
`, probe.Admin) + probeSite)
	probe.Kill()
	if err != nil && strings.Contains(err.Error(), "not available in this build") {
		fr.Skip("`storage postgres` is not available in this build yet; F5 runs once the PostgreSQL store is wired into Caddy")
	}

	srv := testkit.StartPostgres(t)
	dsn := srv.NewDatabase(t)
	restarts := sized(1, 3)
	agent := testkit.NewAgentWith(t, fake.AgentOptions{MaxCalls: -1})
	// Arrivals are all these checks need; whole deliveries would cost
	// this process memory and CPU next to the Caddy under test.
	sink := testkit.NewSinkWith(t, fake.SinkOptions{MaxKept: -1})
	c := testkit.New(t)
	s := &site{t: t, caddy: c, port: testkit.FreePort(t), storage: "storage postgres " + strconv.Quote(dsn)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	globals := faultCallbacksGlobals(agent.Addr(), sink.URL, fastRetry, "", 8)
	c.Start(s.caddyfile(globals, asyncRoutes), s.port)
	cl := faultClient()
	tl := newTally()
	stop := make(chan struct{})
	wg := submitUntil(t, cl, s.base+"/tasks", alice, 4, stop, tl, true, http.StatusServiceUnavailable)
	var outages []string
	for i := 0; i < restarts; i++ {
		time.Sleep(sized(time.Second, 3*time.Second))
		before := len(tl.ids())
		start := time.Now()
		// The last restart of the full run is a crash (SIGKILL), the others
		// a fast shutdown.
		crash := faultsFull() && i == restarts-1
		var err error
		if crash {
			err = srv.Kill9()
		} else {
			err = srv.Stop()
		}
		if err != nil {
			t.Fatalf("stopping PostgreSQL: %v", err)
		}
		time.Sleep(sized(500*time.Millisecond, 2*time.Second))
		if err := srv.Start(); err != nil {
			t.Fatalf("starting PostgreSQL again: %v", err)
		}
		kind := map[bool]string{true: "kill -9", false: "fast stop"}[crash]
		outages = append(outages, fmt.Sprintf("%s, down %s", kind, time.Since(start).Round(100*time.Millisecond)))
		t.Logf("restart %d (%s): %d tasks accepted before it", i+1, kind, before)
	}
	time.Sleep(sized(2*time.Second, 5*time.Second))
	close(stop)
	wg.Wait()
	if len(tl.bad) > 0 {
		t.Fatalf("answers other than 202/503 while PostgreSQL restarted: %v (%s)", tl.bad, tl)
	}
	if !c.Running() {
		t.Fatal("Caddy died when PostgreSQL restarted")
	}
	ids := tl.ids()
	final := s.waitAllFinal(ids, sized(120*time.Second, 300*time.Second))
	if final["SUCCESS"] != len(ids) {
		t.Fatalf("final states %v of %d accepted tasks", final, len(ids))
	}
	waitDelivered(t, sink, ids, []string{"/a", "/b"}, sized(120*time.Second, 300*time.Second))
	fr.Number("restarts", float64(restarts))
	fr.Number("tasks", float64(len(ids)))
	fr.Number("deliveries", float64(2*len(ids)))
	fr.Summary("PostgreSQL restarted %d times under load (%s) without restarting Caddy; %s; all %d accepted tasks SUCCESS and all %d deliveries arrived",
		restarts, strings.Join(outages, "; "), tl, len(ids), 2*len(ids))
}

// ---------------------------------------------------------------- F6

// badReq is one malformed or forged request and its documented answer.
type badReq struct {
	name   string
	method string
	path   string
	header map[string]string
	body   []byte
	// chunked sends the body without Content-Length.
	chunked bool
	status  int
	codes   []string // any of these error codes; nil: not checked
	// replayOf, for a duplicate that must get the first answer instead of
	// an error: the task id of that answer.
	replayOf string
}

// TestFaultF6BadInputStorm sends every malformed or forged request type
// of the issues, at volume: each gets its documented status and error
// code, Caddy does not panic, its goroutines come back to the baseline and
// its memory stays flat.
func TestFaultF6BadInputStorm(t *testing.T) {
	fr := testkit.RecordFault(t)
	rounds := sized(150, 1500)
	agent := testkit.NewAgent(t)
	hash, err := signing.HashPassword("alice-pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	routes := fmt.Sprintf(`
	agenthook /hmac support {
		auth hmac hmac-secret
		mode async
	}
	agenthook /hmac-b support {
		auth hmac hmac-secret-b
		mode async
	}
	agenthook /sw support {
		auth standard_webhooks %s
		mode async
	}
	agenthook /github support {
		auth github gh-secret
		mode async
	}
	agenthook /stripe support {
		auth stripe %s
		mode async
	}
	agenthook /basic support {
		auth basic {
			alice %s
		}
		mode async
	}
	agenthook /bearer support {
		auth bearer alice-token
		auth bearer bob-token
		mode async
	}
	agenthook /sync support {
		auth bearer alice-token
		auth bearer bob-token
	}
	agenthook /cognigy support {
		auth bearer alice-token
		format cognigy
		mode async
	}
	agenthook /small support {
		auth none
		max_body 1KB
		mode async
	}
	agenthook /api/webhooks/agents/* {
		agent_from_token
		mode async
	}
	agenthook_status /api/task_status*
	agenthook_status /private/task_status* {
		auth bearer alice-token bob-token
	}
	@api path /api/agents/* /api/deliveries/* /api/tasks/*
	agenthook_api @api {
		bearer %s
	}
`, swSecret, stripeSecret, hash, apiKey)
	// A receiver, to learn this installation's delivery marker, which the
	// storm sends back.
	sink := testkit.NewSink(t)
	agentWithCallback := strings.TrimSuffix(agentBlock("support", agent.Addr()), "\t\t}\n") + "\t\t\tcallback " + sink.URL + "/f6\n\t\t}\n"
	s := startSite(t, agentWithCallback+"\t\tdelivery {\n\t\t\tallow_networks 127.0.0.1/32\n\t\t}\n", routes)

	body := []byte(`{"prompt":"storm"}`)
	wh, _ := standardwebhooks.NewWebhook(swSecret)
	swHeaders := func(id string, ts time.Time, b []byte) map[string]string {
		sig, _ := wh.Sign(id, ts, b)
		return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10), "webhook-signature": sig}
	}
	// One accepted Standard Webhooks message, replayed below.
	replayed := swHeaders("msg_storm_replayed", time.Now(), body)
	swTask, _ := s.submit("/sw", string(body), replayed)
	// Alice's chat and task, for the other-principal cases.
	aliceTask, aliceChat := s.submit("/bearer", `{}`, alice)
	// Sender A's chat on /hmac; sender B, on /hmac-b with a key of its
	// own, takes A's Idempotency-Key first.
	signedA := func(key string) map[string]string {
		return map[string]string{"X-Signature": hmacHex("hmac-secret", body), "Idempotency-Key": key}
	}
	s.submit("/hmac-b", string(body), map[string]string{"X-Signature": hmacHex("hmac-secret-b", body), "Idempotency-Key": "storm-key"})
	hmacTask, hmacChat := s.submit("/hmac", string(body), signedA("storm-key"))
	testkit.Eventually(t, 15*time.Second, func() bool { return len(sink.Received()) > 0 }, "no delivery reached the receiver")
	origin := sink.Received()[0].Header.Get("X-Agenthook-Origin")
	adminPort := portOf(t, s.caddy.Admin)
	stripeHeader := func(secret string, ts time.Time, b []byte) string {
		tt := strconv.FormatInt(ts.Unix(), 10)
		return "t=" + tt + ",v1=" + hmacHex(secret, []byte(tt+"."+string(b)))
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	goodHMAC := hmacHex("hmac-secret", body)
	auth401 := []string{"unauthorized"}
	api := func(h map[string]string) map[string]string {
		m := map[string]string{"Authorization": "Bearer " + apiKey, "Content-Type": "application/json"}
		for k, v := range h {
			m[k] = v
		}
		return m
	}
	big := bytes.Repeat([]byte("x"), 4096)
	// fresh makes per-request values (ids, timestamps) where a fixed one
	// would test something else (replay) by accident.
	type gen func(i int) badReq
	fixed := func(r badReq) gen { return func(int) badReq { return r } }
	kinds := []gen{
		// HMAC (UPTIQ): wrong, missing, garbled, truncated, forged.
		fixed(badReq{name: "hmac wrong", path: "/hmac", header: map[string]string{"X-Signature": hmacHex("other", body)}, status: 401, codes: auth401}),
		fixed(badReq{name: "hmac missing", path: "/hmac", status: 401, codes: auth401}),
		fixed(badReq{name: "hmac garbled", path: "/hmac", header: map[string]string{"X-Signature": "zz" + goodHMAC[2:]}, status: 401, codes: auth401}),
		fixed(badReq{name: "hmac truncated", path: "/hmac", header: map[string]string{"X-Signature": goodHMAC[:31]}, status: 401, codes: auth401}),
		fixed(badReq{name: "hmac of another body", path: "/hmac", header: map[string]string{"X-Signature": hmacHex("hmac-secret", []byte(`{"prompt":"other"}`))}, status: 401, codes: auth401}),
		fixed(badReq{name: "hmac huge header", path: "/hmac", header: map[string]string{"X-Signature": strings.Repeat("a", 8000)}, status: 401, codes: auth401}),
		// Standard Webhooks: wrong, missing, garbled, truncated, skewed, replayed.
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_w_%d", i), time.Now(), body)
			h["webhook-signature"] = "v1," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
			return badReq{name: "standard webhooks wrong", path: "/sw", header: h, status: 401, codes: auth401}
		},
		fixed(badReq{name: "standard webhooks missing", path: "/sw", status: 401, codes: auth401}),
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_g_%d", i), time.Now(), body)
			h["webhook-signature"] = "v1,!!!not-base64!!!"
			return badReq{name: "standard webhooks garbled", path: "/sw", header: h, status: 401, codes: auth401}
		},
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_t_%d", i), time.Now(), body)
			h["webhook-signature"] = h["webhook-signature"][:20]
			return badReq{name: "standard webhooks truncated", path: "/sw", header: h, status: 401, codes: auth401}
		},
		func(i int) badReq {
			return badReq{name: "standard webhooks 6 min old", path: "/sw", header: swHeaders(fmt.Sprintf("msg_o_%d", i), time.Now().Add(-6*time.Minute), body), status: 401, codes: auth401}
		},
		func(i int) badReq {
			return badReq{name: "standard webhooks 6 min ahead", path: "/sw", header: swHeaders(fmt.Sprintf("msg_f_%d", i), time.Now().Add(6*time.Minute), body), status: 401, codes: auth401}
		},
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_n_%d", i), time.Now(), body)
			h["webhook-timestamp"] = "not-a-number"
			return badReq{name: "standard webhooks bad timestamp", path: "/sw", header: h, status: 401, codes: auth401}
		},
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_a_%d", i), time.Now(), body)
			h["webhook-signature"] = "v1a," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 64))
			return badReq{name: "standard webhooks forged v1a", path: "/sw", header: h, status: 401, codes: auth401}
		},
		func(i int) badReq {
			h := swHeaders(fmt.Sprintf("msg_b_%d", i), time.Now(), []byte(`{"prompt":"other"}`))
			return badReq{name: "standard webhooks signature of another body", path: "/sw", header: h, status: 401, codes: auth401}
		},
		fixed(badReq{name: "standard webhooks duplicate of an accepted message", path: "/sw", header: replayed, status: 202, replayOf: swTask}),
		// GitHub.
		fixed(badReq{name: "github wrong", path: "/github", header: map[string]string{"X-Hub-Signature-256": "sha256=" + hmacHex("nope", body)}, status: 401, codes: auth401}),
		fixed(badReq{name: "github no prefix", path: "/github", header: map[string]string{"X-Hub-Signature-256": hmacHex("gh-secret", body)}, status: 401, codes: auth401}),
		fixed(badReq{name: "github missing", path: "/github", status: 401, codes: auth401}),
		fixed(badReq{name: "github garbled", path: "/github", header: map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("g", 64)}, status: 401, codes: auth401}),
		fixed(badReq{name: "github truncated", path: "/github", header: map[string]string{"X-Hub-Signature-256": "sha256=" + hmacHex("gh-secret", body)[:40]}, status: 401, codes: auth401}),
		// Stripe.
		func(int) badReq {
			return badReq{name: "stripe wrong", path: "/stripe", header: map[string]string{"Stripe-Signature": stripeHeader("nope", time.Now(), body)}, status: 401, codes: auth401}
		},
		func(int) badReq {
			return badReq{name: "stripe skewed", path: "/stripe", header: map[string]string{"Stripe-Signature": stripeHeader(stripeSecret, time.Now().Add(-301*time.Second), body)}, status: 401, codes: auth401}
		},
		fixed(badReq{name: "stripe garbled", path: "/stripe", header: map[string]string{"Stripe-Signature": "t=,v1=,,=="}, status: 401, codes: auth401}),
		fixed(badReq{name: "stripe missing", path: "/stripe", status: 401, codes: auth401}),
		func(int) badReq {
			h := stripeHeader(stripeSecret, time.Now(), body)
			return badReq{name: "stripe truncated", path: "/stripe", header: map[string]string{"Stripe-Signature": h[:len(h)-10]}, status: 401, codes: auth401}
		},
		// Basic and bearer.
		fixed(badReq{name: "basic wrong password", path: "/basic", header: map[string]string{"Authorization": basic("alice", "nope")}, status: 401, codes: auth401}),
		fixed(badReq{name: "basic unknown user", path: "/basic", header: map[string]string{"Authorization": basic("mallory", "alice-pw")}, status: 401, codes: auth401}),
		fixed(badReq{name: "basic garbled", path: "/basic", header: map[string]string{"Authorization": "Basic !!!"}, status: 401, codes: auth401}),
		fixed(badReq{name: "basic missing", path: "/basic", status: 401, codes: auth401}),
		fixed(badReq{name: "basic without a colon", path: "/basic", header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, status: 401, codes: auth401}),
		fixed(badReq{name: "bearer wrong", path: "/bearer", header: map[string]string{"Authorization": "Bearer nope"}, status: 401, codes: auth401}),
		fixed(badReq{name: "bearer missing", path: "/bearer", status: 401, codes: auth401}),
		fixed(badReq{name: "bearer garbled scheme", path: "/bearer", header: map[string]string{"Authorization": "Token alice-token"}, status: 401, codes: auth401}),
		fixed(badReq{name: "bearer truncated", path: "/bearer", header: map[string]string{"Authorization": "Bearer alice-tok"}, status: 401, codes: auth401}),
		// Cognigy bodies.
		fixed(badReq{name: "cognigy bad JSON", path: "/cognigy", header: alice, body: []byte(`{"userId": "u1", "sessionId": `), status: 400, codes: []string{"invalid_json"}}),
		fixed(badReq{name: "cognigy not an object", path: "/cognigy", header: alice, body: []byte(`[1,2,3]`), status: 400, codes: []string{"invalid_json"}}),
		fixed(badReq{name: "cognigy no userId", path: "/cognigy", header: alice, body: []byte(`{"sessionId":"s","text":"hi"}`), status: 400, codes: []string{"missing_fields"}}),
		fixed(badReq{name: "cognigy no sessionId", path: "/cognigy", header: alice, body: []byte(`{"userId":"u","text":"hi"}`), status: 400, codes: []string{"missing_fields"}}),
		fixed(badReq{name: "cognigy no text or data", path: "/cognigy", header: alice, body: []byte(`{"userId":"u","sessionId":"s"}`), status: 400, codes: []string{"missing_fields"}}),
		fixed(badReq{name: "cognigy wrong types", path: "/cognigy", header: alice, body: []byte(`{"userId":1,"sessionId":["s"],"text":{},"data":"x"}`), status: 400, codes: []string{"missing_fields"}}),
		// Oversized bodies, with and without Content-Length.
		fixed(badReq{name: "oversized with Content-Length", path: "/small", body: big, status: 413, codes: []string{"body_too_large"}}),
		fixed(badReq{name: "oversized chunked", path: "/small", body: big, chunked: true, status: 413, codes: []string{"body_too_large"}}),
		// Wrong methods.
		fixed(badReq{name: "GET on an endpoint", method: "GET", path: "/bearer", header: alice, status: 405, codes: []string{"method_not_allowed"}}),
		fixed(badReq{name: "PUT on an endpoint", method: "PUT", path: "/hmac", body: body, status: 405, codes: []string{"method_not_allowed"}}),
		fixed(badReq{name: "DELETE on an endpoint", method: "DELETE", path: "/sync", header: alice, status: 405, codes: []string{"method_not_allowed"}}),
		fixed(badReq{name: "POST on status", path: "/api/task_status?task_id=AAAAAAAAAAAAAAAAAAAAAA", status: 405, codes: []string{"method_not_allowed"}}),
		// Chats.
		func(int) badReq {
			return badReq{name: "unknown chat id", path: "/sync", header: map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": randID()}, status: 404, codes: []string{"chat_not_found"}}
		},
		fixed(badReq{name: "malformed chat id", path: "/sync", header: map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": "../../etc/passwd"}, status: 404, codes: []string{"chat_not_found"}}),
		fixed(badReq{name: "another principal's chat", path: "/bearer", header: map[string]string{"Authorization": "Bearer bob-token", "X-Continue-Chat-Id": aliceChat}, status: 404, codes: []string{"chat_not_found"}}),
		fixed(badReq{name: "another HMAC sender's chat", path: "/hmac-b", header: map[string]string{"X-Signature": hmacHex("hmac-secret-b", body), "X-Continue-Chat-Id": hmacChat}, status: 404, codes: []string{"chat_not_found"}}),
		fixed(badReq{name: "Idempotency-Key taken first by another sender", path: "/hmac", header: signedA("storm-key"), status: 202, replayOf: hmacTask}),
		// Tasks.
		func(int) badReq {
			return badReq{name: "unknown task id", method: "GET", path: "/api/task_status?task_id=" + randID(), status: 404, codes: []string{"task_not_found"}}
		},
		fixed(badReq{name: "malformed task id", method: "GET", path: "/api/task_status?task_id=..%2F..%2Fetc%2Fpasswd", status: 404, codes: []string{"task_not_found"}}),
		fixed(badReq{name: "oversized task id", method: "GET", path: "/api/task_status/" + strings.Repeat("a", 300), status: 404, codes: []string{"task_not_found"}}),
		fixed(badReq{name: "missing task id", method: "GET", path: "/api/task_status", status: 404, codes: []string{"task_not_found"}}),
		fixed(badReq{name: "another principal's task", method: "GET", path: "/private/task_status?task_id=" + aliceTask, header: map[string]string{"Authorization": "Bearer bob-token"}, status: 404, codes: []string{"task_not_found"}}),
		// URL tokens.
		fixed(badReq{name: "bad URL token", path: "/api/webhooks/agents/tok-nope", body: body, status: 404, codes: []string{"not_found"}}),
		fixed(badReq{name: "token hash as token", path: "/api/webhooks/agents/" + signing.HashToken("tok-support-1"), body: body, status: 404, codes: []string{"not_found"}}),
		// Management API: keys and bodies.
		fixed(badReq{name: "API without key", method: "GET", path: "/api/agents/support/webhooks", status: 401, codes: auth401}),
		fixed(badReq{name: "API wrong key", method: "GET", path: "/api/agents/support/webhooks", header: map[string]string{"Authorization": "Bearer nope"}, status: 401, codes: auth401}),
		fixed(badReq{name: "API bad JSON", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":`), status: 400, codes: []string{"invalid_json"}}),
		fixed(badReq{name: "API missing url", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"method":"POST"}`), status: 400, codes: []string{"missing_fields", "bad_request"}}),
		fixed(badReq{name: "API bad url", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"ftp://x y","method":"POST"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API internal url", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://169.254.169.254/latest","method":"POST"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API bad method", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://127.0.0.1:9/x","method":"GET"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API bad status", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://127.0.0.1:9/x","method":"POST","status":"maybe"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API bad limit", method: "GET", path: "/api/agents/support/deliveries?limit=-5", header: api(nil), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API bad recover body", path: "/api/agents/support/deliveries/recover", header: api(nil), body: []byte(`{"since":"yesterday"}`), status: 400, codes: []string{"bad_request", "invalid_json", "missing_fields"}}),
		fixed(badReq{name: "API unknown agent", method: "GET", path: "/api/agents/nope/webhooks", header: api(nil), status: 404, codes: []string{"not_found"}}),
		func(int) badReq {
			return badReq{name: "API unknown delivery", method: "GET", path: "/api/deliveries/" + randID(), header: api(nil), status: 404, codes: []string{"not_found"}}
		},
		// Callbacks that lead back to this server, and loops.
		fixed(badReq{name: "API callback to the admin endpoint", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://` + s.caddy.Admin + `/stop"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API callback to the admin endpoint by name", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://localhost:` + adminPort + `/load"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "API callback to this server", path: "/api/agents/support/webhooks", header: api(nil), body: []byte(`{"url":"http://127.0.0.1:` + strconv.Itoa(s.port) + `/api/webhooks/agents/tok-support-1"}`), status: 400, codes: []string{"bad_request"}}),
		fixed(badReq{name: "our own delivery coming back", path: "/bearer", header: map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Origin": origin, "X-Agenthook-Hops": "1"}, status: 508, codes: []string{"loop_detected"}}),
		fixed(badReq{name: "our own delivery coming back to a token URL", path: "/api/webhooks/agents/tok-support-1", header: map[string]string{"X-Agenthook-Origin": origin}, status: 508, codes: []string{"loop_detected"}}),
		fixed(badReq{name: "hops over the limit", path: "/bearer", header: map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Hops": "4"}, status: 508, codes: []string{"loop_detected"}}),
		fixed(badReq{name: "hops not a number", path: "/sync", header: map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Hops": "1e9"}, status: 400, codes: []string{"bad_request"}}),
		// Idempotency-Key too long.
		fixed(badReq{name: "Idempotency-Key too long", path: "/bearer", header: map[string]string{"Authorization": "Bearer alice-token", "Idempotency-Key": strings.Repeat("k", 300)}, status: 400, codes: []string{"bad_request"}}),
	}

	c := faultClient()
	send := func(r badReq) error {
		method := r.method
		if method == "" {
			method = http.MethodPost
		}
		b := r.body
		if b == nil && method == http.MethodPost {
			b = body
		}
		var rd io.Reader = bytes.NewReader(b)
		if r.chunked {
			rd = &chunked{r: bytes.NewReader(b)}
		}
		req, err := http.NewRequest(method, s.base+r.path, rd)
		if err != nil {
			return err
		}
		if method == http.MethodGet || method == http.MethodDelete {
			req.Body, req.ContentLength = nil, 0
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %v", r.name, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != r.status {
			return fmt.Errorf("%s: status %d, want %d: %s", r.name, resp.StatusCode, r.status, rb)
		}
		if r.replayOf != "" {
			var a struct {
				TaskID string `json:"task_id"`
			}
			if json.Unmarshal(rb, &a) != nil || a.TaskID != r.replayOf || resp.Header.Get("Idempotent-Replayed") != "true" {
				return fmt.Errorf("%s: answer %s (Idempotent-Replayed %q), want the first one, task %s", r.name, rb, resp.Header.Get("Idempotent-Replayed"), r.replayOf)
			}
			return nil
		}
		var e struct{ Error, Code string }
		if err := json.Unmarshal(rb, &e); err != nil || e.Error == "" || e.Code == "" {
			return fmt.Errorf("%s: error body is not {error, code} JSON: %s", r.name, rb)
		}
		if r.codes != nil && !containsString(r.codes, e.Code) {
			return fmt.Errorf("%s: code %q, want one of %v (%s)", r.name, e.Code, r.codes, e.Error)
		}
		if r.status == 401 && r.path == "/basic" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			return fmt.Errorf("%s: 401 without WWW-Authenticate: Basic", r.name)
		}
		for _, secret := range []string{"hmac-secret", "hmac-secret-b", "gh-secret", stripeSecret, swSecret, "alice-pw", apiKey, "tok-support-1"} {
			if strings.Contains(string(rb), secret) {
				return fmt.Errorf("%s: the error echoes a secret: %s", r.name, rb)
			}
		}
		return nil
	}

	storm := func(rounds int) (int, []string) {
		var wg sync.WaitGroup
		var sent atomic.Int64
		var mu sync.Mutex
		var fails []string
		work := make(chan badReq, 64)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range work {
					sent.Add(1)
					if err := send(r); err != nil {
						mu.Lock()
						if len(fails) < 10 {
							fails = append(fails, err.Error())
						}
						mu.Unlock()
					}
				}
			}()
		}
		for i := 0; i < rounds; i++ {
			for _, k := range kinds {
				work <- k(i)
			}
		}
		close(work)
		wg.Wait()
		return int(sent.Load()), fails
	}

	// Warm up (one pass per kind, then a short storm), take the baseline,
	// storm, and compare.
	if n, fails := storm(max(5, rounds/10)); len(fails) > 0 {
		t.Fatalf("%d requests, failures: %s", n, strings.Join(fails, "\n"))
	}
	c.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond)
	g0, err := s.caddy.Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	rss0 := s.caddy.RSS()
	start := time.Now()
	n, fails := storm(rounds)
	took := time.Since(start)
	if len(fails) > 0 {
		t.Fatalf("%d requests, failures:\n%s", n, strings.Join(fails, "\n"))
	}
	rss1 := s.caddy.RSS()
	c.CloseIdleConnections()
	var g1 int
	testkit.Eventually(t, 15*time.Second, func() bool {
		g1, _ = s.caddy.Goroutines()
		return g1 <= g0+10
	}, "goroutines %d after the storm, %d before: a leak", g1, g0)
	if !s.caddy.Running() || strings.Contains(s.caddy.Log(), "panic") {
		t.Fatalf("Caddy panicked or died during the storm:\n%s", lastLines(s.caddy.Log(), 30))
	}
	const mib = 1 << 20
	if rss0 > 0 && rss1 > rss0+rss0/2+32*mib {
		t.Fatalf("RSS grew from %d MiB to %d MiB during the storm", rss0/mib, rss1/mib)
	}
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, k(0).name)
	}
	sort.Strings(names)
	fr.Number("requests", float64(n))
	fr.Number("kinds", float64(len(kinds)))
	fr.Number("seconds", took.Seconds())
	fr.Number("goroutines_before", float64(g0))
	fr.Number("goroutines_after", float64(g1))
	fr.Number("rss_before_mib", float64(rss0/mib))
	fr.Number("rss_after_mib", float64(rss1/mib))
	fr.Summary("%d bad requests (%d kinds × %d) in %s, every one answered its documented status and code; goroutines %d before, %d after; RSS %d MiB before, %d MiB after; no panic",
		n, len(kinds), rounds, took.Round(100*time.Millisecond), g0, g1, rss0/mib, rss1/mib)
	t.Logf("kinds: %s", strings.Join(names, "; "))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func randID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
