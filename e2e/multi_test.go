package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// pair is two Caddy instances sharing one PostgreSQL database.
type pair struct {
	a, b    *site
	globals string
	routes  string
}

// pgSite starts one Caddy on the PostgreSQL store; the DSN reaches it
// through {env.AGENTHOOK_PG_DSN}, as an operator would pass it.
func pgSite(t *testing.T, dsn, globals, routes string) *site {
	t.Helper()
	c := testkit.New(t)
	c.Env = []string{"AGENTHOOK_PG_DSN=" + dsn}
	s := &site{t: t, caddy: c, port: testkit.FreePort(t), storage: "storage postgres {env.AGENTHOOK_PG_DSN}"}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	c.Start(s.caddyfile(globals, routes), s.port)
	return s
}

func startPair(t *testing.T, dsn, globals, routes string) *pair {
	t.Helper()
	return &pair{a: pgSite(t, dsn, globals, routes), b: pgSite(t, dsn, globals, routes), globals: globals, routes: routes}
}

// countingAgent answers like an agent and counts runs per task.
func countingAgent(t *testing.T, delay time.Duration) (*testkit.Agent, *sync.Map) {
	var runs sync.Map
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if delay > 0 {
			time.Sleep(delay)
		}
		n, _ := runs.LoadOrStore(r.Header.Get("Idempotency-Key"), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		agent.Echo(w, r, body)
	}
	return agent, &runs
}

// TestMultiInstanceShared: a task accepted on A is polled on B, and a chat
// started on A continues on B.
func TestMultiInstanceShared(t *testing.T) {
	t.Parallel()
	dsn := testkit.Postgres(t)
	agent := testkit.NewAgent(t)
	routes := asyncRoutes + `
	agenthook /sync support {
		auth bearer alice-token
	}
`
	p := startPair(t, dsn, agentBlock("support", agent.Addr()), routes)
	task, chat := p.a.submit("/tasks", `{"prompt":"on A"}`, alice)
	v := p.b.waitFinal(task, 15*time.Second)
	if v.Status != "SUCCESS" || v.ChatID != chat {
		t.Fatalf("polled on B: %+v", v)
	}
	// The chat continues on B (on the endpoint that started it: a chat
	// is its caller's, and the caller includes the endpoint), with the
	// conversation A started.
	h := map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": chat}
	task2, chat2 := p.b.submit("/tasks", `{"prompt":"on B"}`, h)
	v = p.a.waitFinal(task2, 15*time.Second)
	if m := decode(t, v.Result); chat2 != chat || m["turn"] != float64(2) {
		t.Fatalf("B did not continue A's conversation: chat %s, result %s", chat2, v.Result)
	}
	// And a sync chat started on B continues on A.
	resp, b := p.b.post("/sync", []byte(`{}`), alice)
	wantStatus(t, resp, b, 200, "")
	h["X-Continue-Chat-Id"] = resp.Header.Get("X-Chat-Id")
	resp, b = p.a.post("/sync", []byte(`{}`), h)
	wantStatus(t, resp, b, 200, "")
	if m := decode(t, b); m["turn"] != float64(2) {
		t.Fatalf("A did not continue B's chat: %s", b)
	}
	// Idempotency keys are shared: the same key on B answers A's task.
	hk := map[string]string{"Authorization": "Bearer alice-token", "Idempotency-Key": "shared-1"}
	first, _ := p.a.submit("/tasks", `{"k":1}`, hk)
	resp, b = p.b.post("/tasks", []byte(`{"k":1}`), hk)
	wantStatus(t, resp, b, 202, "")
	if decode(t, b)["task_id"] != first {
		t.Fatalf("B created a second task for an Idempotency-Key A had seen: %s", b)
	}
}

