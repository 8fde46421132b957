package main

import (
	"bufio"
	"context"
	"encoding/json"
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
	"time"
)

// Every process the bench starts is registered here, in its own process
// group and with a parent-death signal, so that killAll (and the bench's
// own death) leaves nothing running.
var (
	procMu sync.Mutex
	procs  = map[int]*proc{}
)

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	addr string // from a "listening <addr>" first line, if any
}

func sysAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startProc runs bin with args, output to out/logs/<name>.log. With
// wantAddr, it waits for the "listening <addr>" line our fakes print.
func (e *env) startProc(name string, wantAddr bool, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(e.out, "logs", name+".log")
	_ = os.MkdirAll(filepath.Dir(logPath), 0o755)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = sysAttr()
	cmd.Stderr = lf
	var stdout io.ReadCloser
	if wantAddr {
		stdout, err = cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
	} else {
		cmd.Stdout = lf
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: lf}
	procMu.Lock()
	procs[cmd.Process.Pid] = p
	procMu.Unlock()
	if wantAddr {
		br := bufio.NewReader(stdout)
		addrc := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			addrc <- strings.TrimSpace(strings.TrimPrefix(line, "listening "))
			_, _ = io.Copy(lf, br)
		}()
		select {
		case p.addr = <-addrc:
		case <-time.After(10 * time.Second):
		}
		if p.addr == "" {
			p.kill()
			return nil, fmt.Errorf("%s did not say where it listens", name)
		}
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL to the process group and waits.
func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	procMu.Lock()
	delete(procs, p.cmd.Process.Pid)
	procMu.Unlock()
	p.log.Close()
}

func killAll() {
	procMu.Lock()
	all := make([]*proc, 0, len(procs))
	for _, p := range procs {
		all = append(all, p)
	}
	procMu.Unlock()
	for _, p := range all {
		p.kill()
	}
}

// rssKiB reads VmRSS and VmHWM of a process.
func rssKiB(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		}
	}
	return rss, hwm
}

// duKiB is `du -sk` (disk blocks used) and the apparent size in KiB.
func duKiB(dir string) (used, apparent int64) {
	for i, args := range [][]string{{"-sk", dir}, {"-sk", "--apparent-size", dir}} {
		out, err := exec.Command("du", args...).Output()
		if err != nil {
			continue
		}
		f := strings.Fields(string(out))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			if i == 0 {
				used = n
			} else {
				apparent = n
			}
		}
	}
	return used, apparent
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var httpc = &http.Client{Timeout: 30 * time.Second}

func httpDo(method, url, body string, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func getJSON(url string, v any) error {
	code, b, err := httpDo("GET", url, "", nil)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET %s: %d %s", url, code, b)
	}
	return json.Unmarshal(b, v)
}

// caddy is one Caddy process started by the bench.
type caddy struct {
	*proc
	dir   string
	admin string
	port  int
	base  string
}

// startCaddy writes the Caddyfile (with {{admin}}, {{dir}} and {{port}}
// filled in) and runs it until the admin API and the site answer.
func (e *env) startCaddy(name, caddyfile string) (*caddy, error) {
	dir, err := os.MkdirTemp(filepath.Join(e.out, "run"), name+"-")
	if err != nil {
		return nil, err
	}
	c := &caddy{dir: dir, admin: fmt.Sprintf("127.0.0.1:%d", freePort()), port: freePort()}
	c.base = fmt.Sprintf("http://127.0.0.1:%d", c.port)
	cf := strings.NewReplacer("{{admin}}", c.admin, "{{dir}}", dir, "{{port}}", strconv.Itoa(c.port)).Replace(caddyfile)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.out, "logs", filepath.Base(dir)+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.caddyBin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Env = append(cmd.Env, e.caddyEnv...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = sysAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.proc = &proc{name: name, cmd: cmd, done: make(chan struct{}), log: lf}
	procMu.Lock()
	procs[cmd.Process.Pid] = c.proc
	procMu.Unlock()
	go func() { _ = cmd.Wait(); close(c.proc.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for _, a := range []string{c.admin, fmt.Sprintf("127.0.0.1:%d", c.port)} {
		for {
			select {
			case <-c.proc.done:
				b, _ := os.ReadFile(logPath)
				return nil, fmt.Errorf("caddy %s exited while starting: %s", name, lastLines(string(b), 15))
			default:
			}
			conn, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				c.kill()
				return nil, fmt.Errorf("caddy %s did not listen on %s", name, a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c, nil
}

// lastProblem returns the last warn or error line of Caddy's log, shortened.
func (c *caddy) lastProblem() string {
	b, err := os.ReadFile(c.log.Name())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) != nil {
			continue
		}
		if lvl, _ := m["level"].(string); lvl != "warn" && lvl != "error" {
			continue
		}
		msg, _ := m["msg"].(string)
		if strings.Contains(msg, "HTTP/2 skipped") || strings.Contains(msg, "HTTP/3 skipped") || strings.Contains(msg, "not formatted") {
			continue
		}
		out := msg
		if e, ok := m["error"].(string); ok {
			out += ": " + e
		}
		if len(out) > 300 {
			out = out[:300] + "…"
		}
		return out
	}
	return ""
}

func (c *caddy) rssMiB() (float64, float64) {
	rss, hwm := rssKiB(c.pid())
	return float64(rss) / 1024, float64(hwm) / 1024
}

// memBreakdown is RssAnon and RssFile (file-backed pages: Badger's
// memory-mapped files) from /proc, and the Go heap in use from
// /debug/vars, all in MiB.
func (c *caddy) memBreakdown() (anon, file, heap float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid()))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "RssAnon:":
				anon = n / 1024
			case "RssFile:":
				file = n / 1024
			}
		}
	}
	var vars struct {
		Memstats struct{ HeapAlloc float64 } `json:"memstats"`
	}
	if getJSON("http://"+c.admin+"/debug/vars", &vars) == nil {
		heap = vars.Memstats.HeapAlloc / (1 << 20)
	}
	return anon, file, heap
}

// profile fetches a CPU profile of d from the admin endpoint into path.
func (c *caddy) profile(ctx context.Context, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", c.admin, int(d.Seconds()))
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("profile: %d %s", resp.StatusCode, b)
	}
	return os.WriteFile(path, b, 0o644)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
