package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

const asyncRoutes = `
	agenthook /tasks support {
		auth bearer alice-token
		auth bearer bob-token
		mode async
	}
	agenthook /api/webhooks/agents/* {
		agent_from_token
		mode async
	}
	agenthook_status /api/task_status*
`

var alice = map[string]string{"Authorization": "Bearer alice-token"}

type taskView struct {
	TaskID        string          `json:"task_id"`
	Status        string          `json:"status"`
	Result        json.RawMessage `json:"result"`
	BackendStatus int             `json:"backend_status"`
	Error         string          `json:"error"`
	ChatID        string          `json:"chat_id"`
	Attempts      int             `json:"attempts"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// submit posts an async request and returns the task and chat ids.
func (s *site) submit(path string, body string, header map[string]string) (task, chat string) {
	s.t.Helper()
	resp, b := s.post(path, []byte(body), header)
	wantStatus(s.t, resp, b, 202, "")
	var a struct {
		TaskID string `json:"task_id"`
		ChatID string `json:"chat_id"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.TaskID == "" || a.ChatID == "" {
		s.t.Fatalf("202 body %s", b)
	}
	if resp.Header.Get("X-Chat-Id") != a.ChatID {
		s.t.Fatalf("X-Chat-Id %q, body chat %q", resp.Header.Get("X-Chat-Id"), a.ChatID)
	}
	return a.TaskID, a.ChatID
}

func (s *site) status(id string) (int, taskView) {
	s.t.Helper()
	resp, b := s.get("/api/task_status?task_id="+id, nil)
	var v taskView
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &v); err != nil {
			s.t.Fatalf("status body %s", b)
		}
	}
	return resp.StatusCode, v
}

// waitFinal polls until the task is SUCCESS or FAILURE.
func (s *site) waitFinal(id string, timeout time.Duration) taskView {
	s.t.Helper()
	var v taskView
	testkit.Eventually(s.t, timeout, func() bool {
		code, got := s.status(id)
		if code != 200 {
			s.t.Fatalf("status of %s: %d", id, code)
		}
		v = got
		return v.Status == "SUCCESS" || v.Status == "FAILURE"
	}, "task %s did not finish (last %+v)", id, v)
	return v
}

func TestAsyncSuccess(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("support", agent.Addr()), asyncRoutes)
	task, chat := s.submit("/tasks", `{"prompt":"one"}`, alice)
	if len(task) != 22 {
		t.Fatalf("task id %q: want 128 random bits, URL-safe", task)
	}
	v := s.waitFinal(task, 10*time.Second)
	if v.Status != "SUCCESS" || v.BackendStatus != 200 || v.ChatID != chat || v.TaskID != task {
		t.Fatalf("status %+v", v)
	}
	var result map[string]any
	if err := json.Unmarshal(v.Result, &result); err != nil || result["answer"] != `echo: {"prompt":"one"}` {
		t.Fatalf("result %s: the backend's JSON must be kept as JSON", v.Result)
	}
	if v.CreatedAt.IsZero() || v.UpdatedAt.Before(v.CreatedAt) {
		t.Fatalf("timestamps %+v", v)
	}
	// The other status form, GET .../<id>.
	resp, b := s.get("/api/task_status/"+task, nil)
	wantStatus(t, resp, b, 200, "")
	call := agent.Calls()[0]
	if call.Header.Get("Idempotency-Key") != task {
		t.Fatalf("backend Idempotency-Key %q, want the task id", call.Header.Get("Idempotency-Key"))
	}
	if call.Header.Get("Authorization") != "" {
		t.Fatal("the caller's credentials reached the backend")
	}
	// The next task of the chat continues the backend conversation.
	h := map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": chat}
	task2, chat2 := s.submit("/tasks", `{"prompt":"two"}`, h)
	if chat2 != chat {
		t.Fatal("continued task got another chat")
	}
	v = s.waitFinal(task2, 10*time.Second)
	if err := json.Unmarshal(v.Result, &result); err != nil || result["turn"] != float64(2) {
		t.Fatalf("second task did not continue the conversation: %s", v.Result)
	}
	// Another principal cannot continue it, nor (with auth on status) poll.
	resp, b = s.post("/tasks", []byte(`{}`), map[string]string{"Authorization": "Bearer bob-token", "X-Continue-Chat-Id": chat})
	wantStatus(t, resp, b, 404, "chat_not_found")
	// Unknown ids are 404, never PENDING.
	for _, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "nope", "../x", strings.Repeat("a", 200)} {
		resp, b := s.get("/api/task_status?task_id="+id, nil)
		wantStatus(t, resp, b, 404, "task_not_found")
	}
	resp, b = s.get("/api/task_status", nil)
	wantStatus(t, resp, b, 404, "task_not_found")
	resp, b = s.post("/api/task_status?task_id="+task, []byte(`{}`), nil)
	wantStatus(t, resp, b, 405, "method_not_allowed")
}

