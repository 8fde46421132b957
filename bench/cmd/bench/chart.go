package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
)

type bar struct {
	label       string
	med, lo, hi float64
	n           int
	relativeTo  float64 // <0: a baseline (grey)
	failed      bool    // could not be measured
}

type refLine struct {
	value float64
	label string
}

type panel struct {
	title string
	unit  string
	bars  []bar
	lines []refLine
}

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colText   = color.RGBA{30, 30, 30, 255}
	colMuted  = color.RGBA{110, 110, 110, 255}
	colBar    = color.RGBA{66, 120, 190, 255}
	colBase   = color.RGBA{160, 160, 160, 255}
	colMiss   = color.RGBA{205, 85, 60, 255}
	colWhisk  = color.RGBA{20, 20, 20, 255}
	colTarget = color.RGBA{200, 30, 30, 255}
	colGrid   = color.RGBA{230, 230, 230, 255}
)

func barFrom(f *Figure, label string) (bar, bool) {
	if f == nil || len(f.Values) == 0 {
		return bar{}, false
	}
	lo, hi := f.minmax()
	return bar{label: label, med: f.median(), lo: lo, hi: hi, n: len(f.Values)}, true
}

// chartPanels picks what the chart shows from the results.
func chartPanels(r *Results) []panel {
	fig := func(k string) *Figure { return r.Figures[k] }
	var ps []panel

	p0 := panel{title: "P0 load generators vs plain respond", unit: "req/s"}
	if b, ok := barFrom(fig("P0.wrk"), "wrk -t2"); ok {
		b.relativeTo = -1
		p0.bars = append(p0.bars, b)
	}
	if b, ok := barFrom(fig("P0.loadgen"), "loadgen"); ok {
		p0.bars = append(p0.bars, b)
	}

	p1 := panel{title: "P1 sync throughput", unit: "req/s"}
	if b, ok := barFrom(fig("P1.max.plain"), "plain reverse_proxy"); ok {
		b.relativeTo = -1
		p1.bars = append(p1.bars, b)
		p1.lines = append(p1.lines, refLine{0.9 * b.med, "target 0.9x"})
	}
	if b, ok := barFrom(fig("P1.max.agenthook"), "agenthook sync"); ok {
		p1.bars = append(p1.bars, b)
	}
	ps = append(ps, p1)

	p1b := panel{title: "P1b Basic auth (bcrypt 14)", unit: "req/s"}
	if b, ok := barFrom(fig("P1B.a.max.plain"), "plain reverse_proxy"); ok {
		b.relativeTo = -1
		p1b.bars = append(p1b.bars, b)
		p1b.lines = append(p1b.lines, refLine{0.9 * b.med, "0.9x plain"})
	}
	if b, ok := barFrom(fig("P1B.a.max.agenthook"), "agenthook Basic"); ok {
		p1b.bars = append(p1b.bars, b)
	}
	if b, ok := barFrom(fig("P1B.b.alone"), "bearer, no flood"); ok {
		b.relativeTo = -1
		p1b.bars = append(p1b.bars, b)
		p1b.lines = append(p1b.lines, refLine{0.5 * b.med, "0.5x bearer"})
	}
	if b, ok := barFrom(fig("P1B.b.flooded"), "bearer, Basic flood"); ok {
		p1b.bars = append(p1b.bars, b)
	}
	ps = append(ps, p1b)

	p2 := panel{title: "P2 async intake (durable 202)", unit: "req/s"}
	if b, ok := barFrom(fig("P2.respond"), "caddy respond 202"); ok {
		b.relativeTo = -1
		p2.bars = append(p2.bars, b)
		p2.lines = append(p2.lines, refLine{0.5 * b.med, "0.5x"}, refLine{0.25 * b.med, "0.25x"})
	}
	if b, ok := barFrom(fig("P2.badger"), "agenthook Badger"); ok {
		p2.bars = append(p2.bars, b)
	}
	if b, ok := barFrom(fig("P2.postgres"), "agenthook PostgreSQL"); ok {
		p2.bars = append(p2.bars, b)
	}
	ps = append(ps, p2)

	p3 := panel{title: "P3 signed deliveries/s", unit: "/s", lines: []refLine{{5000, "target 5000"}}}
	if b, ok := barFrom(fig("P3.sink"), "sink's own max"); ok {
		b.relativeTo = -1
		p3.bars = append(p3.bars, b)
	}
	if b, ok := barFrom(fig("P3.max"), "agenthook deliveries"); ok {
		p3.bars = append(p3.bars, b)
	}
	ps = append(ps, p3)

	p4 := panel{title: "P4 memory (RSS)", unit: "MiB", lines: []refLine{{60, "60"}, {300, "300"}}}
	if b, ok := barFrom(fig("P4.idleplain"), "plain caddy idle"); ok {
		b.relativeTo = -1
		p4.bars = append(p4.bars, b)
	}
	if b, ok := barFrom(fig("P4.idle"), "agenthook idle"); ok {
		p4.bars = append(p4.bars, b)
	}
	if f := fig("P4.queued"); f != nil {
		if b, ok := barFrom(f, "with queued tasks"); ok {
			p4.bars = append(p4.bars, b)
		}
	}
	ps = append(ps, p4)
	ps = append(ps, p0)

	// rel shows each group of figures relative to the group's first.
	rel := func(title string, groups ...[][2]string) panel {
		p := panel{title: title, unit: "% of the first of its group", lines: []refLine{{100, "flat"}}}
		for _, g := range groups {
			base := fig(g[0][0]).median()
			for _, kl := range g {
				b, ok := barFrom(fig(kl[0]), kl[1])
				if _, failed := r.Failed[kl[0]]; failed && !ok {
					p.bars = append(p.bars, bar{label: kl[1], failed: true})
					continue
				}
				if !ok || base == 0 {
					continue
				}
				b.med, b.lo, b.hi = 100*b.med/base, 100*b.lo/base, 100*b.hi/base
				p.bars = append(p.bars, b)
			}
		}
		return p
	}
	regs := func(which string) [][2]string {
		return [][2]string{{"P5." + which + ".regs.1", "1 registration"}, {"P5." + which + ".regs.100", "100 registrations"}, {"P5." + which + ".regs.10000", "10k registrations"}}
	}
	queued := func(which string) [][2]string {
		return [][2]string{{"P5." + which + ".queued.0", "0 queued"}, {"P5." + which + ".queued.10000", "10k queued"}, {p5QueuedKey(r, which), p5QueuedLabel(r, which)}}
	}
	ps = append(ps, rel("P5 intake vs size", regs("p2"), queued("p2")))
	ps = append(ps, rel("P5 deliveries/s vs size", regs("p3"), queued("p3")))
	return ps
}

