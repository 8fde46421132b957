package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/internal/testkit/fake"
)

// LG is loadgen's JSON result.
type LG struct {
	Mode      string         `json:"mode"`
	DurationS float64        `json:"duration_s"` // the measured window
	Count     int64          `json:"count"`
	OK        int64          `json:"ok"`
	Rate      float64        `json:"rate"`
	OKRate    float64        `json:"ok_rate"`
	Statuses  map[string]int `json:"statuses"`
	Errors    map[string]int `json:"errors"`
	LatencyMS Pct            `json:"latency_ms"`
	ServiceMS Pct            `json:"service_ms"`
	Recorded  int            `json:"recorded"`
	Warnings  []string       `json:"warnings"`
	Targets   []struct {
		URL string `json:"url"`
		OK  int64  `json:"ok"`
	} `json:"targets"`
	// CPUS is loadgen's own CPU time (user + system), in seconds.
	CPUS float64 `json:"-"`
}

// Pct are latency percentiles in ms.
type Pct struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

var lgSeq int

// load runs loadgen; wall bounds the whole process.
func (e *env) load(label string, wall time.Duration, args ...string) (*LG, error) {
	lgSeq++
	path := filepath.Join(e.out, "lg", fmt.Sprintf("%03d-%s.json", lgSeq, label))
	args = append(args, "-o", path, "-label", label)
	ctx, cancel := context.WithTimeout(context.Background(), wall)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.loadgenBin, args...)
	cmd.SysProcAttr = sysAttr()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("loadgen %s: %v: %s", label, err, strings.TrimSpace(stderr.String()))
	}
	var r LG
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("loadgen %s: %v", label, err)
	}
	if ps := cmd.ProcessState; ps != nil {
		r.CPUS = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	errs := 0
	for _, n := range r.Errors {
		errs += n
	}
	e.logf("  %-28s %9.0f/s ok %9.0f/s  p50 %7.2fms p99 %7.2fms  errors %v %s", label, r.Rate, r.OKRate, r.LatencyMS.P50, r.LatencyMS.P99, r.Errors, strings.Join(r.Warnings, "; "))
	return &r, nil
}

// maxArgs are the flags of a closed-loop maximum-throughput run.
func (e *env) maxArgs(url string, extra ...string) []string {
	return e.connArgs(url, e.conns, extra...)
}

// connArgs are the flags of a closed-loop maximum-throughput run with
// conns connections.
func (e *env) connArgs(url string, conns int, extra ...string) []string {
	return append([]string{"-url", url, "-c", strconv.Itoa(conns), "-d", e.dur.String(), "-warmup", e.warmup.String()}, extra...)
}

// openArgs are the flags of an open-loop run at rate.
func (e *env) openArgs(url string, rate float64, extra ...string) []string {
	return append([]string{"-url", url, "-c", strconv.Itoa(e.conns), "-rate", strconv.FormatFloat(rate, 'f', 1, 64), "-d", e.dur.String(), "-warmup", e.warmup.String(), "-timeout", "5s"}, extra...)
}

func (e *env) wall() time.Duration { return e.dur + 2*time.Minute }

// fill sends n requests as fast as c connections allow (no warmup), and
// fails unless all of them succeed.
func (e *env) fill(label, url string, n int, extra ...string) (*LG, error) {
	args := append([]string{"-url", url, "-c", "32", "-n", strconv.Itoa(n), "-d", "30m", "-warmup", "0s", "-timeout", "30s"}, extra...)
	r, err := e.load(label, 35*time.Minute, args...)
	if err != nil {
		return nil, err
	}
	if r.OK != int64(n) {
		return r, fmt.Errorf("%s: %d of %d requests succeeded (%v)", label, r.OK, n, r.Errors)
	}
	return r, nil
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk runs wrk against url and returns requests per second.
func (e *env) wrk(url string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.wall())
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(e.conns), "-d"+strconv.Itoa(max(1, int(e.dur.Seconds())))+"s", url)
	cmd.SysProcAttr = sysAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk: no Requests/sec in %s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	e.logf("  %-28s %9.0f/s", "wrk", v)
	return v, nil
}

