package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agenthook/agenthook/internal/testkit"
)

func writeReport(out, mdPath, chartPath string) error {
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		return fmt.Errorf("no results: %w (run `bench measure` first)", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if err := writeChart(&r, chartPath); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	chartRel, err := filepath.Rel(filepath.Dir(mdPath), chartPath)
	if err != nil {
		chartRel = chartPath
	}
	faults := readFaults(filepath.Join(out, "faults.jsonl"))
	fuzz := readFuzz(filepath.Join(out, "fuzz.txt"))
	md := renderMarkdown(&r, filepath.ToSlash(chartRel), faults, fuzz)
	// The analysis of the misses is written by hand (profiles and their
	// reading cannot be generated); it goes right after the results.
	if a, err := os.ReadFile(filepath.Join(filepath.Dir(chartPath), "ANALYSIS.md")); err == nil {
		md = strings.Replace(md, "## Load generator check (P0)", string(a)+"\n## Load generator check (P0)", 1)
	}
	return os.WriteFile(mdPath, []byte(md), 0o644)
}

// ------------------------------------------------------------- formatting

func (f *Figure) cell(digits int) string {
	if f == nil || len(f.Values) == 0 {
		return "not measured"
	}
	lo, hi := f.minmax()
	u := f.Unit
	if lo == hi {
		// One value (or all equal): no range to show.
		switch u {
		case "×":
			return fmt.Sprintf("**%.*f×** (n=%d)", digits, f.median(), len(f.Values))
		case "req/s", "deliveries/s", "tasks/s":
			return fmt.Sprintf("**%s/s** (n=%d)", thousands(f.median()), len(f.Values))
		}
		return fmt.Sprintf("**%.*f %s** (n=%d)", digits, f.median(), u, len(f.Values))
	}
	switch u {
	case "×":
		return fmt.Sprintf("**%.*f×** (%.*f–%.*f, n=%d)", digits, f.median(), digits, lo, digits, hi, len(f.Values))
	case "req/s", "deliveries/s", "tasks/s":
		return fmt.Sprintf("**%s/s** (%s–%s, n=%d)", thousands(f.median()), thousands(lo), thousands(hi), len(f.Values))
	}
	return fmt.Sprintf("**%.*f %s** (%.*f–%.*f, n=%d)", digits, f.median(), u, digits, lo, digits, hi, len(f.Values))
}

func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

type verdict string

const (
	met     verdict = "met"
	missed  verdict = "**missed**"
	unknown verdict = "not measured"
)

func atLeast(f *Figure, v float64) verdict {
	if f == nil || len(f.Values) == 0 {
		return unknown
	}
	if f.median() >= v {
		return met
	}
	return missed
}

func atMost(f *Figure, v float64) verdict {
	if f == nil || len(f.Values) == 0 {
		return unknown
	}
	if f.median() <= v {
		return met
	}
	return missed
}

// flatness says whether medians stay within 20% of the best of them.
func flatness(figs []*Figure) (string, verdict) {
	var meds []float64
	for _, f := range figs {
		if f == nil || len(f.Values) == 0 {
			return "", unknown
		}
		meds = append(meds, f.median())
	}
	lo, hi := slices.Min(meds), slices.Max(meds)
	if hi == 0 {
		return "", unknown
	}
	spread := fmt.Sprintf("lowest median is %.0f%% of the highest", 100*lo/hi)
	if lo >= 0.8*hi {
		return spread, "flat"
	}
	return spread, "**not flat**"
}

// ------------------------------------------------------------- markdown

func renderMarkdown(r *Results, chart string, faults []faultResult, fuzz []fuzzResult) string {
	fig := func(k string) *Figure { return r.Figures[k] }
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	w("# agenthook benchmarks and fault tests\n\n")
	if r.Settings.Quick {
		w("> **Quick validation run** (%d repeats of %.0f s, reduced sizes). These numbers are for checking the tooling, not for publication: run `bench/run.sh` without `BENCH_QUICK` on a quiet machine.\n\n", r.Settings.Repeats, r.Settings.DurationS)
	}
	w("Produced by one command, `bench/run.sh` (see [How to run](#how-to-run)). All traffic stays on loopback; every load is bounded in count and time. ")
	w("Each figure is the **median** over repeats, with the range (min–max) and the number of repeats *n*. ")
	w("agenthook and its baseline run in the same invocation, against the same fake agent, with the same load generator, alternating which goes first.\n\n")

	m := r.Machine
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPUs (`nproc`) | %d |\n| CPU model (`lscpu`) | %s |\n| memory | %s |\n| kernel | %s |\n| Go | %s |\n| Caddy | %s |\n", m.CPUs, m.Model, m.MemTotal, m.Kernel, m.Go, m.Caddy)
	w("| agenthook commit | %s |\n| load generators | loadgen (this repo), %s |\n", m.Commit, m.Wrk)
	if m.Postgres != "" {
		w("| PostgreSQL | %s |\n", m.Postgres)
	}
	w("| run | %s → %s, load average at start %s |\n", r.Started.Format("2006-01-02 15:04 MST"), r.Finished.Format("15:04 MST"), m.LoadAvg)
	w("| settings | %d repeats × %.0f s per load run (first %.1f s not measured), %d connections for maximum-throughput runs, %d repeats for P4-queued/P5 |\n\n",
		r.Settings.Repeats, r.Settings.DurationS, r.Settings.WarmupS, r.Settings.Conns, r.Settings.P5Repeats)

	// The table of the issue.
	w("## Results\n\n")
	w("| | figure | measured: median (range, n) | baseline, same run | target | result |\n|---|---|---|---|---|---|\n")
	w("| P1 | sync endpoint (HMAC auth, chat continuation, reverse_proxy) max throughput | %s; agenthook %s | plain `reverse_proxy`: %s | ≥ 0.90× | %s |\n",
		fig("P1.ratio").cell(2), fig("P1.max.agenthook").cell(0), fig("P1.max.plain").cell(0), atLeast(fig("P1.ratio"), 0.9))
	w("| P1 | added p99 at 50%% of agenthook's max (%s, open loop) | %s (agenthook p99 %s) | plain p99 %s | ≤ 1 ms | %s |\n",
		fig("P1.halfrate").cell(0), fig("P1.addedp99").cell(2), fig("P1.p99.agenthook").cell(2), fig("P1.p99.plain").cell(2), atMost(fig("P1.addedp99"), 1))
	w("| P1b-a | Basic-auth sync endpoint (bcrypt cost 14 as `caddy hash-password` makes it; the right password on every request; chat continuation) max throughput | %s; agenthook %s | plain `reverse_proxy`, same `Authorization`: %s | ≥ 0.90× | %s |\n",
		fig("P1B.a.ratio").cell(2), fig("P1B.a.max.agenthook").cell(0), fig("P1B.a.max.plain").cell(0), atLeast(fig("P1B.a.ratio"), 0.9))
	w("| P1b-b | bearer endpoint max throughput during a flood of wrong Basic passwords on the same Caddy (%d connections, a new password per request; the flood was answered at %s: 401 %s, 503 %s) | %s; during the flood %s (p99 %s) | the same endpoint without the flood, same run: %s | ≥ 0.50× | %s |\n",
		floodConns, fig("P1B.b.flood").cell(0), fig("P1B.b.flood401").cell(0), fig("P1B.b.flood503").cell(0),
		fig("P1B.b.ratio").cell(2), fig("P1B.b.flooded").cell(0), fig("P1B.b.floodp99").cell(1), fig("P1B.b.alone").cell(0), atLeast(fig("P1B.b.ratio"), 0.5))
	w("| P6 | sync endpoint with `adapter openai` (the body shaped into a chat-completions request, the completion into an answer) max throughput | %s; agenthook %s | plain `reverse_proxy` to the same OpenAI-shaped agent: %s | ≥ 0.85× | %s |\n",
		fig("P6.ratio").cell(2), fig("P6.max.agenthook").cell(0), fig("P6.max.plain").cell(0), atLeast(fig("P6.ratio"), 0.85))
	w("| P2 | async intake, durable 202, Badger | %s; %s | Caddy `respond 202`: %s | ≥ 0.50× | %s |\n",
		fig("P2.ratio.badger").cell(2), fig("P2.badger").cell(0), fig("P2.respond").cell(0), atLeast(fig("P2.ratio.badger"), 0.5))
	w("| P2 | the same at %d connections | %s; %s | Caddy `respond 202` at %d connections: %s | ≥ 0.25× | %s |\n",
		lowConns, fig("P2.c16.ratio").cell(3), fig("P2.c16.badger").cell(0), lowConns, fig("P2.c16.respond").cell(0), atLeast(fig("P2.c16.ratio"), 0.25))
	w("| P2 | the same at one connection, counted in fdatasyncs: the 202's p50 ÷ the p50 of one 4 KiB append + `fdatasync` on the store's filesystem (same run) | %s (202 p50 %s; one `fdatasync` %s) | Caddy `respond 202` p50 at one connection: %s | about 2 (≤ 2.5) | %s |\n",
		fig("P2.c1.syncs").cell(2), fig("P2.c1.badger").cell(2), fig("P2.sync").cell(2), fig("P2.c1.respond").cell(2), atMost(fig("P2.c1.syncs"), 2.5))
	pg := fig("P2.ratio.postgres")
	pgCell := pg.cell(2) + "; " + fig("P2.postgres").cell(0)
	if pg == nil {
		pgCell = "not measured: " + pgSkipNote(r)
	}
	w("| P2 | async intake, durable 202, PostgreSQL | %s | Caddy `respond 202` (same run) | ≥ 0.25× | %s |\n", pgCell, atLeast(pg, 0.25))
	p7Rows(w, fig, r)
	if f := fig("P3.ratio"); f != nil {
		w("| P3 | whole tasks/s (intake queued, then one backend call and one signed delivery each, drained), %d CPUs, ÷ plain `reverse_proxy` to the same agent | %s; %s deliveries/s | plain `reverse_proxy`: %s; the sink's own max intake: %s | ≥ 0.50× | %s |\n",
			m.CPUs, f.cell(2), fig("P3.max").cell(0), fig("P3.plain").cell(0), fig("P3.sink").cell(0), atLeast(f, 0.5))
		w("| P3 | CPU per whole task during the drain: Caddy; the fake agent; the sink | %s; %s; %s | Outpost, measured on this machine: about 1.6 ms per event | report | — |\n",
			fig("P3.cpu.caddy").cell(2), fig("P3.cpu.agent").cell(2), fig("P3.cpu.sink").cell(2))
	} else {
		w("| P3 | signed deliveries/s to a local sink, %d CPUs | %s | the sink's own max intake: %s | ≥ 5,000/s | %s |\n",
			m.CPUs, fig("P3.max").cell(0), fig("P3.sink").cell(0), atLeast(fig("P3.max"), 5000))
	}
	if f := fig("P3.steady.p99"); f != nil {
		w("| P3 | 202 → callback received, p99, at %s for three load runs' length (open loop), steady state (new instance) | %s (p50 %s, max %s) | — | ≤ 50 ms | %s |\n",
			fig("P3.halfrate").cell(0), f.cell(1), fig("P3.steady.p50").cell(1), fig("P3.steady.max").cell(1), atMost(f, 50))
	}
	w("| P3 | the same, right after draining the queue above on the same instance | %s (p50 %s, max %s) | — | ≤ 50 ms | %s |\n",
		fig("P3.p99").cell(1), fig("P3.p50").cell(1), fig("P3.max_lat").cell(1), atMost(fig("P3.p99"), 50))
	w("| P4 | RSS idle | %s | plain Caddy idle: %s | ≤ 60 MiB | %s |\n", fig("P4.idle").cell(1), fig("P4.idleplain").cell(1), atMost(fig("P4.idle"), 60))
	q := fig("P4.queued")
	qv := atMost(q, 300)
	qLabel := "RSS with 100k queued tasks"
	if q != nil && !strings.Contains(q.Label, "100k") {
		qLabel = q.Label + " (quick run: not 100k)"
		qv = "not at 100k"
	}
	w("| P4 | %s | %s (peak %s; RssAnon %s, RssFile %s, Go heap %s) | — | ≤ 300 MiB | %s |\n", qLabel, q.cell(1), fig("P4.queuedpeak").cell(1),
		fig("P4.queuedanon").cell(0), fig("P4.queuedfile").cell(0), fig("P4.queuedheap").cell(0), qv)
	if f := fig("P4.queuedsettled"); f != nil {
		w("| P4 | the same, after 130 s idle | %s (RssAnon %s, RssFile %s, Go heap %s) | — | ≤ 300 MiB | %s |\n", f.cell(1),
			fig("P4.queuedsettledanon").cell(0), fig("P4.queuedsettledfile").cell(0), fig("P4.queuedsettledheap").cell(0), atMost(f, 300))
	}
	dv := atMost(fig("P4.diskratio"), 2)
	if r.Settings.Quick && fig("P4.diskratio") != nil {
		dv = "not conclusive (quick: GC not reached)"
	}
	w("| P4 | disk after retention GC vs live data | %s: %s after GC, %s live | peak %s | ≤ 2× | %s |\n",
		fig("P4.diskratio").cell(2), fig("P4.diskafter").cell(1), fig("P4.diskref").cell(1), fig("P4.diskpeak").cell(1), dv)
	p5row := func(what string, keys []string, names []string) {
		var figs []*Figure
		var cells []string
		var failed []string
		for i, k := range keys {
			figs = append(figs, fig(k))
			if why, ok := r.Failed[k]; ok && fig(k) == nil {
				cells = append(cells, names[i]+": **failed** ("+shorten(why, 160)+")")
				failed = append(failed, names[i])
				continue
			}
			cells = append(cells, names[i]+": "+fig(k).cell(0))
		}
		spread, v := flatness(figs)
		if len(failed) > 0 {
			v = verdict("**not flat: fails at " + strings.Join(failed, ", ") + "**")
		}
		w("| P5 | %s | %s | — | flat, or say why not | %s%s |\n", what, strings.Join(cells, "<br>"), v, map[bool]string{true: " (" + spread + ")"}[spread != ""])
	}
	regNames := []string{"1", "100", "10k"}
	p5row("P2 intake with 1, 100, 10k callback registrations", []string{"P5.p2.regs.1", "P5.p2.regs.100", "P5.p2.regs.10000"}, regNames)
	qk2 := queuedKeys(r, "p2")
	p5row("P2 intake with "+queuedNames(qk2)+" tasks queued", qk2, queuedShort(qk2))
	p5row("P3 deliveries/s with 1, 100, 10k registrations (each task fans out to all)", []string{"P5.p3.regs.1", "P5.p3.regs.100", "P5.p3.regs.10000"}, regNames)
	qk3 := queuedKeys(r, "p3")
	p5row("P3 deliveries/s with "+queuedNames(qk3)+" tasks queued", qk3, queuedShort(qk3))
	w("\n![benchmark chart](%s)\n\n", chart)

	if len(r.Notes) > 0 {
		w("### Notes from this run\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
		w("\n")
	}

	w("## Load generator check (P0)\n\n")
	w("`loadgen` (bench/cmd/loadgen) speaks HTTP/1.1 over raw keep-alive connections, one request in flight per connection, like wrk. ")
	w("Against the same plain `respond` site, same connections, same run:\n\n")
	w("| tool | throughput |\n|---|---|\n| wrk -t2 | %s |\n| loadgen, closed loop | %s |\n\n", fig("P0.wrk").cell(0), fig("P0.loadgen").cell(0))
	lgw := 0.0
	if wr := fig("P0.wrk").median(); wr > 0 {
		lgw = fig("P0.loadgen").median() / wr
	}
	busiest := 0.0
	for _, k := range []string{"P1.max.agenthook", "P1B.a.max.agenthook", "P1B.b.alone", "P2.badger", "P2.postgres"} {
		busiest = max(busiest, fig(k).median())
	}
	if lgw > 0 {
		w("loadgen reaches **%.0f%%** of wrk's rate on the same site. ", 100*lgw)
		if busiest > 0 {
			w("The fastest agenthook figure below is %s req/s, %.0f%% of what loadgen drives against `respond`, so the generator is not what limits agenthook's numbers. ", thousands(busiest), 100*busiest/fig("P0.loadgen").median())
		}
		if lgw < 0.97 {
			w("The baselines that run near that rate (Caddy `respond 202` in P2) may be held back by the generator by up to %.0f%%, which would make agenthook's ratio to them look that much better than it is. ", 100*(1-lgw))
		}
	}
	w("On %d CPUs the load generator, the fake agent and the sink share the machine with Caddy, so no figure here is a ceiling for a dedicated box; every comparison runs both sides with the same tool and the same neighbours. ", m.CPUs)
	w("Open loop: latency is measured from each request's *scheduled* send time (coordinated omission accounted for). The scheduler's own lag (Go timers), measured against an idle `respond` site at 2,000/s, is %s at p99; it is in both sides of every comparison.\n\n", fig("P0.lag").cell(2))

	w("## Methods\n\n")
	b.WriteString(methods)

	w("## Fault suite\n\n")
	w("`e2e/faults_test.go`, run by `bench/run.sh` with `AGENTHOOK_FAULTS=full`; CI runs the same tests at a reduced size (`go test ./e2e -run TestFault`). Each drives a real Caddy built from this checkout.\n\n")
	if len(faults) == 0 {
		w("Not run in this invocation.\n\n")
	} else {
		w("| fault | result | time | what was checked and seen |\n|---|---|---|---|\n")
		for _, f := range faults {
			w("| %s | %s | %.0f s | %s |\n", f.name, f.action, f.elapsed, strings.ReplaceAll(strings.Join(f.lines, "<br>"), "|", "\\|"))
		}
		w("\n")
	}

	w("## Fuzzing\n\n")
	if len(fuzz) == 0 {
		w("Not run in this invocation.\n\n")
	} else {
		w("Every fuzz target in the module, run by `bench/run.sh` (`FUZZ_TIME`, default 5m each; `FUZZ_JOBS` targets at a time, default one per CPU, each with one fuzzing worker, so executions are those of one CPU). Crashers land in the package's `testdata/fuzz/<target>/`, where `go test` replays them as regression tests.\n\n")
		w("| package | target | time | executions | result | new crashers |\n|---|---|---|---|---|---|\n")
		for _, f := range fuzz {
			w("| %s | %s | %s | %s | %s | %s |\n", f.pkg, f.target, f.time, f.execs, f.status, f.crashers)
		}
		w("\n")
	}

	w("## Every figure\n\n| key | figure | unit | median | range | n | values |\n|---|---|---|---|---|---|---|\n")
	keys := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := r.Figures[k]
		lo, hi := f.minmax()
		var vs []string
		for _, v := range f.Values {
			vs = append(vs, fmtNum(v))
		}
		w("| %s | %s | %s | %s | %s–%s | %d | %s |\n", k, strings.ReplaceAll(f.Label, "|", "\\|"), f.Unit, fmtNum(f.median()), fmtNum(lo), fmtNum(hi), len(f.Values), strings.Join(vs, ", "))
	}
	w("\n")

	if len(r.Profiles) > 0 {
		w("## CPU profiles\n\n")
		w("Taken from Caddy's admin endpoint (`/debug/pprof/profile`) during one extra, unmeasured run of each scenario; the files are in `bench/out/profiles/`.\n\n")
		for _, p := range r.Profiles {
			w("<details><summary>%s</summary>\n\n```\n%s\n```\n\n</details>\n\n", p.Scenario, p.Top)
		}
	}

	w("## How to run\n\n")
	b.WriteString(howToRun)
	return b.String()
}

// p7Rows are the two-instance run's rows: one PostgreSQL, whole tasks,
// two Caddy instances against one. It has no target of the issue's: on
// the machine's shared cores it shows the cost of coordinating through
// the database, not scaling (bench/ANALYSIS.md).
func p7Rows(w func(string, ...any), fig func(string) *Figure, r *Results) {
	if fig("P7.completed.one") == nil && fig("P7.completed.two") == nil {
		if why, ok := r.Failed["P7.completed.one"]; ok {
			w("| P7 | two instances on one PostgreSQL | not measured: %s | — | — | — |\n", shorten(why, 160))
		}
		return
	}
	w("| P7 | whole async tasks on one PostgreSQL (202, backend call, signed delivery), tasks delivered/s from load start to the last delivery: **two** Caddy instances, loadgen's connections split over both | %s; two instances %s | **one** instance, same database server, same run: %s | none (shared cores: see the analysis) | — |\n",
		fig("P7.ratio").cell(2), fig("P7.completed.two").cell(0), fig("P7.completed.one").cell(0))
	w("| P7 | the same: tasks accepted (202)/s, intake p99, and delivered/s while the load ran | two: %s, p99 %s, %s | one: %s, p99 %s, %s | — | — |\n",
		fig("P7.accepted.two").cell(0), fig("P7.p99.two").cell(0), fig("P7.during.two").cell(0),
		fig("P7.accepted.one").cell(0), fig("P7.p99.one").cell(0), fig("P7.during.one").cell(0))
	w("| P7 | every accepted task delivered exactly once (counted at the sink by task id): tasks run twice (two webhook ids), deliveries received again (same id), tasks never delivered | two: %s, %s, %s | one: %s, %s, %s | 0 tasks run twice or lost | %s |\n",
		fig("P7.twice.two").cell(0), fig("P7.redelivered.two").cell(0), fig("P7.missing.two").cell(0),
		fig("P7.twice.one").cell(0), fig("P7.redelivered.one").cell(0), fig("P7.missing.one").cell(0),
		allZero(fig("P7.twice.two"), fig("P7.missing.two"), fig("P7.twice.one"), fig("P7.missing.one")))
	w("| P7 | split between the two instances: instance A's share of the 202s, of the tasks run, of the deliveries made | %s, %s, %s | — | — | — |\n",
		fig("P7.split.accepted").cell(1), fig("P7.split.finished").cell(1), fig("P7.split.delivered").cell(1))
	w("| P7 | PostgreSQL per task: CPU, tasks per PostgreSQL CPU-second, share of the run's CPU; WAL, commits, rows written, index scans of the tasks table | two: %s, %s, %s; %s, %s, %s, %s | one: %s, %s, %s; %s, %s, %s, %s | — | — |\n",
		fig("P7.pgus.two").cell(0), fig("P7.perpgcore.two").cell(0), fig("P7.pgshare.two").cell(0), fig("P7.wal.two").cell(0), fig("P7.commits.two").cell(2), fig("P7.rows.two").cell(2), fig("P7.taskidx.two").cell(0),
		fig("P7.pgus.one").cell(0), fig("P7.perpgcore.one").cell(0), fig("P7.pgshare.one").cell(0), fig("P7.wal.one").cell(0), fig("P7.commits.one").cell(2), fig("P7.rows.one").cell(2), fig("P7.taskidx.one").cell(0))
}

// allZero is met when every value of every figure is 0.
func allZero(figs ...*Figure) verdict {
	for _, f := range figs {
		if f == nil || len(f.Values) == 0 {
			return unknown
		}
		if _, hi := f.minmax(); hi != 0 {
			return missed
		}
	}
	return met
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func pgSkipNote(r *Results) string {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "PostgreSQL figures skipped") {
			return strings.TrimPrefix(n, "PostgreSQL figures skipped: ")
		}
	}
	return "no PostgreSQL server"
}

