package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestExtensionAuthModule builds Caddy with xcaddy, as README's
// "Extending agenthook" says, with agenthook and the example auth module
// of examples/authmodule (a Go module of its own), and uses `auth header`
// through it: an auth scheme from outside this repository is one module.
//
// The build goes through xcaddy.sh and so through Go's build cache: the
// first run compiles Caddy (a few minutes), later ones relink it (tens of
// seconds). -short skips it; AGENTHOOK_EXT_CADDY names a binary built
// already.
func TestExtensionAuthModule(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a Caddy with xcaddy")
	}
	bin := os.Getenv("AGENTHOOK_EXT_CADDY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "caddy")
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatal(err)
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		cmd := exec.Command(filepath.Join(root, "xcaddy.sh"), "--with", "example.com/agenthook-auth-header=./examples/authmodule")
		cmd.Env = append(os.Environ(), "OUTPUT="+bin)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xcaddy.sh: %v\n%s", err, out)
		}
		t.Logf("built Caddy with the example module in %s", time.Since(start).Round(time.Second))
	}
	if out, err := exec.Command(bin, "list-modules").Output(); err != nil || !strings.Contains(string(out), "agenthook.auth.header\n") {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}

	agent := testkit.NewAgent(t)
	s := startSiteOn(t, testkit.NewWithBinary(t, bin), agentBlock("support", agent.Addr()), `
	agenthook /ext support {
		auth header X-Api-Key ext-key-1 ext-key-2
		mode async
	}
	agenthook_status /status* {
		auth header X-Api-Key ext-key-1 ext-key-3
	}
	agenthook_status /api/task_status*
`)
	body := []byte(`{"prompt":"hi"}`)
	resp, b := s.post("/ext", body, map[string]string{"X-Api-Key": "ext-key-9"})
	wantStatus(t, resp, b, 401, "unauthorized")
	task, _ := s.submit("/ext", string(body), map[string]string{"X-Api-Key": "ext-key-2"})
	s.waitFinal(task, 10*time.Second)
	calls := agent.Calls()
	if len(calls) != 1 || calls[0].Header.Get("X-Api-Key") != "" {
		t.Fatalf("backend calls %d; the credential header must be stripped", len(calls))
	}
	// The module's KeyIDs let agenthook_status tell callers apart: a key
	// of the line that created the task sees it, another key does not.
	poll := func(key string) int {
		resp, _ := s.get(fmt.Sprintf("/status?task_id=%s", task), map[string]string{"X-Api-Key": key})
		return resp.StatusCode
	}
	if got := poll("ext-key-1"); got != 200 {
		t.Fatalf("a key of the creating line: %d, want 200", got)
	}
	if got := poll("ext-key-3"); got != 404 {
		t.Fatalf("another key: %d, want 404", got)
	}
}
