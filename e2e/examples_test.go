package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/signing"
)

// TestMinimalExample runs examples/minimal/Caddyfile in front of a fake
// agent, with only what a user edits changed: the agent's address (and
// the test's own ports).
func TestMinimalExample(t *testing.T) {
	b, err := os.ReadFile("../examples/minimal/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	agent := testkit.NewAgent(t)
	c := testkit.New(t)
	c.Env = []string{"AGENTHOOK_TOKEN=minimal-example-token"}
	port := testkit.FreePort(t)
	cf := string(b)
	for from, to := range map[string]string{
		"127.0.0.1:8000":   agent.Addr(),
		":8080":            fmt.Sprintf(":%d", port),
		"{\n\tagenthook {": "{\n\tadmin " + c.Admin + "\n\tagenthook {",
	} {
		if !strings.Contains(cf, from) {
			t.Fatalf("examples/minimal/Caddyfile no longer has %q", from)
		}
		cf = strings.ReplaceAll(cf, from, to)
	}
	c.Start(cf, port)
	url := fmt.Sprintf("http://127.0.0.1:%d/prompts", port)

	resp, body := do(t, http.MethodPost, url, []byte(`{"prompt": "Hi"}`), map[string]string{"Authorization": "Bearer minimal-example-token"})
	wantStatus(t, resp, body, 200, "")
	if !strings.Contains(string(body), `"answer":"echo: {\"prompt\": \"Hi\"}"`) || resp.Header.Get("X-Chat-Id") == "" {
		t.Fatalf("the agent's answer did not come back: %s, X-Chat-Id %q", body, resp.Header.Get("X-Chat-Id"))
	}
	calls := agent.Calls()
	if len(calls) != 1 || calls[0].Path != "/prompts" || calls[0].Header.Get("Authorization") != "" {
		t.Fatalf("the agent got %+v; want one call to /prompts without the caller's token", calls)
	}
	resp, body = do(t, http.MethodPost, url, []byte(`{"prompt": "Hi"}`), map[string]string{"Authorization": "Bearer wrong"})
	wantStatus(t, resp, body, 401, "unauthorized")
}

// receiverProgram is one of examples/receivers, started on addr.
type receiverProgram struct {
	name string
	cmd  func(ctx context.Context) *exec.Cmd
}

// receiverPrograms lists the receivers this machine can run: Go always,
// Python and Node.js when python3 and node are installed.
func receiverPrograms(t *testing.T) []receiverProgram {
	dir, err := filepath.Abs("../examples/receivers")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "receiver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/receivers: %v\n%s", err, out)
	}
	progs := []receiverProgram{{"go", func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, bin) }}}
	for _, p := range []struct{ name, interp, file string }{{"python", "python3", "receiver.py"}, {"node", "node", "receiver.js"}} {
		path, err := exec.LookPath(p.interp)
		if err != nil {
			t.Logf("%s is not installed: examples/receivers/%s is not run", p.interp, p.file)
			continue
		}
		file := filepath.Join(dir, p.file)
		progs = append(progs, receiverProgram{p.name, func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, path, file) }})
	}
	return progs
}

// lines collects a process's output lines.
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.got = append(l.got, sc.Text())
		l.mu.Unlock()
	}
}

func (l *lines) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.got {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.got, "\n")
}

// TestExampleReceivers: each receiver of examples/receivers verifies a
// delivery that a real Caddy signed, refuses a tampered one, and answers a
// redelivery of the same webhook-id without handling it twice.
func TestExampleReceivers(t *testing.T) {
	progs := receiverPrograms(t)
	secret, err := signing.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outs := make([]*lines, len(progs))
	addrs := make([]string, len(progs))
	var callbacks, allow strings.Builder
	for i, p := range progs {
		addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		addrs[i] = addr
		cmd := p.cmd(ctx)
		cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "RECEIVER_ADDR="+addr)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting the %s receiver: %v", p.name, err)
		}
		t.Cleanup(func() { cancel(); _ = cmd.Wait() })
		outs[i] = new(lines)
		go outs[i].read(stdout)
		testkit.Eventually(t, 30*time.Second, func() bool { return outs[i].has("listening on") }, "the %s receiver did not start: %s", p.name, outs[i])
		fmt.Fprintf(&callbacks, "\t\t\tcallback http://%s/webhook {\n\t\t\t\tsign standard_webhooks %s\n\t\t\t}\n", addr, secret)
		allow.WriteString(" " + addr)
	}

	agent := testkit.NewAgent(t)
	globals := fmt.Sprintf("\t\tdelivery {\n\t\t\tallow_networks%s\n\t\t}\n\t\tagent support {\n\t\t\treverse_proxy %s\n%s\t\t}\n",
		allow.String(), agent.Addr(), callbacks.String())
	s := startSite(t, globals, "\tagenthook /tasks support {\n\t\tauth bearer alice-token\n\t\tmode async\n\t}\n")
	task, _ := s.submit("/tasks", `{"prompt": "hello"}`, alice)
	for i, p := range progs {
		want := "verified msg_"
		testkit.Eventually(t, 15*time.Second, func() bool { return outs[i].has(want) }, "the %s receiver did not verify the delivery: %s", p.name, outs[i])
		if !strings.Contains(outs[i].String(), "task.succeeded task "+task) {
			t.Errorf("the %s receiver printed no line for task %s: %s", p.name, task, outs[i])
		}
	}

	// A redelivery (the same webhook-id) is answered and not handled
	// twice; a wrong signature and a tampered body are refused.
	for i, p := range progs {
		addr := addrs[i]
		signer, err := signing.NewStandardWebhooksSigner([]string{secret})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"type":"task.succeeded","task_id":"t1"}`)
		id := "msg_redelivered_" + p.name
		h := map[string]string{} // canonical names, as Sign gives them
		for k, v := range signer.Sign(id, time.Now(), body) {
			h[k] = v[0]
		}
		for n := 0; n < 2; n++ {
			resp, b := do(t, http.MethodPost, "http://"+addr+"/webhook", body, h)
			if resp.StatusCode != 204 {
				t.Errorf("the %s receiver answered a valid delivery %d %s", p.name, resp.StatusCode, b)
			}
		}
		h["Webhook-Signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		if resp, b := do(t, http.MethodPost, "http://"+addr+"/webhook", body, h); resp.StatusCode != 401 {
			t.Errorf("the %s receiver answered a bad signature %d %s", p.name, resp.StatusCode, b)
		}
		tampered := append([]byte(nil), body...)
		tampered[len(tampered)-3] = 'X'
		for k, v := range signer.Sign("msg_tampered", time.Now(), body) {
			h[k] = v[0]
		}
		if resp, b := do(t, http.MethodPost, "http://"+addr+"/webhook", tampered, h); resp.StatusCode != 401 {
			t.Errorf("the %s receiver answered a tampered body %d %s", p.name, resp.StatusCode, b)
		}
		testkit.Eventually(t, 5*time.Second, func() bool {
			return outs[i].has("duplicate "+id) && strings.Count(outs[i].String(), "refused") >= 2
		}, "the %s receiver did not report the duplicate and the refusals: %s", p.name, outs[i])
	}
}
