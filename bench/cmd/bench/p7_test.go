package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The sink's arrivals joined with the recorded 202s: a task delivered
// under two webhook ids was run twice; the same id again is a redelivery.
func TestP7Count(t *testing.T) {
	recs := map[string][2]int64{"t1": {}, "t2": {}, "t3": {}, "t4": {}}
	arr := []arrival{
		{task: "t1", at: 10, id: "m1"},
		{task: "t2", at: 20, id: "m2"},
		{task: "t2", at: 25, id: "m2"}, // again, same delivery
		{task: "t3", at: 30, id: "m3"},
		{task: "t3", at: 35, id: "m3b"}, // a second delivery: run twice
		{task: "x9", at: 40, id: "m9"},  // not recorded
	}
	s := p7Count(arr, recs)
	if s.tasks != 4 || s.twice != 1 || s.redelivered != 1 || s.missing != 1 || s.unknown != 1 || s.last != 40 {
		t.Fatalf("%+v", s)
	}
	if n := s.deliveredBy(time.Unix(0, 25)); n != 2 {
		t.Errorf("delivered by 25: %d, want 2", n)
	}
}

func TestParseStat(t *testing.T) {
	// A command with spaces and a parenthesis, as postgres's titles are.
	line := "4242 (postgres: bench (x) idle) S 4100 4100 4100 0 -1 4194560 1 2 3 4 250 150 30 20 20 0 1 0 100 0 0\n"
	self, children, ppid, err := parseStat(line)
	if err != nil || self != 4 || children != 0.5 || ppid != 4100 {
		t.Fatalf("self %v children %v ppid %d err %v", self, children, ppid, err)
	}
	if _, _, _, err := parseStat("1 (x) S 2"); err == nil {
		t.Error("a short line parsed")
	}
}

func TestParseCPULine(t *testing.T) {
	st, ok := parseCPULine("cpu  100 5 50 1000 40 3 2 1 0 0\n")
	// user+nice+system+irq+softirq+steal; idle and iowait left out.
	if !ok || st.busy != 161 {
		t.Fatalf("%+v %v", st, ok)
	}
	if _, ok := parseCPULine("cpu0 1 2 3 4 5 6 7 8"); ok {
		t.Error("a per-CPU line parsed as the total")
	}
	a, b := procStat{busy: 0, ok: true}, procStat{busy: 300, ok: true}
	if v := machineBusy(a, b, 2*time.Second); v != 1.5 {
		t.Errorf("busy %v cores, want 1.5", v)
	}
}

func TestParseProm(t *testing.T) {
	m := parseProm(`# HELP caddy_agenthook_tasks_total Tasks.
# TYPE caddy_agenthook_tasks_total counter
caddy_agenthook_tasks_total{agent="bench",status="SUCCESS"} 690
caddy_agenthook_tasks_total{agent="bench",status="FAILED"} 3
caddy_agenthook_delivery_attempts_total{agent="bench",outcome="delivered"} 641
caddy_agenthook_delivery_attempts_total{agent="bench",outcome="retry"} 2
caddy_http_requests_total{server="srv0"} 99
`)
	if m["caddy_agenthook_tasks_total"] != 693 || m[`caddy_agenthook_delivery_attempts_total{outcome="delivered"}`] != 641 ||
		m["caddy_agenthook_delivery_attempts_total"] != 643 || m["caddy_http_requests_total"] != 0 {
		t.Fatalf("%v", m)
	}
}

func TestPGDSNOf(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:5432/db?sslmode=disable"
	if got := pgDSNOf("storage postgres " + strconv.Quote(dsn)); got != dsn {
		t.Fatalf("%q", got)
	}
}

// The report's P7 rows: the ratio, and the correctness verdict, which
// is missed as soon as one repeat ran a task twice.
func TestP7Rows(t *testing.T) {
	f := func(unit string, v ...float64) *Figure { return &Figure{Unit: unit, Values: v} }
	r := &Results{Figures: map[string]*Figure{
		"P7.ratio":         f("×", 0.9, 1.0),
		"P7.completed.one": f("tasks/s", 230, 240),
		"P7.completed.two": f("tasks/s", 210, 220),
		"P7.twice.one":     f("count", 0, 0),
		"P7.twice.two":     f("count", 0, 0),
		"P7.missing.one":   f("count", 0, 0),
		"P7.missing.two":   f("count", 0, 0),
	}}
	md := renderMarkdown(r, "chart.png", nil, nil)
	if !strings.Contains(md, "| **0.95×** (0.90–1.00, n=2); two instances **215/s** (210–220, n=2) | **one** instance, same database server, same run: **235/s** (230–240, n=2) |") {
		t.Errorf("no P7 throughput row in:\n%s", md[:strings.Index(md, "## Load generator")])
	}
	if !strings.Contains(md, "| 0 tasks run twice or lost | met |") {
		t.Error("the correctness row is not met with all zeros")
	}
	r.Figures["P7.twice.two"] = f("count", 0, 3)
	if md := renderMarkdown(r, "chart.png", nil, nil); !strings.Contains(md, "| 0 tasks run twice or lost | **missed** |") {
		t.Error("a task run twice in one repeat is not a miss")
	}
	if md := renderMarkdown(&Results{}, "chart.png", nil, nil); strings.Contains(md, "| P7 |") {
		t.Error("P7 rows without P7 figures")
	}
}