// TestAsyncDocsGPT follows DocsGPT's documented flow as pasted.
func TestAsyncDocsGPT(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("support", agent.Addr()), asyncRoutes)
	resp, b := s.post("/api/webhooks/agents/tok-support-1", []byte(`{"question": "Your message to agent"}`), nil)
	wantStatus(t, resp, b, 202, "")
	task := decode(t, b)["task_id"].(string)
	v := s.waitFinal(task, 10*time.Second)
	if v.Status != "SUCCESS" {
		t.Fatalf("%+v", v)
	}
	if p := agent.Calls()[0].Path; p != "/api/webhooks/agents/support" {
		t.Fatalf("backend path %q", p)
	}
}

func TestAsyncFailureAfterRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		fmt.Fprint(w, `{"error":"overloaded"}`)
	}
	hang := testkit.NewAgent(t)
	hang.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-r.Context().Done()
	}
	refuse := testkit.NewAgent(t)
	refuse.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(422)
		fmt.Fprint(w, "no such thing")
	}
	globals := agentBlock("support", agent.Addr()) + fmt.Sprintf(`		agent hang {
			reverse_proxy %s
		}
		agent refuse {
			reverse_proxy %s
		}
		queue {
			attempts 3
			backoff 20ms
			timeout 300ms
		}
`, hang.Addr(), refuse.Addr())
	s := startSite(t, globals, asyncRoutes+`
	agenthook /hang hang {
		auth none
		mode async
	}
	agenthook /refuse refuse {
		auth none
		mode async
	}
`)
	task, _ := s.submit("/tasks", `{}`, alice)
	v := s.waitFinal(task, 10*time.Second)
	if v.Status != "FAILURE" || v.Attempts != 3 || calls.Load() != 3 {
		t.Fatalf("after %d calls: %+v", calls.Load(), v)
	}
	if !strings.Contains(v.Error, "503") || !strings.Contains(v.Error, "3 attempts") {
		t.Fatalf("error %q: want a readable sentence with the status and attempts", v.Error)
	}
	if v.BackendStatus != 503 || !strings.Contains(string(v.Result), "overloaded") {
		t.Fatalf("the backend's last answer is kept as the result: %+v", v)
	}
	keys := map[string]bool{}
	for _, c := range agent.Calls() {
		keys[c.Header.Get("Idempotency-Key")] = true
	}
	if len(keys) != 1 || !keys[task] {
		t.Fatalf("retries must carry the same Idempotency-Key (the task id): %v", keys)
	}

	task, _ = s.submit("/hang", `{}`, nil)
	start := time.Now()
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "FAILURE" || !strings.Contains(v.Error, "did not answer within") {
		t.Fatalf("hanging backend: %+v", v)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("3 attempts of 300ms took %s", time.Since(start))
	}

	// A 4xx is the backend's final word: no retry.
	task, _ = s.submit("/refuse", `{}`, nil)
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "FAILURE" || v.Attempts != 1 || string(v.Result) != `"no such thing"` {
		t.Fatalf("4xx: %+v (result %s)", v, v.Result)
	}
}

