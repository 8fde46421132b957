package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ---------------------------------------------------------------- P7

// P7: one PostgreSQL database, whole async tasks (intake with a durable
// 202, the backend call, a signed delivery to the sink), taken by one
// agenthook Caddy, and side by side by two Caddy instances on the same
// database with the load generator's connections split over both. On a
// 2-core machine that also runs PostgreSQL, the agent, the sink and the
// load generator, two instances cannot scale; what the run shows is the
// cost of coordinating through the database (claims, duplicates, the
// database's CPU per task), see bench/ANALYSIS.md.

// p7DrainMax bounds the wait for the last deliveries after a load run.
const p7DrainMax = 3 * time.Minute

// p7Config is P3's whole-task config (fast agent, one signed static
// callback to the sink) on the storage given; every instance runs it.
func p7Config(storage, agentAddr, sinkAddr string) string {
	cb := fmt.Sprintf("\t\t\tcallback http://%s/hook {\n\t\t\t\tsign standard_webhooks %s\n\t\t\t}\n", sinkAddr, whsec)
	return agenthookCaddyfile(storage, `		queue {
			max_depth 100000000
		}
		delivery {
			allow_networks 127.0.0.1/32
		}
`+agentBlock("bench", agentAddr, cb), asyncRoutes)
}

func (e *env) p7Multi() error {
	if e.pgDSN == "" {
		e.fail("P7.completed.one", cmp.Or(e.pgNote, "no PostgreSQL"))
		return fmt.Errorf("no PostgreSQL: %s", e.pgNote)
	}
	agent, err := e.startProc("p7-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	sink, err := e.startProc("p7-sink", true, e.sinkBin, "-verify", whsec, "-verify-every", "50")
	if err != nil {
		return err
	}
	defer sink.kill()
	sides := []int{1, 2}
	for r := 0; r < e.repeats; r++ {
		order := sides
		if r%2 == 1 {
			order = []int{2, 1}
		}
		done := map[int]float64{}
		for _, n := range order {
			v, err := e.p7Run(r, n, agent, sink)
			if err != nil {
				return err
			}
			done[n] = v
		}
		if done[1] > 0 {
			e.add("P7.ratio", "tasks delivered per second, two instances / one", "×", done[2]/done[1])
		}
	}
	return nil
}

// p7Name is the figure suffix of a side.
func p7Name(instances int) string {
	if instances == 1 {
		return "one"
	}
	return "two"
}

// p7Run is one repeat of one side: a fresh database, n instances, a
// closed-loop load over them, then the wait for every delivery. It returns
// the tasks delivered per second, load start to last delivery.
func (e *env) p7Run(r, n int, agent, sink *proc) (completed float64, err error) {
	name := p7Name(n)
	label := fmt.Sprintf("p7-%s", name)
	storage, err := e.storageLine("postgres", fmt.Sprintf("p7r%d%s", r, name))
	if err != nil {
		return 0, err
	}
	dsn := pgDSNOf(storage)
	var cs []*caddy
	defer func() {
		for _, c := range cs {
			c.kill()
		}
	}()
	for i := range n {
		c, err := e.startCaddy(fmt.Sprintf("%s-%c", label, 'a'+i), p7Config(storage, agent.addr, sink.addr))
		if err != nil {
			return 0, err
		}
		cs = append(cs, c)
	}
	if err := sinkReset(sink.addr); err != nil {
		return 0, err
	}
	pg, err := pgOpen(dsn)
	if err != nil {
		return 0, err
	}
	defer pg.Close(context.Background())
	postmaster := pg.postmaster()
	agentBefore, err := agentRequests(agent.addr)
	if err != nil {
		return 0, err
	}
	pgBefore := pg.counters()
	var caddyPIDs []int
	for _, c := range cs {
		caddyPIDs = append(caddyPIDs, c.pid())
	}
	cpu0 := p7CPU(postmaster, caddyPIDs, []int{agent.pid(), sink.pid()})

	// Every accepted task must be known by its id, so the whole run is
	// measured (no warmup): -record then lists every 202.
	rec := filepath.Join(e.out, "lg", label+fmt.Sprintf("-r%d.records", r+1))
	args := []string{"-c", strconv.Itoa(e.conns), "-d", e.dur.String(), "-warmup", "0s", "-record", rec}
	for _, c := range cs {
		args = append(args, "-url", c.base+"/async")
	}
	m0, _ := readProcStat()
	t0 := time.Now()
	lg, err := e.load(label, e.wall(), append(args, signArgs()...)...)
	if err != nil {
		return 0, err
	}
	tLoad := time.Now()
	recs, err := readRecords(rec)
	if err != nil {
		return 0, err
	}
	// Wait for every recorded task's delivery (bounded).
	var st p7Sink
	for deadline := time.Now().Add(p7DrainMax); ; {
		arr, err := sinkDump(sink.addr)
		if err != nil {
			return 0, err
		}
		st = p7Count(arr, recs)
		if st.missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	tDone := time.Now()
	cpu1 := p7CPU(postmaster, caddyPIDs, []int{agent.pid(), sink.pid()})
	m1, _ := readProcStat()
	machine := machineBusy(m0, m1, tDone.Sub(t0))
	agentAfter, err := agentRequests(agent.addr)
	if err != nil {
		return 0, err
	}
	// Per instance: tasks finished and deliveries made, from its metrics.
	var finished, delivered []float64
	for _, c := range cs {
		m, err := promSums(c.admin)
		if err != nil {
			return 0, err
		}
		finished = append(finished, m["caddy_agenthook_tasks_total"])
		delivered = append(delivered, m[`caddy_agenthook_delivery_attempts_total{outcome="delivered"}`])
	}
	// Caddy's backends report their last statistics when they end.
	for _, c := range cs {
		c.kill()
	}
	cs = nil
	time.Sleep(700 * time.Millisecond)
	pgAfter := pg.counters()
	// How the tables were read (sequential or index scans, and whether
	// autovacuum analyzed them during the run): for reading a slow drain.
	scans, taskIdx := pg.tableScans()
	e.logf("  %-28s tables: %s", label, scans)

	accepted := len(recs)
	if lg.OK < lg.Count {
		e.note("P7 repeat %d %s: %d of %d answers were errors: %v", r+1, name, lg.Count-lg.OK, lg.Count, lg.Errors)
	}
	if st.missing > 0 {
		e.note("P7 repeat %d %s: %d of %d accepted tasks had no delivery %s after the load ended", r+1, name, st.missing, accepted, p7DrainMax)
	}
	if st.unknown > 0 {
		e.note("P7 repeat %d %s: %d delivered tasks were not among the recorded 202s (an answer lost to a timeout?)", r+1, name, st.unknown)
	}
	if st.twice > 0 || st.redelivered > 0 {
		e.note("P7 repeat %d %s: %d tasks delivered under two or more webhook ids (run twice), %d deliveries received again under the same id", r+1, name, st.twice, st.redelivered)
	}
	what := map[int]string{1: "one instance", 2: "two instances, connections split"}[n]
	e.add("P7.accepted."+name, "tasks accepted (202) per second, "+what, "tasks/s", lg.OKRate)
	e.add("P7.p99."+name, "intake p99, "+what, "ms", lg.LatencyMS.P99)
	loadS := tLoad.Sub(t0).Seconds()
	e.add("P7.during."+name, "tasks delivered per second while the load ran, "+what, "tasks/s", float64(st.deliveredBy(tLoad))/loadS)
	if st.last > t0.UnixNano() {
		completed = float64(st.tasks) / (float64(st.last-t0.UnixNano()) / 1e9)
		e.add("P7.completed."+name, "tasks delivered per second, load start → last delivery, "+what, "tasks/s", completed)
	}
	e.add("P7.twice."+name, "tasks delivered under ≥ 2 webhook ids (run twice), "+what, "tasks", float64(st.twice))
	e.add("P7.redelivered."+name, "deliveries received again (same webhook id), "+what, "deliveries", float64(st.redelivered))
	e.add("P7.missing."+name, "accepted tasks never delivered, "+what, "tasks", float64(st.missing))
	if accepted > 0 {
		e.add("P7.backend."+name, "backend calls per accepted task, "+what, "×", float64(agentAfter-agentBefore)/float64(accepted))
	}
	if n == 2 && lg.OK > 0 && len(lg.Targets) == 2 {
		e.add("P7.split.accepted", "share of the 202s answered by instance A (of two)", "%", 100*float64(lg.Targets[0].OK)/float64(lg.OK))
		if f := finished[0] + finished[1]; f > 0 {
			e.add("P7.split.finished", "share of the tasks run by instance A (of two)", "%", 100*finished[0]/f)
		}
		if d := delivered[0] + delivered[1]; d > 0 {
			e.add("P7.split.delivered", "share of the deliveries made by instance A (of two)", "%", 100*delivered[0]/d)
		}
	}
	if st.tasks > 0 {
		per := func(v float64) float64 { return v / float64(st.tasks) }
		wall := tDone.Sub(t0).Seconds()
		if cpu1.pg >= 0 && cpu0.pg >= 0 {
			pgS := cpu1.pg - cpu0.pg
			e.add("P7.pgcores."+name, "PostgreSQL CPU, cores busy (load start → last delivery), "+what, "cores", pgS/wall)
			e.add("P7.pgus."+name, "PostgreSQL CPU per task, "+what, "µs", 1e6*per(pgS))
			if pgS > 0 {
				e.add("P7.perpgcore."+name, "tasks per PostgreSQL CPU-second, "+what, "tasks/s", float64(st.tasks)/pgS)
			}
			ours := pgS + (cpu1.caddy - cpu0.caddy) + (cpu1.other - cpu0.other) + lg.CPUS
			if ours > 0 {
				e.add("P7.pgshare."+name, "PostgreSQL's share of the run's CPU (PostgreSQL, Caddy, agent, sink, loadgen), "+what, "%", 100*pgS/ours)
			}
		} else {
			e.fail("P7.pgus."+name, "the PostgreSQL server's processes could not be read from /proc")
		}
		e.add("P7.caddyus."+name, "Caddy CPU per task (all instances), "+what, "µs", 1e6*per(cpu1.caddy-cpu0.caddy))
		if machine > 0 {
			e.add("P7.machine."+name, "the machine's busy cores meanwhile (every process, also other users')", "cores", machine)
		}
		if pgAfter.ok && pgBefore.ok {
			e.add("P7.wal."+name, "WAL per task, "+what, "bytes", per(float64(pgAfter.wal-pgBefore.wal)))
			e.add("P7.commits."+name, "commits per task, "+what, "×", per(float64(pgAfter.commits-pgBefore.commits)))
			e.add("P7.rows."+name, "rows inserted + updated per task, "+what, "×", per(float64(pgAfter.inserted+pgAfter.updated-pgBefore.inserted-pgBefore.updated)))
			if taskIdx >= 0 {
				e.add("P7.taskidx."+name, "index scans of the tasks table per task (a fresh database: no vacuum, no analyze yet), "+what, "×", per(float64(taskIdx)))
			}
			e.add("P7.rollbacks."+name, "rollbacks per task, "+what, "×", per(float64(pgAfter.rollbacks-pgBefore.rollbacks)))
		}
	}
	split := ""
	if len(lg.Targets) == 2 {
		split = fmt.Sprintf("; 202s %d/%d, run %0.f/%0.f, delivered %0.f/%0.f", lg.Targets[0].OK, lg.Targets[1].OK, finished[0], finished[1], delivered[0], delivered[1])
	}
	e.logf("  %-28s accepted %d (%.0f/s), delivered %d tasks (twice %d, again %d, missing %d, unknown %d), pg %.2f CPU-s%s",
		label, accepted, lg.OKRate, st.tasks, st.twice, st.redelivered, st.missing, st.unknown, cpu1.pg-cpu0.pg, split)
	return completed, nil
}

// p7Sink is what the sink received, counted by task id.
type p7Sink struct {
	tasks       int // distinct tasks delivered
	twice       int // tasks delivered under two or more webhook ids: finished twice
	redelivered int // arrivals beyond the first of one webhook id (at-least-once)
	missing     int // recorded (accepted) tasks not delivered
	unknown     int // delivered tasks not among the recorded ones
	first       []int64
	last        int64 // the last first-arrival, Unix ns
}

// deliveredBy counts tasks whose first delivery arrived by t.
func (s p7Sink) deliveredBy(t time.Time) int {
	n := 0
	for _, at := range s.first {
		if at <= t.UnixNano() {
			n++
		}
	}
	return n
}

// p7Count joins the sink's arrivals with the accepted tasks.
func p7Count(arr []arrival, recs map[string][2]int64) p7Sink {
	var s p7Sink
	ids := map[string]map[string]int{} // task -> webhook id -> arrivals
	first := map[string]int64{}
	for _, a := range arr {
		m := ids[a.task]
		if m == nil {
			m = map[string]int{}
			ids[a.task] = m
			first[a.task] = a.at
		}
		m[a.id]++
	}
	for task, m := range ids {
		s.tasks++
		if len(m) > 1 {
			s.twice++
		}
		for _, k := range m {
			s.redelivered += k - 1
		}
		if _, ok := recs[task]; !ok {
			s.unknown++
		}
		s.first = append(s.first, first[task])
		s.last = max(s.last, first[task])
	}
	for task := range recs {
		if _, ok := ids[task]; !ok {
			s.missing++
		}
	}
	return s
}

// pgDSNOf takes the DSN back out of a `storage postgres "<dsn>"` line.
func pgDSNOf(storage string) string {
	q := strings.TrimPrefix(storage, "storage postgres ")
	if s, err := strconv.Unquote(q); err == nil {
		return s
	}
	return q
}

func agentRequests(addr string) (int64, error) {
	var st struct {
		Requests int64 `json:"requests"`
	}
	err := getJSON("http://"+addr+"/_control/stats", &st)
	return st.Requests, err
}

// ---------------------------------------------------------------- CPU

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go runs the bench on.
const clockTicks = 100

// procTimes reads utime+stime and cutime+cstime (children that ended and
// were waited for) of pid, in seconds, and its parent's pid.
func procTimes(pid int) (self, children float64, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	return parseStat(string(b))
}

// parseStat parses one /proc/<pid>/stat line. The command, in
// parentheses, may hold spaces; the fields after it start with the state.
func parseStat(s string) (self, children float64, ppid int, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("stat: no command")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("stat: %d fields", len(f))
	}
	n := func(k int) float64 { v, _ := strconv.ParseFloat(f[k], 64); return v }
	ppid, _ = strconv.Atoi(f[1])
	return (n(11) + n(12)) / clockTicks, (n(13) + n(14)) / clockTicks, ppid, nil
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, _, ppid, err := procTimes(child); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// treeCPU is the CPU seconds of a PostgreSQL server: the postmaster, the
// backends and workers that run (its children), and those that ended
// (the postmaster waits for them, so they are in its children's times).
func treeCPU(postmaster int) float64 {
	self, ended, _, err := procTimes(postmaster)
	if err != nil {
		return -1
	}
	total := self + ended
	for _, c := range childPIDs(postmaster) {
		if s, _, _, err := procTimes(c); err == nil {
			total += s
		}
	}
	return total
}

type p7CPUs struct{ pg, caddy, other float64 }

func p7CPU(postmaster int, caddies, others []int) p7CPUs {
	c := p7CPUs{pg: -1}
	if postmaster > 0 {
		c.pg = treeCPU(postmaster)
	}
	for _, p := range caddies {
		s, _, _, _ := procTimes(p)
		c.caddy += s
	}
	for _, p := range others {
		s, _, _, _ := procTimes(p)
		c.other += s
	}
	return c
}

// machineBusy is the cores the whole machine kept busy between two reads
// of /proc/stat d apart; 0 if either failed.
func machineBusy(a, b procStat, d time.Duration) float64 {
	if !a.ok || !b.ok || d <= 0 {
		return 0
	}
	return (b.busy - a.busy) / clockTicks / d.Seconds()
}

type procStat struct {
	busy float64 // user+nice+system+irq+softirq+steal ticks
	ok   bool
}

func readProcStat() (procStat, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return procStat{}, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return procStat{}, false
	}
	return parseCPULine(line)
}

// parseCPULine parses /proc/stat's "cpu user nice system idle iowait irq
// softirq steal ..." line into busy ticks (idle and iowait left out).
func parseCPULine(line string) (procStat, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return procStat{}, false
	}
	var busy float64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseFloat(f[k], 64)
		if err != nil {
			return procStat{}, false
		}
		busy += v
	}
	return procStat{busy: busy, ok: true}, true
}