func queuedKeys(r *Results, which string) []string {
	var ns []int
	for k := range r.Figures {
		var n int
		if _, err := fmt.Sscanf(k, "P5."+which+".queued.%d", &n); err == nil {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	if len(ns) == 0 {
		ns = []int{0, 10000, 100000}
	}
	var keys []string
	for _, n := range ns {
		keys = append(keys, fmt.Sprintf("P5.%s.queued.%d", which, n))
	}
	return keys
}

func queuedShort(keys []string) []string {
	var out []string
	for _, k := range keys {
		var n int
		fmt.Sscanf(k[strings.LastIndexByte(k, '.')+1:], "%d", &n)
		if n == 0 {
			out = append(out, "0")
		} else {
			out = append(out, fmt.Sprintf("%dk", n/1000))
		}
	}
	return out
}

func queuedNames(keys []string) string {
	s := queuedShort(keys)
	if len(s) < 2 {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// ------------------------------------------------------------- faults, fuzz

type faultResult struct {
	name    string
	action  string
	elapsed float64
	lines   []string
}

// readFaults reads the fault suite's results, as testkit.RecordFault
// wrote them to the file that AGENTHOOK_FAULT_RESULTS named.
func readFaults(path string) []faultResult {
	results, err := testkit.ReadFaultResults(path)
	if err != nil && len(results) == 0 {
		return nil
	}
	var out []faultResult
	for _, r := range results {
		fr := faultResult{name: r.Test, elapsed: r.Seconds}
		switch r.Result {
		case testkit.FaultPass:
			fr.action = "pass"
		case testkit.FaultFail:
			fr.action = "**FAIL**"
		case testkit.FaultSkip:
			fr.action = "skipped"
		default:
			fr.action = "did not finish"
		}
		if r.Summary != "" {
			fr.lines = append(fr.lines, r.Summary)
		}
		if r.Result == testkit.FaultFail || r.Result == testkit.FaultRunning {
			fr.lines = append(fr.lines, "see the test's log in bench/out/faults.log")
		}
		out = append(out, fr)
	}
	return out
}

type fuzzResult struct {
	pkg, target, time, execs, status, crashers string
}

// readFuzz reads run.sh's fuzz.txt: tab-separated pkg, target, time,
// execs, status, new crashers.
func readFuzz(path string) []fuzzResult {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []fuzzResult
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 6 {
			continue
		}
		out = append(out, fuzzResult{pkg: f[0], target: f[1], time: f[2], execs: f[3], status: f[4], crashers: f[5]})
	}
	return out
}

const methods = `- **P1 sync.** Caddy with an ` + "`agenthook`" + ` sync endpoint (` + "`auth hmac`" + `; every request HMAC-signed over its own body; 64 chats opened first and continued round robin with ` + "`X-Continue-Chat-Id`" + `, so each request reads its chat from Badger and sends the backend its conversation id) and a second Caddy with a plain ` + "`reverse_proxy`" + ` to the same fast fake agent (` + "`bench/cmd/fakeagent`" + `, Go net/http, a fixed JSON answer with ` + "`X-Conversation-Id`" + `). Same loadgen flags on both, including the signature and continue headers. Maximum throughput: closed loop, 64 connections. Added p99: both sides open loop at 50% of agenthook's maximum of the same repeat; added p99 = agenthook p99 − plain p99.
- **P1b Basic auth.** One Caddy with two sync endpoints of the same agent (the fast fake agent of P1): ` + "`auth basic`" + ` with one user whose password hash is bcrypt at cost 14, made with golang.org/x/crypto/bcrypt exactly as ` + "`caddy hash-password`" + ` makes it (about a second of CPU per comparison here), and ` + "`auth bearer`" + `. P1b-a: closed loop, 64 connections, the right password on every request, 64 chats continued round robin, against a second Caddy with a plain ` + "`reverse_proxy`" + ` to the same agent sent the same ` + "`Authorization`" + ` header. P1b-b: the bearer endpoint's maximum throughput (closed loop, 64 connections, 64 chats) alone, and while loadgen floods the Basic endpoint of the same Caddy with wrong passwords (32 connections, a new password on every request, so that no check can be shared or cached; bounded by time and count, loopback only); the flood starts a second before the measured run and outlasts it; alone and flooded alternate in going first. 401 is a checked wrong password, 503 one refused unchecked because every hash-comparison slot stayed taken.
- **P2 intake.** ` + "`mode async`" + `, ` + "`auth hmac`" + `, ` + "`queue { max_depth 100000000 }`" + `. ` + "`workers 1`" + ` and the agent *held* (it never answers), so task execution takes no CPU and the figure is intake alone: authenticate, store the task and its chat, fsync (group commit), answer 202. A fresh store per repeat, so each run starts with an empty queue (a 10 s run then queues tens of thousands of tasks; P5 shows what a deeper queue costs). Baseline: Caddy ` + "`respond`" + ` with a 202 and a body of the same shape. Closed loop, 64 connections. Then, on fresh stores, the same at 16 connections against ` + "`respond 202`" + ` at 16, and at one connection, where a 202's median latency is divided by the median of one 4 KiB append and ` + "`fdatasync`" + ` (200 of them, as ` + "`dd bs=4k oflag=dsync`" + ` writes) on the filesystem the store is on, measured by the bench just before with Caddy idle: what a durable 202 costs, counted in disk syncs.
- **P3 fan-out.** One agent, a fast fake backend, one static callback to ` + "`bench/cmd/sink`" + ` signed with Standard Webhooks (the sink verifies every 50th signature). Throughput: the agent is held while N = 5,000 × run-seconds tasks are queued; then it is released and the sink's arrival times give the rate over the middle 80% of deliveries (the whole path: claim, backend call, finish, delivery, signing, POST, mark delivered). Latency: tasks sent open loop at half of min(5,000, measured max) per second; for each task, the time from its 202 reaching the client to its callback reaching the sink (same clock). Baseline: loadgen straight at the sink with delivery-sized signed bodies, 16 connections.
- **P4 memory and disk.** VmRSS from ` + "`/proc/<pid>/status`" + ` 3 s after start (idle), and after queueing 100k tasks with the agent held (VmHWM is the peak). Disk: ` + "`du -sk`" + ` of the Badger directory. 50k tasks with deliveries are run with ` + "`retention 3m`" + ` and ` + "`chat_ttl 3m`" + `; after they expire, 5k live tasks are run; the directory is measured 5.5 min after start, after the store's first value-log GC (every 5 minutes); the live data is a fresh store after the same 5k tasks.
- **P7 two instances on one PostgreSQL.** Whole async tasks as in P3 (the fast agent, one static callback to the sink signed with Standard Webhooks, default ` + "`workers`" + `), on ` + "`storage postgres`" + ` with a fresh database per run on one server. Side by side in each repeat, alternating which goes first: one Caddy, and two Caddy instances with the same Caddyfile on the same database. loadgen sends closed loop, 64 connections, for the run's duration with no warmup (so that every 202 is recorded by its task id); with two instances the connections are split over both (connection *i* to instance *i* mod 2). Then the bench waits (at most 3 minutes) until the sink has every accepted task. Figures: tasks accepted per second; tasks delivered per second from the start of the load to the last delivery (the end-to-end rate) and while the load ran; at the sink, by task id, tasks delivered under two or more webhook ids (run twice), deliveries received again, accepted tasks never delivered; backend calls per accepted task; per instance, the 202s (loadgen's per-target tally), the tasks run and the deliveries made (each instance's ` + "`caddy_agenthook_tasks_total`" + ` and ` + "`delivery_attempts_total`" + ` metrics); PostgreSQL's CPU from ` + "`/proc/<pid>/stat`" + ` of the postmaster (its own time and its ended children's) and of its running children, from the start of the load to the last delivery, per task and as a share of the CPU of the run's processes (PostgreSQL, Caddy, agent, sink, loadgen); WAL bytes (` + "`pg_current_wal_insert_lsn`" + `), commits and rows inserted + updated (` + "`pg_stat_database`" + `, read after the instances stopped, so their sessions have reported) per delivered task.
- **P5 growth.** Intake (as P2) with 1, 100 and 10k callback registrations made through the management API before the run, and with 0, 10k and 100k tasks already queued (queued with the agent held). Deliveries/s (as P3) with 1, 100 and 10k registrations (each task fans out to every registration, so a run has N/R tasks), and with 0, 10k and 100k tasks queued behind one held chat of a second agent (tasks of one chat run one at a time, so they stay queued while the measured agent drains; ` + "`workers 17`" + ` so that 16 are free).

`

const howToRun = "```sh\n" + `bench/run.sh                      # everything: about 2 h on 2 CPUs; writes BENCHMARKS.md and bench/chart.png
BENCH_QUICK=1 FUZZ_TIME=10s bench/run.sh   # a few minutes: checks the tooling, numbers not for publication
BENCH_ONLY=P1,P3 bench/run.sh     # some scenarios only (the report then lacks the others)
BENCH_SKIP_FAULTS=1 BENCH_SKIP_FUZZ=1 bench/run.sh
go test ./e2e -run TestFault -count=1               # the reduced fault suite, as CI runs it
AGENTHOOK_FAULTS=full go test ./e2e -run TestFault  # the full one
` + "```\n\n" + `Needs Go, and installs ` + "`wrk`" + ` with apt-get if it is missing. For the PostgreSQL figures it uses ` + "`AGENTHOOK_PG_DSN`" + ` or starts its own server from the PostgreSQL binaries on the machine. Everything else it writes goes to ` + "`bench/out/`" + ` (raw loadgen JSON, logs, profiles, the fault suite's results, ` + "`faults.jsonl`" + `, and its ` + "`go test -v`" + ` log, ` + "`faults.log`" + `).
`
