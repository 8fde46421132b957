package testkit

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// PID returns the process id of the running Caddy, or 0.
func (c *Caddy) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// RSS returns the resident set size of the running Caddy in bytes (VmRSS
// from /proc), or 0 if it cannot be read.
func (c *Caddy) RSS() int64 {
	pid := c.PID()
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Goroutines returns Caddy's goroutine count, from the first line of
// /debug/pprof/goroutine?debug=1 on the admin endpoint ("goroutine
// profile: total N").
func (c *Caddy) Goroutines() (int, error) {
	resp, err := http.Get("http://" + c.Admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	if err != nil && line == "" {
		return 0, err
	}
	_, n, ok := strings.Cut(line, "total ")
	if !ok {
		return 0, fmt.Errorf("unexpected goroutine profile header %q", line)
	}
	return strconv.Atoi(strings.TrimSpace(n))
}
