// Package testkit runs a real Caddy built with agenthook, for end-to-end
// tests and benchmarks: it builds the binary once, starts it on loopback
// ports with a Caddyfile, reloads it, and kills it.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildTags are the tags Caddy is built with here, test.sh and
// bench/run.sh: xcaddy's defaults, so that the tests run what xcaddy.sh
// and `xcaddy build` produce. They leave out the Badger v1/v2, MySQL and
// PostgreSQL drivers of smallstep/nosql, which Caddy's ACME server could
// use but never does (it uses bbolt); agenthook's own Badger v4 and pgx are
// compiled either way.
const BuildTags = "nobadger,nomysql,nopgx"

// caddyDirPrefix starts the names of the temporary directories Binary
// builds into, so that those of a test process that died before Cleanup
// can be found (sweepStaleBinaries).
const caddyDirPrefix = "agenthook-caddy-"

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// moduleRoot finds the directory of agenthook's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the agenthook module")
	}
	return filepath.Dir(mod), nil
}

// Binary returns the path of a Caddy built from this checkout with
// agenthook and the standard modules. AGENTHOOK_CADDY names a prebuilt
// binary instead (test.sh builds one for every package). Otherwise it is
// built once per test process, into a temporary directory that Cleanup
// removes: a package that calls Binary (or New) calls Cleanup from its
// TestMain after m.Run. Directories left by test processes that died are
// removed by the next build.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AGENTHOOK_CADDY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		sweepStaleBinaries()
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", caddyDirPrefix)
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-tags", BuildTags, "-o", buildPath, "./cmd/caddy")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Cleanup removes the Caddy binary that Binary built, if it built one.
// Call it from TestMain after m.Run, when no test uses the binary any more.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
		buildDir = ""
	}
}

// sweepStaleBinaries removes the build directories of test processes that
// are gone.
func sweepStaleBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), caddyDirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readPid(filepath.Join(dir, "owner.pid"))
		if err == nil && alive(owner) {
			continue
		}
		if err != nil {
			// No owner: one being set up right now, or one from before
			// owners were written down. Only the latter is hours old.
			fi, err := os.Stat(dir)
			if err != nil || time.Since(fi.ModTime()) < 2*time.Hour {
				continue
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// Caddy is one Caddy process.
type Caddy struct {
	t     testing.TB
	Bin   string
	Dir   string   // HOME and XDG directories live here
	Admin string   // host:port of the admin API
	Ports []int    // ports to wait for after a start
	Env   []string // extra environment, KEY=value

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// New prepares a Caddy in a fresh directory with its own admin port.
// The Caddyfile passed to Start must contain `admin {{.Admin}}`; use
// Caddy.Admin to fill it in.
func New(t testing.TB) *Caddy {
	t.Helper()
	return NewWithBinary(t, Binary(t))
}

// NewWithBinary is New with another Caddy binary, such as one built with
// more plugins.
func NewWithBinary(t testing.TB, bin string) *Caddy {
	t.Helper()
	c := &Caddy{t: t, Bin: bin, Dir: t.TempDir(), Admin: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("caddy log (%s):\n%s", c.Dir, c.Log())
		}
	})
	return c
}

// Start writes the Caddyfile and runs Caddy, waiting until its admin API
// and the given ports answer.
func (c *Caddy) Start(caddyfile string, ports ...int) {
	c.t.Helper()
	path := c.WriteCaddyfile("Caddyfile", caddyfile)
	c.mu.Lock()
	if c.log == nil {
		c.log = &lockedBuffer{}
	}
	mark := len(c.log.String()) // the log of earlier runs stays
	cmd := c.Command(context.Background(), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
	c.Ports = ports
	c.mu.Unlock()
	c.waitReady(done, mark)
}

// startedLine is what `caddy run` logs once its config is loaded and
// every app has started.
const startedLine = "serving initial configuration"

// WriteCaddyfile writes a Caddyfile named name in Caddy's directory and
// returns its path.
func (c *Caddy) WriteCaddyfile(name, caddyfile string) string {
	c.t.Helper()
	path := filepath.Join(c.Dir, name)
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// Command returns a command running this Caddy binary with args, in its
// directory and with its environment, as Start runs it: for `caddy
// validate`, or a `caddy run` expected to fail.
func (c *Caddy) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(),
		"HOME="+c.Dir,
		"XDG_DATA_HOME="+filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Dir, "config"),
	)
	cmd.Env = append(cmd.Env, c.Env...)
	return cmd
}

// waitReady waits until the admin API and the ports answer and Caddy
// logged startedLine after the offset mark of its log. Listening is not
// enough: Caddy starts its apps one by one, so the http app may serve
// before the agenthook app has started (and, say, learned which addresses
// are its own). A config must therefore not discard Caddy's default log.
func (c *Caddy) waitReady(done chan struct{}, mark int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	addrs := []string{c.Admin}
	for _, p := range c.Ports {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	exited := func() {
		c.t.Helper()
		select {
		case <-done:
			c.t.Fatalf("caddy exited while starting:\n%s", c.Log())
		default:
		}
	}
	for _, a := range addrs {
		for {
			exited()
			conn, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("caddy did not listen on %s:\n%s", a, c.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for !strings.Contains(c.Log()[mark:], startedLine) {
		exited()
		if time.Now().After(deadline) {
			c.t.Fatalf("caddy did not log %q:\n%s", startedLine, c.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reload loads a new Caddyfile through the admin API, as `caddy reload`
// does, and fails the test if Caddy refuses it.
func (c *Caddy) Reload(caddyfile string) {
	c.t.Helper()
	if err := c.TryReload(caddyfile); err != nil {
		c.t.Fatal(err)
	}
}

// TryReload is Reload returning the error.
func (c *Caddy) TryReload(caddyfile string) error {
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.Admin+"/load", strings.NewReader(caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	// A new config that is identical would be skipped; reloads in tests
	// must really happen.
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload: %s: %s", resp.Status, body)
	}
	return nil
}

// Kill9 kills Caddy with SIGKILL, as a crash would, and waits for it.
func (c *Caddy) Kill9() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Kill is Kill9; it is safe to call on a stopped Caddy.
func (c *Caddy) Kill() { c.Kill9() }

// Stop asks Caddy to shut down gracefully and waits up to a minute.
func (c *Caddy) Stop() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		c.t.Errorf("caddy did not stop within a minute")
	}
}

// Running reports whether the process is alive.
func (c *Caddy) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Log returns what Caddy printed so far.
func (c *Caddy) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log == nil {
		return ""
	}
	return c.log.String()
}

// WaitLog waits until Caddy's log contains s.
func (c *Caddy) WaitLog(ctx context.Context, s string) bool {
	for ctx.Err() == nil {
		if strings.Contains(c.Log(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