// TestMultiInstanceThousand sends 1,000 tasks alternately to A and B with
// callbacks: every task runs once and every delivery arrives once.
func TestMultiInstanceThousand(t *testing.T) {
	t.Parallel()
	dsn := testkit.Postgres(t)
	agent, runs := countingAgent(t, 0)
	sink := testkit.NewSink(t)
	globals := fmt.Sprintf(`		workers 8
		delivery {
			allow_networks 127.0.0.1/32
			%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
			callback %s/hook
		}
`, fastRetry, agent.Addr(), sink.URL)
	p := startPair(t, dsn, globals, asyncRoutes)
	const n = 1000
	tasks := make([]string, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				target := p.a
				if i%2 == 1 {
					target = p.b
				}
				resp, err := postRetrying(target.base+"/tasks", []byte(fmt.Sprintf(`{"n":%d}`, i)), alice)
				if err != nil || resp.StatusCode != 202 {
					failed.Add(1)
					continue
				}
				var a struct {
					TaskID string `json:"task_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&a)
				tasks[i] = a.TaskID
			}
		}(w)
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d submissions failed", failed.Load())
	}
	testkit.Eventually(t, 90*time.Second, func() bool { return len(sink.Received()) >= n }, "%d of %d deliveries arrived", len(sink.Received()), n)
	time.Sleep(500 * time.Millisecond) // let any duplicate show up
	seen := map[string]int{}
	for _, c := range sink.Received() {
		seen[c.Header.Get("Webhook-Id")]++
	}
	dups := 0
	for _, k := range seen {
		if k > 1 {
			dups++
		}
	}
	if len(seen) != n || dups > 0 {
		t.Fatalf("%d unique deliveries (want %d), %d duplicated", len(seen), n, dups)
	}
	twice := 0
	for _, task := range tasks {
		v, ok := runs.Load(task)
		if !ok {
			t.Fatalf("task %s never ran", task)
		}
		if v.(*atomic.Int64).Load() != 1 {
			twice++
		}
	}
	if twice > 0 {
		t.Fatalf("%d tasks ran more than once", twice)
	}
	// Both instances did work.
	for name, s := range map[string]*site{"A": p.a, "B": p.b} {
		resp, b := s.get("/api/task_status?task_id="+tasks[0], nil)
		wantStatus(t, resp, b, 200, "")
		if !strings.Contains(s.caddy.Log(), "agenthook") {
			t.Fatalf("%s logged nothing", name)
		}
	}
}

// TestMultiInstanceKill kills A with SIGKILL while it holds leased tasks;
// B runs them once their leases run out, and nothing is lost.
func TestMultiInstanceKill(t *testing.T) {
	t.Parallel()
	dsn := testkit.Postgres(t)
	agent, runs := countingAgent(t, 300*time.Millisecond)
	sink := testkit.NewSink(t)
	globals := fmt.Sprintf(`		workers 4
		queue {
			timeout 2s
			lease 3s
		}
		delivery {
			allow_networks 127.0.0.1/32
			timeout 1s
			%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
			callback %s/hook
		}
`, fastRetry, agent.Addr(), sink.URL)
	p := startPair(t, dsn, globals, asyncRoutes)
	var tasks []string
	for i := 0; i < 60; i++ {
		target := p.a
		if i%3 == 2 {
			target = p.b
		}
		task, _ := target.submit("/tasks", fmt.Sprintf(`{"n":%d}`, i), alice)
		tasks = append(tasks, task)
	}
	// A is mid-way through its share when it dies.
	time.Sleep(700 * time.Millisecond)
	p.a.caddy.Kill9()
	for _, task := range tasks {
		if v := p.b.waitFinal(task, 60*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("task %s: %+v", task, v)
		}
	}
	for _, task := range tasks {
		if _, ok := runs.Load(task); !ok {
			t.Fatalf("task %s never reached the backend", task)
		}
	}
	testkit.Eventually(t, 60*time.Second, func() bool {
		ids := map[string]bool{}
		for _, c := range sink.Received() {
			ids[c.Header.Get("Webhook-Id")] = true
		}
		return len(ids) == len(tasks)
	}, "not every delivery arrived after A died")
}

// TestMultiInstancePostgresRestart stops PostgreSQL under load: endpoints
// answer 503 promptly while it is down, recover on their own when it is
// back, and every task answered 202 finishes.
func TestMultiInstancePostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testkit.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	agent, _ := countingAgent(t, 5*time.Millisecond)
	p := startPair(t, dsn, agentBlock("support", agent.Addr()), asyncRoutes)
	var mu sync.Mutex
	var accepted []string
	var slow atomic.Int64
	statuses := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			target := p.a
			if w%2 == 1 {
				target = p.b
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := postRetrying(target.base+"/tasks", []byte(`{}`), alice)
				if time.Since(start) > 8*time.Second {
					slow.Add(1)
				}
				if err != nil {
					continue
				}
				var a struct {
					TaskID string `json:"task_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&a)
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == 202 {
					accepted = append(accepted, a.TaskID)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}(w)
	}
	time.Sleep(time.Second)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers while PostgreSQL went down and came back: %v", statuses)
	for code, n := range statuses {
		if code != 202 && code != 503 {
			t.Fatalf("%d answers with status %d; only 202 and 503 are expected", n, code)
		}
	}
	if statuses[503] == 0 {
		t.Fatal("no 503 while PostgreSQL was down")
	}
	if slow.Load() > 0 {
		t.Fatalf("%d requests took over 8s: endpoints must answer promptly while the database is down", slow.Load())
	}
	for _, task := range accepted {
		if v := p.a.waitFinal(task, 60*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("task %s: %+v", task, v)
		}
	}
	t.Logf("%d tasks accepted, all finished", len(accepted))
}