// p5QueuedKey finds the largest queue size measured (100k, or less in
// quick runs).
func p5QueuedKey(r *Results, which string) string {
	best, bestN := "", -1
	for k := range r.Figures {
		var n int
		if _, err := fmt.Sscanf(k, "P5."+which+".queued.%d", &n); err == nil && n > bestN {
			best, bestN = k, n
		}
	}
	return best
}

func p5QueuedLabel(r *Results, which string) string {
	var n int
	fmt.Sscanf(p5QueuedKey(r, which), "P5."+which+".queued.%d", &n)
	return fmt.Sprintf("%dk queued", n/1000)
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 10000:
		return fmt.Sprintf("%.1fk", v/1000)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func writeChart(r *Results, path string) error {
	ps := chartPanels(r)
	const (
		scale  = 2
		pw, ph = 760, 330
		cols   = 2
		top    = 70
	)
	rows := (len(ps) + cols - 1) / cols
	W, H := cols*pw, top+rows*ph+40
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	title := "agenthook benchmarks: median, whiskers = range over repeats"
	drawText(img, 20, 18, title, 3, colText)
	sub := fmt.Sprintf("%d CPUs, %s, %s%s", r.Machine.CPUs, r.Machine.Model, r.Machine.Date, map[bool]string{true: "  [QUICK RUN: NOT FOR PUBLICATION]"}[r.Settings.Quick])
	drawText(img, 20, 48, sub, 1, colMuted)
	for i, p := range ps {
		x0 := (i % cols) * pw
		y0 := top + (i/cols)*ph
		drawPanel(img, x0+15, y0+10, pw-30, ph-20, p, scale)
	}
	foot := "bench/run.sh; loopback only; see BENCHMARKS.md for methods and every figure"
	drawText(img, 20, H-24, foot, 1, colMuted)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}

func drawPanel(img *image.RGBA, x, y, w, h int, p panel, scale int) {
	// Frame and title.
	fillRect(img, x, y, x+w, y+1, colGrid)
	drawText(img, x, y+8, p.title+" ("+p.unit+")", scale, colText)
	if len(p.bars) == 0 {
		drawText(img, x, y+50, "not measured in this run", scale, colMuted)
		return
	}
	labelW := 0
	for _, b := range p.bars {
		labelW = max(labelW, textWidth(b.label, scale))
	}
	labelW += 12
	valueW := 8 * 6 * scale
	bx0, bx1 := x+labelW, x+w-valueW
	by0 := y + 40
	barH, gap := 22, 14
	maxV := 0.0
	for _, b := range p.bars {
		maxV = math.Max(maxV, math.Max(b.hi, b.med))
	}
	for _, l := range p.lines {
		maxV = math.Max(maxV, l.value)
	}
	if maxV <= 0 {
		maxV = 1
	}
	maxV *= 1.05
	px := func(v float64) int { return bx0 + int(float64(bx1-bx0)*v/maxV) }
	for i, b := range p.bars {
		yy := by0 + i*(barH+gap)
		drawText(img, x, yy+4, b.label, scale, colText)
		if b.failed {
			drawText(img, bx0+8, yy+4, "FAILED (see notes)", scale, colMiss)
			continue
		}
		c := colBar
		if b.relativeTo < 0 {
			c = colBase
		}
		fillRect(img, bx0, yy, max(bx0+1, px(b.med)), yy+barH, c)
		// Whisker: min to max.
		mid := yy + barH/2
		fillRect(img, px(b.lo), mid-1, px(b.hi)+1, mid+1, colWhisk)
		fillRect(img, px(b.lo), yy+4, px(b.lo)+2, yy+barH-4, colWhisk)
		fillRect(img, px(b.hi)-1, yy+4, px(b.hi)+1, yy+barH-4, colWhisk)
		drawText(img, max(px(b.hi), px(b.med))+8, yy+4, fmtNum(b.med), scale, colText)
	}
	end := by0 + len(p.bars)*(barH+gap)
	for _, l := range p.lines {
		lx := px(l.value)
		for yy := by0 - 6; yy < end; yy += 6 {
			fillRect(img, lx, yy, lx+2, yy+3, colTarget)
		}
		drawText(img, lx+4, end+2, l.label, 1, colTarget)
	}
	// Axis.
	fillRect(img, bx0, by0-6, bx0+1, end, colMuted)
}
