package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestGracefulStop: a stop waits for a backend call in flight, up to the
// grace period; a call that outlasts it is abandoned and runs again after
// a restart, without counting as an attempt.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	delay := atomic.Int64{}
	delay.Store(int64(time.Second))
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls.Add(1)
		select {
		case <-time.After(time.Duration(delay.Load())):
			agent.Echo(w, r, body)
		case <-r.Context().Done():
		}
	}
	globals := agentBlock("support", agent.Addr()) + "\t\tgrace_period 3s\n"
	s := startSite(t, globals, asyncRoutes)

	// Within the grace period: the call finishes before Caddy exits.
	task, _ := s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 5*time.Second, func() bool { return calls.Load() == 1 }, "the task did not start")
	s.caddy.Stop()
	s.restart(globals, asyncRoutes)
	v := s.waitFinal(task, 5*time.Second)
	if v.Status != "SUCCESS" || calls.Load() != 1 {
		t.Fatalf("after a graceful stop: %+v, %d calls; the call in flight should have finished", v, calls.Load())
	}

	// Past the grace period: abandoned, then run again after the restart.
	delay.Store(int64(20 * time.Second))
	task, _ = s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 5*time.Second, func() bool { return calls.Load() == 2 }, "the second task did not start")
	start := time.Now()
	s.caddy.Stop()
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("stopping took %s with a 3s grace period", took)
	}
	delay.Store(int64(10 * time.Millisecond))
	s.restart(globals, asyncRoutes)
	v = s.waitFinal(task, 10*time.Second)
	if v.Status != "SUCCESS" || v.Attempts != 1 {
		t.Fatalf("the abandoned task: %+v; it should run again with the abandoned try not counted", v)
	}
}

// TestSecretPlaceholders: secrets come from {env.X} and {file./path}, and
// never reach the log or the adapted config.
func TestSecretPlaceholders(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-bearer-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testkit.New(t)
	c.Env = []string{"E2E_HMAC_SECRET=env-hmac-secret"}
	s := &site{t: t, caddy: c, port: testkit.FreePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	routes := fmt.Sprintf(`
	agenthook /env support {
		auth hmac {env.E2E_HMAC_SECRET}
	}
	agenthook /file support {
		auth bearer {file.%s}
	}
`, tokenFile)
	c.Start(s.caddyfile(agentBlock("support", agent.Addr()), routes), s.port)
	body := []byte(`{"x":1}`)
	resp, b := s.post("/env", body, map[string]string{"X-Signature": hmacHex("env-hmac-secret", body)})
	wantStatus(t, resp, b, 200, "")
	resp, b = s.post("/file", body, map[string]string{"Authorization": "Bearer file-bearer-token"})
	wantStatus(t, resp, b, 200, "")
	resp, b = s.post("/file", body, map[string]string{"Authorization": "Bearer {file." + tokenFile + "}"})
	wantStatus(t, resp, b, 401, "unauthorized")
	for _, secret := range []string{"env-hmac-secret", "file-bearer-token"} {
		if strings.Contains(c.Log(), secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}