// ---------------------------------------------------------------- PostgreSQL counters

type pgConn struct{ *pgx.Conn }

func pgOpen(dsn string) (pgConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	return pgConn{c}, err
}

// postmaster is the server's main process: the parent of this session's
// backend. 0 if it cannot be read, or is not a local postgres process (a
// server on another machine, whose pid means nothing here).
func (c pgConn) postmaster() int {
	var pid int
	if err := c.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return 0
	}
	_, _, ppid, err := procTimes(pid)
	if err != nil || !isPostgres(pid) || !isPostgres(ppid) {
		return 0
	}
	return ppid
}

// isPostgres says whether pid is a postgres process, by its command name.
func isPostgres(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "postgres")
}

type pgCounters struct {
	wal, commits, rollbacks, inserted, updated int64
	ok                                         bool
}

// counters reads the server's WAL position and the database's counters
// (the sessions that ended have reported theirs).
func (c pgConn) counters() pgCounters {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
	_, _ = c.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	var k pgCounters
	err := c.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint,
		xact_commit, xact_rollback, tup_inserted, tup_updated
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&k.wal, &k.commits, &k.rollbacks, &k.inserted, &k.updated)
	k.ok = err == nil
	return k
}

// tableScans summarizes pg_stat_user_tables for the tables with rows:
// name, sequential scans and rows they read, index scans, live and dead
// rows, and how often autovacuum analyzed it; and the index scans of the
// tasks table (-1 if unknown).
func (c pgConn) tableScans() (summary string, taskIdx int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, `SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), n_live_tup, n_dead_tup, autoanalyze_count
		FROM pg_stat_user_tables WHERE n_live_tup + n_dead_tup > 0 ORDER BY relname`)
	if err != nil {
		return err.Error(), -1
	}
	defer rows.Close()
	taskIdx = -1
	var out []string
	for rows.Next() {
		var name string
		var seq, seqRead, idx, live, dead, analyzed int64
		if err := rows.Scan(&name, &seq, &seqRead, &idx, &live, &dead, &analyzed); err != nil {
			return err.Error(), -1
		}
		if name == "agenthook_tasks" {
			taskIdx = idx
		}
		out = append(out, fmt.Sprintf("%s seq %d (%d rows) idx %d live %d dead %d analyzed %d", strings.TrimPrefix(name, "agenthook_"), seq, seqRead, idx, live, dead, analyzed))
	}
	return strings.Join(out, "; "), taskIdx
}

// ---------------------------------------------------------------- metrics

// promSums reads Caddy's /metrics and sums each agenthook counter over
// its labels, and also per outcome for the delivery attempts.
func promSums(admin string) (map[string]float64, error) {
	code, b, err := httpDo("GET", "http://"+admin+"/metrics", "", nil)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("metrics: %d", code)
	}
	return parseProm(string(b)), nil
}

func parseProm(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "caddy_agenthook_") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:sp], "{")
		out[name] += v
		for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			if strings.HasPrefix(l, "outcome=") {
				out[name+"{"+l+"}"] += v
			}
		}
	}
	return out
}
