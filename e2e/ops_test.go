package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// cli runs `caddy agenthook <args>` of the built binary against the
// site's admin endpoint, and returns stdout and stderr.
func (s *site) cli(args ...string) (string, string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.caddy.Command(ctx, append(append([]string{"agenthook"}, args...), "--address", s.caddy.Admin)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// mustCLI is cli failing the test on an error.
func (s *site) mustCLI(args ...string) (string, string) {
	s.t.Helper()
	out, errs, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("caddy agenthook %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out, errs
}

// admin calls an agenthook admin route directly.
func (s *site) admin(method, path string, body string) (int, map[string]any) {
	s.t.Helper()
	resp, b := do(s.t, method, "http://"+s.caddy.Admin+"/agenthook/"+path, []byte(body), nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("%s /agenthook/%s: not JSON: %s", method, path, b)
	}
	return resp.StatusCode, m
}

// logLines returns Caddy's JSON log lines with the given message.
func (s *site) logLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.caddy.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestOperatorConsole drives the admin routes and every `caddy agenthook`
// subcommand against a real Caddy: dead letters appear, are listed, one
// is retried, a callback is switched off and on, the rest are recovered
// with --wait; and the task and dead-letter log lines are there.
func TestOperatorConsole(t *testing.T) {
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	var down atomic.Bool
	down.Store(true)
	sink.Status = func(int, *http.Request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}
	s := callbackSite(t, agent.Addr(), "\t\t\tcallback "+sink.URL+"/hook?token=cb-secret\n", fastRetry+"\n\t\t\tbreaker 100 1s")
	var tasks []string
	for i := range 3 {
		task, _ := s.submit("/tasks", fmt.Sprintf(`{"n":%d,"private":"prompt-body"}`, i), alice)
		tasks = append(tasks, task)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		_, m := s.admin(http.MethodGet, "status", "")
		d, _ := m["deliveries"].(map[string]any)
		return d != nil && d["failed"] == 3.0
	}, "the deliveries were not dead-lettered")

	// Admin routes.
	code, m := s.admin(http.MethodGet, "status", "")
	if code != 200 || m["tasks"].(map[string]any)["pending"] != 0.0 {
		t.Fatalf("status %d %v", code, m)
	}
	if a := m["agents"].([]any)[0].(map[string]any); a["name"] != "support" || a["callbacks"].(map[string]any)["active"] != 1.0 {
		t.Fatalf("status agents %v", m["agents"])
	}
	code, m = s.admin(http.MethodGet, "tasks/"+tasks[0], "")
	if code != 200 || m["status"] != "SUCCESS" || m["agent"] != "support" {
		t.Fatalf("task %d %v", code, m)
	}
	code, m = s.admin(http.MethodGet, "deliveries?status=failed&limit=2", "")
	if code != 200 || len(m["data"].([]any)) != 2 || m["next_cursor"] == nil {
		t.Fatalf("dead letters %d %v", code, m)
	}
	if code, _ = s.admin(http.MethodDelete, "status", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE status: %d", code)
	}

	// The CLI: tables and JSON.
	out, _ := s.mustCLI("status")
	for _, want := range []string{"tasks       0", "deliveries  0", "support"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status table lacks %q:\n%s", want, out)
		}
	}
	out, _ = s.mustCLI("status", "--json")
	var st struct {
		Deliveries struct{ Pending, Failed int }
	}
	if json.Unmarshal([]byte(out), &st) != nil || st.Deliveries.Failed != 3 {
		t.Fatalf("status --json:\n%s", out)
	}
	if out, _ = s.mustCLI("tasks"); !strings.HasPrefix(out, "PENDING  STARTED\n0        0") {
		t.Fatalf("tasks:\n%s", out)
	}
	if out, _ = s.mustCLI("tasks", tasks[1]); !strings.Contains(out, "status    SUCCESS") || strings.Contains(out, "prompt-body") {
		t.Fatalf("tasks <id>:\n%s", out)
	}
	out, _ = s.mustCLI("deliveries")
	if strings.Count(out, "cfg-support-1") != 3 || !strings.Contains(out, "503 Service Unavailable") {
		t.Fatalf("deliveries:\n%s", out)
	}
	out, _ = s.mustCLI("deliveries", "--json", "--limit", "1", "--all")
	var page struct {
		Data []struct{ ID, Status string }
	}
	if json.Unmarshal([]byte(out), &page) != nil || len(page.Data) != 3 || page.Data[0].Status != "failed" {
		t.Fatalf("deliveries --json --all:\n%s", out)
	}
	first := page.Data[0].ID
	if out, _ = s.mustCLI("deliveries", first); !strings.Contains(out, "#  AT") || !strings.Contains(out, "task.succeeded") {
		t.Fatalf("deliveries <id>:\n%s", out)
	}
	if out, _ = s.mustCLI("callbacks"); !strings.Contains(out, "cfg-support-1") || strings.Contains(out, "cb-secret") {
		t.Fatalf("callbacks (a static URL shows its origin only):\n%s", out)
	}
	if out, _ = s.mustCLI("callbacks", "disable", "cfg-support-1", "--reason", "receiver maintenance"); !strings.Contains(out, "disabled") {
		t.Fatalf("callbacks disable:\n%s", out)
	}
	if _, m = s.admin(http.MethodGet, "status", ""); m["agents"].([]any)[0].(map[string]any)["callbacks"].(map[string]any)["disabled"] != 1.0 {
		t.Fatalf("status after disabling: %v", m)
	}
	out, _ = s.mustCLI("callbacks", "enable", "cfg-support-1", "--json")
	var cb struct{ ID, Status string }
	if json.Unmarshal([]byte(out), &cb) != nil || cb.Status != "active" {
		t.Fatalf("callbacks enable --json:\n%s", out)
	}

	// The receiver is back: one retried, then the rest recovered.
	down.Store(false)
	if out, _ = s.mustCLI("retry", first); !strings.Contains(out, "pending again") {
		t.Fatalf("retry:\n%s", out)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 1 }, "the retried delivery did not arrive")
	out, errs := s.mustCLI("recover", "--dry-run", "--since", "1h")
	if !strings.Contains(out, "total    2") || !strings.Contains(errs, "support: 2 would be recovered") {
		t.Fatalf("recover --dry-run:\n%s%s", out, errs)
	}
	out, errs = s.mustCLI("recover", "--wait", "--interval", "100ms")
	if !strings.Contains(out, "total    2") || !strings.Contains(errs, "support: 2 recovered") || !strings.Contains(errs, "deliveries: 0 pending, 0 failed") {
		t.Fatalf("recover --wait:\n%s%s", out, errs)
	}
	if n := len(sink.Received()); n != 3 {
		t.Fatalf("%d deliveries arrived after recovering, want 3", n)
	}
	if _, _, err := s.cli("retry", "msg_nope"); err == nil {
		t.Fatal("retry of an unknown delivery succeeded")
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("retry of an unknown delivery: %v", err)
	}

	// One info line per finished task, one warning per dead letter.
	lines := s.logLines("task finished")
	if len(lines) != 3 {
		t.Fatalf("%d task lines, want 3", len(lines))
	}
	for _, l := range lines {
		if l["level"] != "info" || l["logger"] != "agenthook.tasks" || l["status"] != "SUCCESS" || l["agent"] != "support" || l["task_id"] == nil || l["chat_id"] == nil {
			t.Fatalf("task line %v", l)
		}
		for _, k := range []string{"queued", "backend", "total"} {
			if _, ok := l[k].(float64); !ok {
				t.Fatalf("task line without %s: %v", k, l)
			}
		}
	}
	dead := s.logLines("delivery dead-lettered")
	if len(dead) != 3 {
		t.Fatalf("%d dead-letter lines, want 3", len(dead))
	}
	for _, l := range dead {
		if l["logger"] != "agenthook.deliveries" || l["delivery_id"] == nil || l["task_id"] == nil || l["callback"] != "cfg-support-1" ||
			l["attempts"] != 4.0 || l["error"] != "the receiver answered 503 Service Unavailable" {
			t.Fatalf("dead-letter line %v", l)
		}
	}
	if log := s.caddy.Log(); strings.Contains(log, "prompt-body") || strings.Contains(log, "cb-secret") {
		t.Fatal("the log holds a request body or a callback URL's secret")
	}
}

// TestLogTasksOff: with log_tasks off, a successful task's line is at
// debug level, out of the default log.
func TestLogTasksOff(t *testing.T) {
	agent := testkit.NewAgent(t)
	s := startSite(t, fmt.Sprintf("log_tasks off\n\t\tagent support {\n\t\t\treverse_proxy %s\n\t\t\twebhook_token tok-support-1\n\t\t}", agent.Addr()), asyncRoutes)
	task, _ := s.submit("/tasks", `{}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, v := s.status(task)
		return v.Status == "SUCCESS"
	}, "the task did not finish")
	time.Sleep(200 * time.Millisecond)
	if lines := s.logLines("task finished"); len(lines) != 0 {
		t.Fatalf("log_tasks off still logs successes: %v", lines)
	}
}