func TestAsyncIdempotency(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("support", agent.Addr()), asyncRoutes)
	h := map[string]string{"Authorization": "Bearer alice-token", "Idempotency-Key": "order-42"}
	task, chat := s.submit("/tasks", `{"order":42}`, h)
	resp, b := s.post("/tasks", []byte(`{"order":42}`), h)
	wantStatus(t, resp, b, 202, "")
	m := decode(t, b)
	if m["task_id"] != task || m["chat_id"] != chat || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay answered %s, want the first answer", b)
	}
	resp, b = s.post("/tasks", []byte(`{"order":43}`), h)
	wantStatus(t, resp, b, 409, "idempotency_key_reused")
	// The key is the caller's own: bob's same key is another request.
	bob := map[string]string{"Authorization": "Bearer bob-token", "Idempotency-Key": "order-42"}
	other, _ := s.submit("/tasks", `{"order":42}`, bob)
	if other == task {
		t.Fatal("another principal's key matched")
	}
	s.waitFinal(task, 10*time.Second)
	s.waitFinal(other, 10*time.Second)
	n := 0
	for _, c := range agent.Calls() {
		if c.Header.Get("Idempotency-Key") == task {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the idempotent task ran %d times", n)
	}
	resp, b = s.post("/tasks", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "Idempotency-Key": strings.Repeat("k", 300)})
	wantStatus(t, resp, b, 400, "bad_request")
}

