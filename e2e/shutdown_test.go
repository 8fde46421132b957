package e2e

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestStopWithPostgresDown: a stop while PostgreSQL is down ends within
// grace_period and a few seconds, though the result of the task that was
// running could not be recorded; once the database is back and the lease
// has run out, the task runs again, with its original body, and finishes.
func TestStopWithPostgresDown(t *testing.T) {
	t.Parallel()
	pg := testkit.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	var calls atomic.Int64
	var mu sync.Mutex
	var bodies []string
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls.Add(1)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		time.Sleep(2 * time.Second)
		agent.Echo(w, r, body)
	}
	const grace = 4 * time.Second
	globals := agentBlock("support", agent.Addr()) + `		grace_period 4s
		queue {
			timeout 5s
			lease 30s
		}
`
	s := pgSite(t, dsn, globals, asyncRoutes)
	const prompt = `{"prompt":"slow one"}`
	task, _ := s.submit("/tasks", prompt, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return calls.Load() == 1 }, "the task did not start")
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	// The backend answers within the grace period; recording the answer
	// fails for as long as the database is down. The stop must not wait
	// for the lease (30s) to run out.
	start := time.Now()
	s.caddy.Stop()
	took := time.Since(start)
	t.Logf("Caddy stopped in %v with PostgreSQL down (grace_period %v)", took, grace)
	if took > grace+5*time.Second {
		t.Fatalf("stopping took %v; want at most grace_period + 5s", took)
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	s.restart(globals, asyncRoutes)
	v := s.waitFinal(task, 60*time.Second)
	if v.Status != "SUCCESS" || calls.Load() != 2 {
		t.Fatalf("after the restart: %+v, %d backend calls", v, calls.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		if b != prompt {
			t.Fatalf("the backend was sent %q, want the task's body every time", b)
		}
	}
}