// sinkStats is the sink's /_stats.
type sinkStats = fake.SinkStats

type arrival struct {
	task string
	at   int64
	id   string
}

func sinkDump(addr string) ([]arrival, error) {
	code, b, err := httpDo("GET", "http://"+addr+"/_dump", "", nil)
	if err != nil || code != 200 {
		return nil, fmt.Errorf("sink dump: %d %v", code, err)
	}
	got, err := fake.ReadDump(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("sink dump: %w", err)
	}
	out := make([]arrival, len(got))
	for i, a := range got {
		// "-" as before, for a delivery without one.
		out[i] = arrival{task: cmp.Or(a.TaskID, "-"), at: a.At.UnixNano(), id: cmp.Or(a.WebhookID, "-")}
	}
	return out, nil
}

func sinkReset(addr string) error {
	_, _, err := httpDo("POST", "http://"+addr+"/_reset", "", nil)
	return err
}

// waitSink waits until the sink holds at least n unique deliveries.
func waitSink(addr string, n int64, timeout time.Duration) (sinkStats, error) {
	deadline := time.Now().Add(timeout)
	var s sinkStats
	for {
		if err := getJSON("http://"+addr+"/_stats", &s); err != nil {
			return s, err
		}
		if s.UniqueIDs >= n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("sink got %d of %d deliveries within %s", s.UniqueIDs, n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readRecords reads loadgen's -record file: task -> (scheduled, 202 received).
func readRecords(path string) (map[string][2]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string][2]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		s, _ := strconv.ParseInt(f[1], 10, 64)
		d, _ := strconv.ParseInt(f[2], 10, 64)
		m[f[0]] = [2]int64{s, d}
	}
	return m, nil
}

func pct(ns []int64) Pct {
	if len(ns) == 0 {
		return Pct{}
	}
	slices.Sort(ns)
	q := func(f float64) float64 {
		i := int(f*float64(len(ns))+0.999999) - 1
		i = max(0, min(i, len(ns)-1))
		return float64(ns[i]) / 1e6
	}
	var sum float64
	for _, v := range ns {
		sum += float64(v)
	}
	return Pct{P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: float64(ns[len(ns)-1]) / 1e6, Mean: sum / float64(len(ns)) / 1e6}
}

// profileTop runs `go tool pprof -top` on a profile.
func profileTop(bin, path string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", bin, path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("pprof failed: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	// Keep the header from "Showing nodes" on.
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "Showing nodes") {
			lines = lines[i:]
			break
		}
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// profiled runs load while taking a CPU profile of c, and records the top.
func (e *env) profiled(scenario string, c *caddy, load func() error) {
	if !e.profile {
		return
	}
	path, _ := filepath.Abs(filepath.Join(e.out, "profiles", scenario+".pprof"))
	d := max(time.Second, e.dur-e.warmup)
	errc := make(chan error, 1)
	go func() {
		time.Sleep(e.warmup)
		errc <- c.profile(context.Background(), d, path)
	}()
	if err := load(); err != nil {
		e.note("profile run of %s: %v", scenario, err)
	}
	if err := <-errc; err != nil {
		e.note("profile of %s: %v", scenario, err)
		return
	}
	e.keepProfile(scenario, path)
}

// profileNow takes a CPU profile of c for d, now.
func (e *env) profileNow(scenario string, c *caddy, d time.Duration) {
	if !e.profile {
		return
	}
	path, _ := filepath.Abs(filepath.Join(e.out, "profiles", scenario+".pprof"))
	if err := c.profile(context.Background(), d, path); err != nil {
		e.note("profile of %s: %v", scenario, err)
		return
	}
	e.keepProfile(scenario, path)
}

func (e *env) keepProfile(scenario, path string) {
	top := profileTop(e.caddyBin, path)
	e.resMu.Lock()
	e.res.Profiles = append(e.res.Profiles, Profile{Scenario: scenario, Path: path, Top: top})
	e.resMu.Unlock()
	e.logf("  profile of %s saved to %s", scenario, path)
}