// TestAsyncChatOrder checks that one chat's tasks run one at a time in
// arrival order, while different chats run in parallel.
func TestAsyncChatOrder(t *testing.T) {
	t.Parallel()
	type event struct {
		chat string
		seq  int
	}
	var mu sync.Mutex
	var order []event
	running := map[string]int{}
	maxPerChat := map[string]int{}
	total, maxTotal := 0, 0
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct {
			Chat string
			Seq  int
		}
		_ = json.Unmarshal(body, &in)
		mu.Lock()
		order = append(order, event{in.Chat, in.Seq})
		running[in.Chat]++
		total++
		maxPerChat[in.Chat] = max(maxPerChat[in.Chat], running[in.Chat])
		maxTotal = max(maxTotal, total)
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		running[in.Chat]--
		total--
		mu.Unlock()
		agent.Echo(w, r, body)
	}
	s := startSite(t, agentBlock("support", agent.Addr())+"\t\tworkers 8\n", asyncRoutes)
	const chats, perChat = 4, 8
	ids := make([]string, chats)
	var tasks []string
	// Open the chats, then send each chat's messages in order,
	// interleaving the chats.
	for c := 0; c < chats; c++ {
		task, chat := s.submit("/tasks", fmt.Sprintf(`{"chat":"c%d","seq":0}`, c), alice)
		ids[c] = chat
		tasks = append(tasks, task)
	}
	for i := 1; i < perChat; i++ {
		for c := 0; c < chats; c++ {
			h := map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": ids[c]}
			task, _ := s.submit("/tasks", fmt.Sprintf(`{"chat":"c%d","seq":%d}`, c, i), h)
			tasks = append(tasks, task)
		}
	}
	for _, task := range tasks {
		if v := s.waitFinal(task, 30*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("%+v", v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	next := map[string]int{}
	for _, e := range order {
		if e.seq != next[e.chat] {
			t.Fatalf("chat %s ran message %d when %d was next: order %v", e.chat, e.seq, next[e.chat], order)
		}
		next[e.chat]++
	}
	for chat, m := range maxPerChat {
		if m != 1 {
			t.Fatalf("chat %s had %d tasks running at once", chat, m)
		}
	}
	if maxTotal < 2 {
		t.Fatalf("different chats never ran in parallel (max %d at once)", maxTotal)
	}
	t.Logf("max tasks in parallel across chats: %d", maxTotal)
}

func TestAsyncShedLoad(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-release
		agent.Echo(w, r, body)
	}
	defer close(release)
	globals := agentBlock("support", agent.Addr()) + `		workers 1
		queue {
			max_depth 3
		}
`
	s := startSite(t, globals, asyncRoutes)
	s.submit("/tasks", `{}`, alice) // runs, and blocks the only worker
	testkit.Eventually(t, 5*time.Second, func() bool { return len(agent.Calls()) == 1 }, "first task did not start")
	for i := 0; i < 3; i++ {
		s.submit("/tasks", `{}`, alice)
	}
	resp, b := s.post("/tasks", []byte(`{}`), alice)
	wantStatus(t, resp, b, 503, "overloaded")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// TestAsyncCrash accepts several hundred tasks against a slow backend,
// kills Caddy with SIGKILL midway, restarts it, and checks that every
// accepted task reaches a final state.
func TestAsyncCrash(t *testing.T) {
	t.Parallel()
	var seen sync.Map
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(20 * time.Millisecond)
		n, _ := seen.LoadOrStore(r.Header.Get("Idempotency-Key"), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		agent.Echo(w, r, body)
	}
	globals := agentBlock("support", agent.Addr()) + "\t\tworkers 4\n"
	s := startSite(t, globals, asyncRoutes)
	const total = 400
	var accepted []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	var killed atomic.Bool
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += 8 {
				resp, err := postRetrying(s.base+"/tasks", []byte(fmt.Sprintf(`{"n":%d}`, i)), alice)
				if err != nil {
					if killed.Load() {
						return // refused after the crash: never accepted
					}
					t.Errorf("submit: %v", err)
					return
				}
				if resp.StatusCode != 202 {
					t.Errorf("submit: %s", resp.Status)
					return
				}
				var a struct {
					TaskID string `json:"task_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&a)
				mu.Lock()
				accepted = append(accepted, a.TaskID)
				n := len(accepted)
				mu.Unlock()
				if n == total/2 && killed.CompareAndSwap(false, true) {
					s.caddy.Kill9()
				}
			}
		}(w)
	}
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), accepted...)
	mu.Unlock()
	if len(ids) < total/2 {
		t.Fatalf("only %d tasks accepted", len(ids))
	}
	s.restart(globals, asyncRoutes)
	for _, id := range ids {
		if v := s.waitFinal(id, 60*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("task %s: %+v", id, v)
		}
	}
	lost := 0
	for _, id := range ids {
		if _, ok := seen.Load(id); !ok {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d accepted tasks never reached the backend", lost)
	}
	t.Logf("%d tasks accepted before and around the kill; all finished after restart", len(ids))
}

// TestAsyncReloadUnderLoad reloads the config while tasks pour in: none
// is lost and none runs twice.
func TestAsyncReloadUnderLoad(t *testing.T) {
	t.Parallel()
	var runs sync.Map
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(5 * time.Millisecond)
		n, _ := runs.LoadOrStore(r.Header.Get("Idempotency-Key"), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		agent.Echo(w, r, body)
	}
	globals := agentBlock("support", agent.Addr())
	s := startSite(t, globals+"\t\tworkers 4\n", asyncRoutes)
	stop := make(chan struct{})
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := postRetrying(s.base+"/tasks", []byte(`{}`), alice)
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				if resp.StatusCode != 202 {
					t.Errorf("submit answered %s during a reload", resp.Status)
					return
				}
				var a struct {
					TaskID string `json:"task_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&a)
				mu.Lock()
				ids = append(ids, a.TaskID)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		s.reload(globals+fmt.Sprintf("\t\tworkers %d\n", 2+i), asyncRoutes)
	}
	close(stop)
	wg.Wait()
	for _, id := range ids {
		if v := s.waitFinal(id, 60*time.Second); v.Status != "SUCCESS" {
			t.Fatalf("task %s: %+v", id, v)
		}
	}
	var twice []string
	runs.Range(func(k, v any) bool {
		if v.(*atomic.Int64).Load() != 1 {
			twice = append(twice, k.(string))
		}
		return true
	})
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Fatalf("%d tasks ran more than once across reloads: %v", len(twice), twice[:min(5, len(twice))])
	}
	t.Logf("%d tasks across 5 reloads, each run exactly once", len(ids))
}
