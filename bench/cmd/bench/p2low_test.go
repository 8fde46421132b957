package main

import (
	"strings"
	"testing"
)

// The lower-concurrency rows judge their own figures: 16 connections
// against 0.25×, one connection against 2.5 fdatasyncs.
func TestP2LowRows(t *testing.T) {
	r := &Results{Figures: map[string]*Figure{
		"P2.c16.ratio":   {Unit: "×", Values: []float64{0.24, 0.26, 0.27}},
		"P2.c16.badger":  {Unit: "req/s", Values: []float64{9000, 9500, 9800}},
		"P2.c16.respond": {Unit: "req/s", Values: []float64{36000, 36000, 36000}},
		"P2.c1.syncs":    {Unit: "×", Values: []float64{2.4, 2.6, 2.9}},
		"P2.c1.badger":   {Unit: "ms", Values: []float64{0.5, 0.52, 0.55}},
		"P2.sync":        {Unit: "ms", Values: []float64{0.19, 0.2, 0.21}},
		"P2.c1.respond":  {Unit: "ms", Values: []float64{0.08, 0.08, 0.08}},
	}}
	md := renderMarkdown(r, "chart.png", nil, nil)
	for _, want := range []string{
		"| P2 | the same at 16 connections | **0.260×** (0.240–0.270, n=3); **9,500/s** (9,000–9,800, n=3) | Caddy `respond 202` at 16 connections: **36,000/s** (n=3) | ≥ 0.25× | met |",
		"| **2.60×** (2.40–2.90, n=3) (202 p50 **0.52 ms** (0.50–0.55, n=3); one `fdatasync` **0.20 ms** (0.19–0.21, n=3)) | Caddy `respond 202` p50 at one connection: **0.08 ms** (n=3) | about 2 (≤ 2.5) | **missed** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in the P2 rows:\n%s", want, grepLines(md, "| P2 |"))
		}
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The probe writes and syncs for real and answers a plausible time.
func TestFdatasyncP50(t *testing.T) {
	ms, err := fdatasyncP50(t.TempDir(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if ms <= 0 || ms > 1000 {
		t.Errorf("one 4 KiB fdatasync took %v ms", ms)
	}
}
