package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestValidateWhileRunning: `caddy validate` of the config a Caddy runs,
// on the same Badger directory, succeeds: validating does not open the
// store, whose directory the running Caddy holds locked.
func TestValidateWhileRunning(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	globals := agentBlock("support", agent.Addr())
	s := startSite(t, globals, asyncRoutes)
	path := s.caddy.WriteCaddyfile("Caddyfile.validate", s.caddyfile(globals, asyncRoutes))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.caddy.Command(ctx, "validate", "--config", path, "--adapter", "caddyfile").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy validate while the config runs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate said:\n%s", out)
	}
	// The running Caddy still has its store.
	task, _ := s.submit("/tasks", `{}`, alice)
	if v := s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
		t.Fatalf("a task after the validation: %+v", v)
	}
}

// failedRun runs Caddy with a Caddyfile that must fail to load, and
// returns what it printed.
func failedRun(t *testing.T, c *testkit.Caddy, caddyfile string) string {
	t.Helper()
	path := c.WriteCaddyfile("Caddyfile.bad", caddyfile)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Command(ctx, "run", "--config", path, "--adapter", "caddyfile").CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("caddy run did not exit:\n%s", out)
	}
	if err == nil {
		t.Fatalf("caddy run succeeded with a config whose storage cannot be opened:\n%s", out)
	}
	return string(out)
}

// TestStorageErrorsFailTheLoad: a config whose store cannot be opened (a
// Badger directory that cannot be made, or that another Caddy holds, a
// PostgreSQL server that cannot be reached) fails to load, saying why,
// without the password.
func TestStorageErrorsFailTheLoad(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	globals := agentBlock("support", agent.Addr())
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	running := startSite(t, globals, asyncRoutes)
	cases := []struct {
		name, storage string
		want          []string
	}{
		{"bad directory", "storage badger " + filepath.Join(file, "sub"), []string{"storage badger: creating badger directory"}},
		{"directory in use", "storage badger " + running.caddy.Dir + "/badger", []string{"storage badger: badger directory", "in use by another process"}},
		{"unreachable postgres", fmt.Sprintf("storage postgres postgres://agenthook:e2e-pg-password@127.0.0.1:%d/agenthook?connect_timeout=2", testkit.FreePort(t)),
			[]string{"storage postgres:", "connection refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &site{t: t, caddy: testkit.New(t), port: testkit.FreePort(t), storage: tc.storage}
			out := failedRun(t, s.caddy, s.caddyfile(globals, asyncRoutes))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "e2e-pg-password") {
				t.Errorf("the output holds the password:\n%s", out)
			}
		})
	}
}

// TestBadgerGOMAXPROCS: a Caddy on the Badger store runs with four Go
// processors per CPU, up to 16 (Badger's compactions would otherwise hold up requests on
// a small machine), unless the config says `gomaxprocs off` or a number,
// or the GOMAXPROCS environment variable is set. Read from Caddy's own
// go_sched_gomaxprocs_threads metric, after a task, so the store is open.
func TestBadgerGOMAXPROCS(t *testing.T) {
	t.Parallel()
	cpus := runtime.NumCPU()
	envProcs, envSet := os.LookupEnv("GOMAXPROCS")
	for _, c := range []struct {
		name, option string
		env          []string
		want         int
	}{
		{name: "auto", want: max(cpus, min(4*cpus, 16))},
		{name: "off", option: "gomaxprocs off", want: cpus},
		{name: "a number", option: "gomaxprocs 5", want: 5},
		{name: "the environment", env: []string{"GOMAXPROCS=3"}, want: 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want := c.want
			if envSet && c.option == "" && c.env == nil {
				// This machine's environment decides.
				n, err := strconv.Atoi(envProcs)
				if err != nil {
					t.Skipf("GOMAXPROCS=%q in the environment", envProcs)
				}
				want = n
			}
			agent := testkit.NewAgent(t)
			caddy := testkit.New(t)
			caddy.Env = c.env
			s := &site{t: t, caddy: caddy, port: testkit.FreePort(t)}
			s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
			s.storage = "storage badger " + caddy.Dir + "/badger"
			if c.option != "" {
				s.storage += " {\n\t\t\t" + c.option + "\n\t\t}"
			}
			globals := agentBlock("support", agent.Addr())
			caddy.Start(s.caddyfile(globals, asyncRoutes), s.port)
			task, _ := s.submit("/tasks", `{}`, alice)
			if v := s.waitFinal(task, 10*time.Second); v.Status != "SUCCESS" {
				t.Fatalf("task: %+v", v)
			}
			if got := int(metric(t, s, "go_sched_gomaxprocs_threads")); got != want {
				t.Fatalf("GOMAXPROCS %d, want %d (%d CPUs)", got, want, cpus)
			}
		})
	}
}
