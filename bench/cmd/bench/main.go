// Command bench runs agenthook's benchmarks (P1–P5, see BENCHMARKS.md) on
// loopback and writes BENCHMARKS.md and its chart. bench/run.sh is the
// one command that builds everything and calls it; see there.
//
//	bench measure -out bench/out [-quick] [-repeats n] [-d 10s] [-only P1,P3]
//	bench report  -out bench/out -md BENCHMARKS.md -chart bench/chart.png
//
// measure starts real processes (Caddy built from this checkout, the fake
// agent, the callback sink, loadgen, wrk) and writes out/results.json;
// report renders results.json, out/faults.jsonl (the fault suite's
// results, see testkit.RecordFault) and out/fuzz.txt into Markdown and a
// PNG chart. Every
// process started is killed on exit, also on SIGINT/SIGTERM.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

type env struct {
	// drainCPU is the CPU the last drain took, set by drainProfiled.
	drainCPU   drainCPU
	out        string
	merge      bool // -merge: keep the figures of scenarios not run
	caddyBin   string
	loadgenBin string
	agentBin   string
	sinkBin    string
	caddyEnv   []string

	quick     bool
	repeats   int
	p5Repeats int
	dur       time.Duration
	warmup    time.Duration
	conns     int
	profile   bool
	only      map[string]bool
	pgDSN     string // empty: no PostgreSQL figures
	pgNote    string

	res   *Results
	resMu sync.Mutex
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench measure|report [flags]")
		os.Exit(2)
	}
	sub := os.Args[1]
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	e := &env{}
	fs.StringVar(&e.out, "out", "bench/out", "output directory")
	switch sub {
	case "measure":
		fs.StringVar(&e.caddyBin, "caddy", "bench/out/caddy", "Caddy built from this checkout")
		bindir := fs.String("bin", "bench/out", "directory of loadgen, fakeagent and sink")
		fs.BoolVar(&e.quick, "quick", false, "3 repeats of 2s, smaller P4/P5 sizes")
		fs.IntVar(&e.repeats, "repeats", 0, "repeats per figure (default 5, quick 3)")
		fs.DurationVar(&e.dur, "d", 0, "duration of one load run (default 10s, quick 2s)")
		fs.IntVar(&e.conns, "c", 64, "connections for maximum-throughput runs")
		fs.BoolVar(&e.profile, "profile", true, "after each scenario, take a CPU profile of one more run")
		only := fs.String("only", "", "comma list of scenarios to run (P0, P1, P1B, P2..P7), default all")
		fs.BoolVar(&e.merge, "merge", false, "keep the other scenarios' figures from the existing results.json (re-measure some after a change; noted in the report)")
		fs.StringVar(&p3Extra, "p3-extra", "", "extra lines for the agenthook option in P3 configs, e.g. 'workers 64' (for tuning experiments; noted in the report)")
		fs.StringVar(&p3Delivery, "p3-delivery", "", "extra lines for the delivery block in P3 configs, e.g. 'concurrency 64'")
		_ = fs.Parse(os.Args[2:])
		e.loadgenBin = filepath.Join(*bindir, "loadgen")
		e.agentBin = filepath.Join(*bindir, "fakeagent")
		e.sinkBin = filepath.Join(*bindir, "sink")
		for _, p := range []*string{&e.caddyBin, &e.loadgenBin, &e.agentBin, &e.sinkBin, &e.out} {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
		if *only != "" {
			e.only = map[string]bool{}
			for _, s := range strings.Split(*only, ",") {
				e.only[strings.ToUpper(strings.TrimSpace(s))] = true
			}
		}
		os.Exit(e.measure())
	case "report":
		md := fs.String("md", "BENCHMARKS.md", "Markdown report to write")
		chart := fs.String("chart", "bench/chart.png", "PNG chart to write")
		_ = fs.Parse(os.Args[2:])
		if err := writeReport(e.out, *md, *chart); err != nil {
			fmt.Fprintln(os.Stderr, "bench report:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: bench measure|report [flags]")
		os.Exit(2)
	}
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (e *env) measure() int {
	if e.repeats == 0 {
		e.repeats = 5
		if e.quick {
			e.repeats = 3
		}
	}
	if e.dur == 0 {
		e.dur = 10 * time.Second
		if e.quick {
			e.dur = 2 * time.Second
		}
	}
	e.warmup = min(time.Second, e.dur/4)
	e.p5Repeats = min(e.repeats, 3)
	if e.quick {
		e.p5Repeats = 1
	}
	for _, d := range []string{e.out, filepath.Join(e.out, "run"), filepath.Join(e.out, "logs"), filepath.Join(e.out, "lg"), filepath.Join(e.out, "profiles")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			e.logf("%v", err)
			return 1
		}
	}
	// Old run directories hold big Badger stores; start clean.
	_ = os.RemoveAll(filepath.Join(e.out, "run"))
	_ = os.MkdirAll(filepath.Join(e.out, "run"), 0o755)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		e.logf("%s: stopping everything", s)
		killAll()
		os.Exit(130)
	}()
	defer killAll()

	e.res = &Results{
		Started:  time.Now().UTC(),
		Machine:  machineInfo(e.caddyBin),
		Settings: Settings{Repeats: e.repeats, P5Repeats: e.p5Repeats, DurationS: e.dur.Seconds(), WarmupS: e.warmup.Seconds(), Quick: e.quick, Conns: e.conns},
		Figures:  map[string]*Figure{},
	}
	if p3Extra != "" || p3Delivery != "" {
		e.note("P3 ran with extra settings: %q, delivery %q", p3Extra, p3Delivery)
	}
	if e.merge {
		if err := e.mergeOld(); err != nil {
			e.logf("-merge: %v", err)
			return 1
		}
	}
	e.setupPostgres()
	defer e.stopPostgres()

	scenarios := []struct {
		name string
		fn   func() error
	}{
		{"P0", e.p0Tools},
		{"P1", e.p1Sync},
		{"P1B", e.p1bBasic},
		{"P2", e.p2Intake},
		{"P3", e.p3Fanout},
		{"P4", e.p4Memory},
		{"P5", e.p5Growth},
		{"P6", e.p6Adapter},
		{"P7", e.p7Multi},
	}
	failed := 0
	for _, s := range scenarios {
		if e.only != nil && !e.only[s.name] {
			continue
		}
		start := time.Now()
		e.logf("== %s", s.name)
		if err := s.fn(); err != nil {
			e.logf("%s failed: %v", s.name, err)
			e.note("%s did not complete: %v", s.name, err)
			failed++
		}
		killAll()
		e.logf("== %s done in %s", s.name, time.Since(start).Round(time.Second))
		e.save()
	}
	e.res.Finished = time.Now().UTC()
	e.save()
	if os.Getenv("BENCH_KEEP") == "" {
		// The stores of a full run take gigabytes; logs stay in out/logs.
		killAll()
		_ = os.RemoveAll(filepath.Join(e.out, "run"))
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// mergeOld carries over, from the existing results.json, the figures,
// notes and profiles of the scenarios this invocation does not run, and
// notes which ones it re-measures.
func (e *env) mergeOld() error {
	b, err := os.ReadFile(filepath.Join(e.out, "results.json"))
	if err != nil {
		return err
	}
	var old Results
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	rerun := func(key string) bool {
		name, _, _ := strings.Cut(key, ".")
		name, _, _ = strings.Cut(name, "-")
		return e.only == nil || e.only[name]
	}
	for k, f := range old.Figures {
		if !rerun(k) {
			e.res.Figures[k] = f
		}
	}
	for k, why := range old.Failed {
		if !rerun(k) {
			e.fail(k, why)
		}
	}
	for _, p := range old.Profiles {
		if !rerun(p.Scenario) {
			e.res.Profiles = append(e.res.Profiles, p)
		}
	}
	e.res.Notes = append(e.res.Notes, old.Notes...)
	var names []string
	for n := range e.only {
		names = append(names, n)
	}
	slices.Sort(names)
	e.note("%s re-measured at %s with the Caddy binary of that time; the other figures are from the run of %s → %s",
		strings.Join(names, ", "), e.res.Started.Format("15:04 MST"), old.Started.Format("2006-01-02 15:04"), old.Finished.Format("15:04 MST"))
	e.res.Started = old.Started
	return nil
}

func (e *env) note(format string, args ...any) {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	e.res.Notes = append(e.res.Notes, fmt.Sprintf(format, args...))
}

// add records one repeat's value of a figure.
func (e *env) add(key, label, unit string, v float64) {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	f := e.res.Figures[key]
	if f == nil {
		f = &Figure{Label: label, Unit: unit}
		e.res.Figures[key] = f
	}
	f.Values = append(f.Values, v)
}

// fail records that a figure could not be measured.
func (e *env) fail(key, why string) {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	if e.res.Failed == nil {
		e.res.Failed = map[string]string{}
	}
	e.res.Failed[key] = why
}

func (e *env) save() {
	e.resMu.Lock()
	defer e.resMu.Unlock()
	b, _ := json.MarshalIndent(e.res, "", "  ")
	_ = os.WriteFile(filepath.Join(e.out, "results.json"), b, 0o644)
}

// Results is out/results.json.
type Results struct {
	Started  time.Time          `json:"started"`
	Finished time.Time          `json:"finished"`
	Machine  Machine            `json:"machine"`
	Settings Settings           `json:"settings"`
	Figures  map[string]*Figure `json:"figures"`
	Notes    []string           `json:"notes,omitempty"`
	// Failed holds figures that could not be measured, with why.
	Failed   map[string]string `json:"failed,omitempty"`
	Profiles []Profile         `json:"profiles,omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	Repeats   int     `json:"repeats"`
	P5Repeats int     `json:"p5_repeats"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	Quick     bool    `json:"quick"`
	Conns     int     `json:"connections"`
}

// Figure is one measured quantity, one value per repeat.
type Figure struct {
	Label  string    `json:"label"`
	Unit   string    `json:"unit"`
	Values []float64 `json:"values"`
}

func (f *Figure) median() float64 {
	if f == nil || len(f.Values) == 0 {
		return 0
	}
	v := slices.Clone(f.Values)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (f *Figure) minmax() (float64, float64) {
	if f == nil || len(f.Values) == 0 {
		return 0, 0
	}
	return slices.Min(f.Values), slices.Max(f.Values)
}

// Profile is a CPU profile taken during one extra, unmeasured run.
type Profile struct {
	Scenario string `json:"scenario"`
	Path     string `json:"path"`
	Top      string `json:"top"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"model"`
	MemTotal  string `json:"mem_total"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Caddy     string `json:"caddy"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	LoadAvg   string `json:"loadavg_at_start"`
	Wrk       string `json:"wrk"`
	Postgres  string `json:"postgres,omitempty"`
	Hostname  string `json:"hostname"`
	GOMAXPROC int    `json:"gomaxprocs"`
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func machineInfo(caddyBin string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROC: runtime.GOMAXPROCS(0), Date: time.Now().UTC().Format(time.RFC3339)}
	for _, line := range strings.Split(cmdOut("lscpu"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model name" {
			m.Model = strings.TrimSpace(v)
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		m.MemTotal = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
	}
	if n := cmdOut("nproc"); n != "" {
		fmt.Sscan(n, &m.CPUs)
	}
	m.Kernel = cmdOut("uname", "-sr")
	m.Go = cmdOut("go", "version")
	m.Caddy = firstLine(cmdOut(caddyBin, "version"))
	m.Commit = cmdOut("git", "rev-parse", "--short", "HEAD")
	if cmdOut("git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += " (with uncommitted changes)"
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	m.Wrk = firstLine(cmdOut("wrk", "-v"))
	m.Hostname, _ = os.Hostname()
	return m
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}
