package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Secrets of the bench configs: throwaway values, loopback only.
const (
	hmacSecret = "bench-hmac-secret"
	whsec      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	apiKey     = "bench-api-key"
	// body is a typical trigger: a prompt and some context, ~240 bytes.
	body = `{"prompt":"Where is my order {{seq}}? It was due yesterday and the tracking page has not changed since Monday.","customer":{"id":"c-{{seq}}","tier":"gold"},"channel":"web","locale":"en-GB"}`
)

func signArgs() []string {
	return []string{"-body", body, "-hmac", hmacSecret, "-H", "Content-Type: application/json"}
}

// agenthookCaddyfile is a Caddy with the agenthook app on Badger (or the
// storage line given) and one site.
func agenthookCaddyfile(storage, globals, routes string) string {
	if storage == "" {
		storage = "storage badger {{dir}}/badger"
	}
	return `{
	admin {{admin}}
	storage file_system {{dir}}/certs
	auto_https off
	default_bind 127.0.0.1
	agenthook {
		` + storage + `
` + globals + `
	}
}

http://127.0.0.1:{{port}} {
` + routes + `
}
`
}

func plainCaddyfile(routes string) string {
	return `{
	admin {{admin}}
	storage file_system {{dir}}/certs
	auto_https off
	default_bind 127.0.0.1
}

http://127.0.0.1:{{port}} {
` + routes + `
}
`
}

func agentBlock(name, addr, extra string) string {
	return fmt.Sprintf(`		agent %s {
			reverse_proxy %s
			conversation_header X-Conversation-Id
%s		}
`, name, addr, extra)
}

const asyncRoutes = `	agenthook /async bench {
		auth hmac ` + hmacSecret + `
		mode async
	}
	agenthook_status /status*
	@api path /api/*
	agenthook_api @api {
		bearer ` + apiKey + `
	}
`

// ---------------------------------------------------------------- P0

// p0Tools checks that loadgen is not the bottleneck: the same plain
// `respond` site, measured with wrk and with loadgen.
func (e *env) p0Tools() error {
	c, err := e.startCaddy("p0-respond", plainCaddyfile("\trespond 202\n"))
	if err != nil {
		return err
	}
	defer c.kill()
	url := c.base + "/"
	for r := 0; r < e.repeats; r++ {
		run := []func() error{
			func() error {
				v, err := e.wrk(url)
				if err == nil {
					e.add("P0.wrk", "plain `respond`, wrk -t2", "req/s", v)
				}
				return err
			},
			func() error {
				lg, err := e.load("p0-loadgen", e.wall(), append(e.maxArgs(url), "-method", "GET")...)
				if err == nil {
					e.add("P0.loadgen", "plain `respond`, loadgen (closed loop)", "req/s", lg.Rate)
				}
				return err
			},
		}
		if r%2 == 1 {
			slices.Reverse(run)
		}
		for _, f := range run {
			if err := f(); err != nil {
				return err
			}
		}
		// The open-loop scheduler's own lag: at a low rate the server is
		// idle, so latency from the schedule minus service time is ours.
		lg, err := e.load("p0-open", e.wall(), e.openArgs(url, 2000, "-method", "GET")...)
		if err != nil {
			return err
		}
		e.add("P0.lag", "loadgen scheduling lag at 2000/s (p99 from schedule − p99 service)", "ms", lg.LatencyMS.P99-lg.ServiceMS.P99)
	}
	return nil
}

// ---------------------------------------------------------------- P1

// p1Sync: sync endpoint with HMAC auth and chat continuation, vs plain
// reverse_proxy to the same fast agent.
func (e *env) p1Sync() error {
	agent, err := e.startProc("p1-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	ah, err := e.startCaddy("p1-agenthook", agenthookCaddyfile("", agentBlock("bench", agent.addr, ""), `	agenthook /sync bench {
		auth hmac `+hmacSecret+`
	}
`))
	if err != nil {
		return err
	}
	defer ah.kill()
	plain, err := e.startCaddy("p1-plain", plainCaddyfile("\treverse_proxy "+agent.addr+"\n"))
	if err != nil {
		return err
	}
	defer plain.kill()
	chats := []string{"-chats", strconv.Itoa(e.conns)}
	sides := []side{{"agenthook", ah.base + "/sync"}, {"plain", plain.base + "/sync"}}
	p1Max := maxRun{label: "P1", load: "p1-max-", max: "P1.max.", maxDesc: "sync max throughput, ", p99: "P1.maxp99.", p99Desc: "p99 at max throughput, "}
	for r := 0; r < e.repeats; r++ {
		maxes, order, err := e.measureMax(p1Max, r, sides, append(signArgs(), chats...))
		if err != nil {
			return err
		}
		e.add("P1.ratio", "agenthook / plain throughput", "×", maxes["agenthook"]/maxes["plain"])
		rate := 0.5 * maxes["agenthook"]
		e.add("P1.halfrate", "50% of agenthook's max (open-loop rate)", "req/s", rate)
		p99 := map[string]float64{}
		for _, s := range order {
			lg, err := e.load("p1-half-"+s.name, e.wall(), e.openArgs(s.url, rate, append(signArgs(), chats...)...)...)
			if err != nil {
				return err
			}
			p99[s.name] = lg.LatencyMS.P99
			e.add("P1.p50."+s.name, "p50 at 50% load, "+s.name, "ms", lg.LatencyMS.P50)
			e.add("P1.p99."+s.name, "p99 at 50% load, "+s.name, "ms", lg.LatencyMS.P99)
		}
		e.add("P1.addedp99", "added p99 at 50% load (agenthook − plain)", "ms", p99["agenthook"]-p99["plain"])
	}
	e.profiled("P1-agenthook-max", ah, func() error {
		_, err := e.load("p1-profile", e.wall(), e.maxArgs(ah.base+"/sync", append(signArgs(), chats...)...)...)
		return err
	})
	return nil
}

// ---------------------------------------------------------------- P6

// p6Adapter: the sync endpoint with `adapter openai` (the caller's body
// shaped into a chat-completions request, the completion into
// {"answer", ...}, tokens counted), vs plain reverse_proxy to the same
// OpenAI-shaped backend, side by side. No history: it measures the
// shaping, not the store.
func (e *env) p6Adapter() error {
	agent, err := e.startProc("p6-agent", true, e.agentBin, "-openai")
	if err != nil {
		return err
	}
	defer agent.kill()
	ah, err := e.startCaddy("p6-agenthook", agenthookCaddyfile("", fmt.Sprintf(`		agent bench {
			reverse_proxy %s
			adapter openai {
				model bench-model
				system "You are a benchmark."
			}
		}
`, agent.addr), `	agenthook /sync bench {
		auth hmac `+hmacSecret+`
	}
`))
	if err != nil {
		return err
	}
	defer ah.kill()
	plain, err := e.startCaddy("p6-plain", plainCaddyfile("\treverse_proxy "+agent.addr+"\n"))
	if err != nil {
		return err
	}
	defer plain.kill()
	// Chats continue, as in P1: what is measured is the adapter, not
	// the creation of a chat per request.
	chats := []string{"-chats", strconv.Itoa(e.conns)}
	sides := []side{{"agenthook", ah.base + "/sync"}, {"plain", plain.base + "/v1/chat/completions"}}
	p6Max := maxRun{label: "P6", load: "p6-max-", max: "P6.max.", maxDesc: "sync max throughput with an OpenAI backend, ", p99: "P6.maxp99.", p99Desc: "p99 at max throughput, "}
	for r := 0; r < e.repeats; r++ {
		maxes, _, err := e.measureMax(p6Max, r, sides, append(signArgs(), chats...))
		if err != nil {
			return err
		}
		e.add("P6.ratio", "adapter openai / plain reverse_proxy throughput", "×", maxes["agenthook"]/maxes["plain"])
	}
	// Where the shaped call's CPU goes, beside P1's.
	e.profiled("P6-agenthook-max", ah, func() error {
		_, err := e.load("p6-profile", e.wall(), e.maxArgs(ah.base+"/sync", append(signArgs(), chats...)...)...)
		return err
	})
	return nil
}

// ---------------------------------------------------------------- P2

// p2Config is the async intake config: tasks are accepted and stored, but
// the only worker hangs on a held backend, so intake alone is measured.
// p2Config and p3Config lift max_registrations (100 by default since the
// hardening of issue 12): P5 registers 10k callbacks on them. The cap is
// only checked at registration, so P2 and P3 are not affected.
func p2Config(storage, agentAddr, extra string) string {
	return agenthookCaddyfile(storage, `		workers 1
		queue {
			max_depth 100000000
		}
		delivery {
			allow_networks 127.0.0.1/32
			max_registrations unlimited
		}
`+agentBlock("bench", agentAddr, extra), asyncRoutes)
}

// p2Sides runs one closed-loop intake load per target, with conns
// connections, in repeat r: "respond" on the shared `respond 202` Caddy,
// each engine on a Caddy of its own with a fresh store, so that each run
// starts with an empty queue. The targets take turns going first, by r.
// Answers that were errors are noted under what; label names the runs.
func (e *env) p2Sides(what, label string, r, conns int, targets []string, agentAddr string, respond *caddy) (map[string]*LG, error) {
	order := slices.Clone(targets)
	for i := 0; i < r%len(order); i++ {
		order = append(order[1:], order[0])
	}
	lgs := map[string]*LG{}
	for _, t := range order {
		url := respond.base + "/async"
		var c *caddy
		if t != "respond" {
			storage, err := e.storageLine(t, fmt.Sprintf("%sr%d", label, r))
			if err != nil {
				return nil, err
			}
			if c, err = e.startCaddy(label+"-"+t, p2Config(storage, agentAddr, "")); err != nil {
				return nil, err
			}
			url = c.base + "/async"
		}
		lg, err := e.load(label+"-"+t, e.wall(), e.connArgs(url, conns, signArgs()...)...)
		if c != nil {
			c.kill()
		}
		if err != nil {
			return nil, err
		}
		if lg.OK < lg.Count {
			e.note("%s repeat %d %s: %d of %d answers were errors: %v", what, r+1, t, lg.Count-lg.OK, lg.Count, lg.Errors)
		}
		lgs[t] = lg
	}
	return lgs, nil
}

func (e *env) p2Intake() error {
	held, err := e.startProc("p2-agent-held", true, e.agentBin, "-hold")
	if err != nil {
		return err
	}
	defer held.kill()
	respond, err := e.startCaddy("p2-respond", plainCaddyfile("\trespond `{\"task_id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"chat_id\":\"AAAAAAAAAAAAAAAAAAAAAA\"}` 202\n"))
	if err != nil {
		return err
	}
	defer respond.kill()
	engines := []string{"badger"}
	if e.pgDSN != "" {
		engines = append(engines, "postgres")
	}
	targets := append([]string{"respond"}, engines...)
	for r := 0; r < e.repeats; r++ {
		lgs, err := e.p2Sides("P2", "p2", r, e.conns, targets, held.addr, respond)
		if err != nil {
			return err
		}
		for _, t := range targets {
			e.add("P2."+t, "async intake (202), "+t, "req/s", lgs[t].OKRate)
			e.add("P2.p99."+t, "p99 at max intake, "+t, "ms", lgs[t].LatencyMS.P99)
		}
		for _, t := range engines {
			e.add("P2.ratio."+t, t+" / respond 202", "×", lgs[t].OKRate/lgs["respond"].OKRate)
		}
	}
	if err := e.p2Low(held.addr, respond); err != nil {
		return err
	}
	for _, t := range engines {
		storage, err := e.storageLine(t, "p2prof")
		if err != nil {
			return err
		}
		c, err := e.startCaddy("p2-prof-"+t, p2Config(storage, held.addr, ""))
		if err != nil {
			return err
		}
		e.profiled("P2-"+t, c, func() error {
			_, err := e.load("p2-profile-"+t, e.wall(), e.maxArgs(c.base+"/async", signArgs()...)...)
			return err
		})
		c.kill()
	}
	return nil
}

// ---------------------------------------------------------------- P3

// p3Extra is appended to P3's agenthook globals (-p3-extra), and
// p3Delivery to its delivery block (-p3-delivery).
var p3Extra, p3Delivery string

func p3Config(agentAddr, sinkAddr string, workers int, extraGlobals, extraRoutes string) string {
	cb := ""
	if sinkAddr != "" {
		cb = fmt.Sprintf("\t\t\tcallback http://%s/hook {\n\t\t\t\tsign standard_webhooks %s\n\t\t\t}\n", sinkAddr, whsec)
	}
	w := ""
	if workers > 0 {
		w = fmt.Sprintf("\t\tworkers %d\n", workers)
	}
	return agenthookCaddyfile("", w+`		queue {
			max_depth 100000000
		}
		delivery {
			allow_networks 127.0.0.1/32
			max_registrations unlimited
			`+p3Delivery+`
		}
`+agentBlock("bench", agentAddr, cb)+extraGlobals+"\t\t"+p3Extra+"\n", asyncRoutes+extraRoutes)
}

// drain fills the queue with n tasks while the agent is held, releases
// it, and measures how fast the sink receives n*per deliveries. It returns
// the steady rate (the middle 80% of arrivals) and the overall one.
func (e *env) drain(label string, c *caddy, agent *proc, sink *proc, n, per int) (mid, all float64, st sinkStats, err error) {
	return e.drainProfiled(label, c, agent, sink, n, per, "")
}

// drainProfiled is drain; with a profile name, it also takes a CPU
// profile of Caddy while the queue drains.
func (e *env) drainProfiled(label string, c *caddy, agent *proc, sink *proc, n, per int, profile string) (mid, all float64, st sinkStats, err error) {
	if _, _, err = httpDo("POST", "http://"+agent.addr+"/_control/hold", "", nil); err != nil {
		return
	}
	if _, err = e.fill(label+"-fill", c.base+"/async", n, signArgs()...); err != nil {
		return
	}
	if err = sinkReset(sink.addr); err != nil {
		return
	}
	cpu0 := readDrainCPU(c, agent, sink)
	t0 := time.Now().UnixNano()
	if _, _, err = httpDo("POST", "http://"+agent.addr+"/_control/release", "", nil); err != nil {
		return
	}
	var profDone chan struct{}
	if profile != "" {
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			e.profileNow(profile, c, max(time.Second, e.dur-e.warmup))
		}()
		defer func() { <-profDone }()
	}
	total := int64(n * per)
	st, err = waitSink(sink.addr, total, time.Minute+time.Duration(total)*time.Millisecond)
	if err != nil {
		if p := c.lastProblem(); p != "" {
			err = fmt.Errorf("%w; Caddy's last warning: %s", err, p)
		}
		return
	}
	e.drainCPU = readDrainCPU(c, agent, sink).minus(cpu0)
	arr, err := sinkDump(sink.addr)
	if err != nil {
		return
	}
	at := make([]int64, len(arr))
	for i, a := range arr {
		at[i] = a.at
	}
	slices.Sort(at)
	lo, hi := len(at)/10, len(at)*9/10
	if hi > lo && at[hi] > at[lo] {
		mid = float64(hi-lo) / (float64(at[hi]-at[lo]) / 1e9)
	}
	all = float64(len(at)) / (float64(at[len(at)-1]-t0) / 1e9)
	e.logf("  %-28s %d deliveries: %.0f/s steady, %.0f/s overall (%d requests, %d unique)", label, total, mid, all, st.Requests, st.UniqueIDs)
	return
}

// latencyAt sends tasks open loop at rate and measures, per task, the time
// from its 202 to its callback's arrival at the sink.
func (e *env) latencyAt(label string, c *caddy, sink *proc, rate float64) (Pct, Pct, int, error) {
	if err := sinkReset(sink.addr); err != nil {
		return Pct{}, Pct{}, 0, err
	}
	rec := filepath.Join(e.out, "lg", label+".records")
	// Three load runs long: Badger's compactions come every several
	// seconds, and a window of one run can miss (or, with other options,
	// be made to miss) the stall one causes. Measured on 2026-12-03: with
	// more level-0 tables allowed, the stall after a drain moved from 6 s
	// to 18 s into the load, out of a 10 s window.
	long := 3 * e.dur
	args := e.openArgs(c.base+"/async", rate, append(signArgs(), "-record", rec, "-d", long.String())...)
	if _, err := e.load(label, e.wall()+long, args...); err != nil {
		return Pct{}, Pct{}, 0, err
	}
	recs, err := readRecords(rec)
	if err != nil {
		return Pct{}, Pct{}, 0, err
	}
	// Wait until every recorded task has been delivered, or 30 s.
	deadline := time.Now().Add(30 * time.Second)
	var arr []arrival
	for {
		arr, err = sinkDump(sink.addr)
		if err != nil {
			return Pct{}, Pct{}, 0, err
		}
		seen := 0
		first := map[string]int64{}
		for _, a := range arr {
			if _, ok := recs[a.task]; ok {
				if _, dup := first[a.task]; !dup {
					first[a.task] = a.at
					seen++
				}
			}
		}
		if seen >= len(recs) || time.Now().After(deadline) {
			var from202, fromSched []int64
			for task, t := range recs {
				at, ok := first[task]
				if !ok {
					continue
				}
				from202 = append(from202, at-t[1])
				fromSched = append(fromSched, at-t[0])
			}
			missing := len(recs) - len(from202)
			return pct(from202), pct(fromSched), missing, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// p3LatencyKeys names one latency measurement's figures.
type p3LatencyKeys struct {
	label, p50, p99, max, p99sched string
	when                           string // how the instance was prepared
}

// p3Latency measures 202 → callback at rate on c and records the figures.
func (e *env) p3Latency(c *caddy, sink *proc, rate float64, repeat int, k p3LatencyKeys) error {
	from202, fromSched, missing, err := e.latencyAt(k.label, c, sink, rate)
	if err != nil {
		return err
	}
	if missing > 0 {
		e.note("P3 (%s) repeat %d: %d accepted tasks had no delivery within 30 s of the end of the run", k.when, repeat+1, missing)
	}
	e.add(k.p50, "202 → callback received, p50 ("+k.when+")", "ms", from202.P50)
	e.add(k.p99, "202 → callback received, p99 ("+k.when+")", "ms", from202.P99)
	e.add(k.max, "202 → callback received, max ("+k.when+")", "ms", from202.Max)
	e.add(k.p99sched, "scheduled send → callback received, p99 ("+k.when+")", "ms", fromSched.P99)
	e.logf("  %s 202→callback p50 %.2fms p99 %.2fms max %.2fms (missing %d)", k.label, from202.P50, from202.P99, from202.Max, missing)
	return nil
}

func (e *env) p3Fanout() error {
	agent, err := e.startProc("p3-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	sink, err := e.startProc("p3-sink", true, e.sinkBin, "-verify", whsec, "-verify-every", "50")
	if err != nil {
		return err
	}
	defer sink.kill()
	// The sink's own maximum intake, with a delivery-sized signed body.
	payload := `{"type":"task.succeeded","task_id":"t{{seq}}","agent":"bench","chat_id":"c{{seq}}","status":"SUCCESS","result":{"answer":"Thanks, your order ships tomorrow.","conversation_id":"conv-1","data":{"intent":"order_status"}},"backend_status":200,"timestamp":"2026-01-01T00:00:00Z"}`
	n := int(5000 * e.dur.Seconds())
	// Plain reverse_proxy to the same agent, the yardstick for a
	// whole task: one request in, one out, no store, no delivery.
	plain, err := e.startCaddy("p3-plain", plainCaddyfile("\treverse_proxy "+agent.addr+"\n"))
	if err != nil {
		return err
	}
	defer plain.kill()
	for r := 0; r < e.repeats; r++ {
		pl, err := e.load("p3-plain-max", e.wall(), e.maxArgs(plain.base+"/", "-body", `{"prompt":"Where is my order?"}`, "-H", "Content-Type: application/json")...)
		if err != nil {
			return err
		}
		e.add("P3.plain", "plain reverse_proxy max throughput to the same agent", "req/s", pl.OKRate)

		lg, err := e.load("p3-sink-max", e.wall(), "-url", "http://"+sink.addr+"/hook", "-c", "16", "-d", e.dur.String(), "-warmup", e.warmup.String(),
			"-body", payload, "-sw-secret", whsec, "-H", "Content-Type: application/json")
		if err != nil {
			return err
		}
		e.add("P3.sink", "sink's own max intake (loadgen, 16 conns)", "req/s", lg.OKRate)

		c, err := e.startCaddy("p3-agenthook", p3Config(agent.addr, sink.addr, 0, "", ""))
		if err != nil {
			return err
		}
		mid, all, st, err := e.drain("p3-drain", c, agent, sink, n, 1)
		if err != nil {
			c.kill()
			return err
		}
		e.add("P3.max", "signed deliveries/s (queue of "+strconv.Itoa(n)+" drained, steady part)", "deliveries/s", mid)
		e.add("P3.maxall", "signed deliveries/s (release to last arrival)", "deliveries/s", all)
		if pl.OKRate > 0 {
			e.add("P3.ratio", "whole tasks/s (steady drain) / plain reverse_proxy req/s", "×", mid/pl.OKRate)
		}
		// CPU per whole task while the queue drained (release to the
		// last arrival), beside Outpost's ~1.6 ms per event here.
		per := 1000 / float64(n)
		e.add("P3.cpu.caddy", "Caddy CPU per task during the drain", "ms", e.drainCPU.caddy*per)
		e.add("P3.cpu.agent", "fake agent CPU per task during the drain", "ms", e.drainCPU.agent*per)
		e.add("P3.cpu.sink", "sink CPU per task during the drain", "ms", e.drainCPU.sink*per)
		if st.BadSignatures > 0 {
			e.note("P3: the sink found %d bad signatures among %d checked", st.BadSignatures, st.Checked)
		}
		e.add("P3.checked", "signatures checked by the sink (1 in 50)", "count", float64(st.Checked))
		rate := min(5000, mid) / 2
		e.add("P3.halfrate", "open-loop rate for the latency test", "tasks/s", rate)
		err = e.p3Latency(c, sink, rate, r, p3LatencyKeys{"p3-latency", "P3.p50", "P3.p99", "P3.max_lat", "P3.p99sched", "right after the drain"})
		c.kill()
		if err != nil {
			return err
		}

		// The same rate on a new instance: the steady state, without the
		// compactions that the drained backlog leaves behind.
		c, err = e.startCaddy("p3-steady", p3Config(agent.addr, sink.addr, 0, "", ""))
		if err != nil {
			return err
		}
		err = e.p3Latency(c, sink, rate, r, p3LatencyKeys{"p3-steady-latency", "P3.steady.p50", "P3.steady.p99", "P3.steady.max", "P3.steady.p99sched", "new instance"})
		c.kill()
		if err != nil {
			return err
		}
	}
	c, err := e.startCaddy("p3-prof", p3Config(agent.addr, sink.addr, 0, "", ""))
	if err != nil {
		return err
	}
	defer c.kill()
	// The profile covers the drain of a queue of the usual size.
	_, _, _, err = e.drainProfiled("p3-profile", c, agent, sink, n, 1, "P3-drain")
	return err
}

// ---------------------------------------------------------------- P4

func (e *env) p4Memory() error {
	agent, err := e.startProc("p4-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	held, err := e.startProc("p4-agent-held", true, e.agentBin, "-hold")
	if err != nil {
		return err
	}
	defer held.kill()
	sink, err := e.startProc("p4-sink", true, e.sinkBin)
	if err != nil {
		return err
	}
	defer sink.kill()
	for r := 0; r < e.repeats; r++ {
		c, err := e.startCaddy("p4-idle", p3Config(agent.addr, sink.addr, 0, "", ""))
		if err != nil {
			return err
		}
		time.Sleep(3 * time.Second)
		rss, _ := c.rssMiB()
		e.add("P4.idle", "RSS idle (fresh start, Badger store, 1 agent + callback)", "MiB", rss)
		anon, file, heap := c.memBreakdown()
		e.add("P4.idleanon", "RssAnon idle", "MiB", anon)
		e.add("P4.idlefile", "RssFile idle (the binary's and Badger's mapped files)", "MiB", file)
		e.add("P4.idleheap", "Go heap in use idle", "MiB", heap)
		c.kill()
		p, err := e.startCaddy("p4-idle-plain", plainCaddyfile("\treverse_proxy "+agent.addr+"\n"))
		if err != nil {
			return err
		}
		time.Sleep(3 * time.Second)
		rss, _ = p.rssMiB()
		e.add("P4.idleplain", "RSS idle, plain Caddy (reference)", "MiB", rss)
		p.kill()
	}
	queued := 100000
	reps := e.p5Repeats
	if e.quick {
		queued, reps = 20000, 1
		e.note("P4: quick mode queues %d tasks, not 100k", queued)
	}
	for r := 0; r < reps; r++ {
		c, err := e.startCaddy("p4-queued", p2Config("", held.addr, ""))
		if err != nil {
			return err
		}
		if _, err := e.fill("p4-fill", c.base+"/async", queued, signArgs()...); err != nil {
			c.kill()
			return err
		}
		time.Sleep(3 * time.Second)
		k := queued / 1000
		rss, hwm := c.rssMiB()
		anon, file, heap := c.memBreakdown()
		e.add("P4.queued", fmt.Sprintf("RSS with %dk queued tasks", k), "MiB", rss)
		e.add("P4.queuedpeak", fmt.Sprintf("peak RSS (VmHWM) while queueing %dk tasks", k), "MiB", hwm)
		e.add("P4.queuedanon", fmt.Sprintf("RssAnon (heap and other private memory), %dk queued", k), "MiB", anon)
		e.add("P4.queuedfile", fmt.Sprintf("RssFile (Badger's memory-mapped files), %dk queued", k), "MiB", file)
		e.add("P4.queuedheap", fmt.Sprintf("Go heap in use (HeapAlloc), %dk queued", k), "MiB", heap)
		used, _ := duKiB(filepath.Join(c.dir, "badger"))
		e.add("P4.queueddisk", fmt.Sprintf("disk with %dk queued tasks", k), "MiB", float64(used)/1024)
		if !e.quick && r == 0 {
			// Idle for a while: Go's forced GC (every 2 minutes) and the
			// scavenger return what the fill left behind.
			time.Sleep(130 * time.Second)
			rss, _ = c.rssMiB()
			anon, file, heap = c.memBreakdown()
			e.add("P4.queuedsettled", fmt.Sprintf("RSS with %dk queued tasks, after 130 s idle", k), "MiB", rss)
			e.add("P4.queuedsettledanon", fmt.Sprintf("RssAnon after 130 s idle, %dk queued", k), "MiB", anon)
			e.add("P4.queuedsettledfile", fmt.Sprintf("RssFile after 130 s idle, %dk queued", k), "MiB", file)
			e.add("P4.queuedsettledheap", fmt.Sprintf("Go heap after 130 s idle, %dk queued", k), "MiB", heap)
		}
		c.kill()
	}
	return e.p4Disk(agent, sink)
}

// p4Disk: fill the store with finished tasks and deliveries, let them
// expire, add a smaller live set, wait for Badger's value-log GC (every 5
// minutes in the product), and compare the directory with a fresh store
// that holds only the live set.
func (e *env) p4Disk(agent, sink *proc) error {
	old, live := 50000, 5000
	retention, settle := 3*time.Minute, 5*time.Minute+30*time.Second
	if e.quick {
		old, live = 5000, 500
		retention, settle = 10*time.Second, 30*time.Second
		e.note("P4 disk: quick mode (%d old tasks, %s retention, measured %s after start): Badger's 5-minute value-log GC has not run yet", old, retention, settle)
	}
	cfgFor := func() string {
		return p3Config(agent.addr, sink.addr, 0, fmt.Sprintf("\t\tretention %s\n", retention), "")
	}
	// chat_ttl: chats created by the old tasks expire with them.
	cf := strings.Replace(cfgFor(), "mode async\n", "mode async\n\t\tchat_ttl "+retention.String()+"\n", 1)
	c, err := e.startCaddy("p4-disk", cf)
	if err != nil {
		return err
	}
	defer c.kill()
	start := time.Now()
	if err := sinkReset(sink.addr); err != nil {
		return err
	}
	if _, err := e.fill("p4-disk-old", c.base+"/async", old, signArgs()...); err != nil {
		return err
	}
	if _, err := waitSink(sink.addr, int64(old), 5*time.Minute); err != nil {
		return err
	}
	dir := filepath.Join(c.dir, "badger")
	peak, peakApp := duKiB(dir)
	e.add("P4.diskpeak", fmt.Sprintf("disk after %dk finished tasks + deliveries", old/1000), "MiB", float64(peak)/1024)
	e.logf("  disk peak %d KiB (apparent %d KiB)", peak, peakApp)
	time.Sleep(time.Until(start.Add(retention + 5*time.Second)))
	if err := sinkReset(sink.addr); err != nil {
		return err
	}
	if _, err := e.fill("p4-disk-live", c.base+"/async", live, signArgs()...); err != nil {
		return err
	}
	if _, err := waitSink(sink.addr, int64(live), 5*time.Minute); err != nil {
		return err
	}
	time.Sleep(time.Until(start.Add(settle)))
	after, afterApp := duKiB(dir)
	e.logf("  disk after GC %d KiB (apparent %d KiB)", after, afterApp)
	e.add("P4.diskafter", fmt.Sprintf("disk after retention GC (%d live tasks)", live), "MiB", float64(after)/1024)
	c.kill()

	ref, err := e.startCaddy("p4-disk-ref", cf)
	if err != nil {
		return err
	}
	defer ref.kill()
	if err := sinkReset(sink.addr); err != nil {
		return err
	}
	if _, err := e.fill("p4-disk-ref", ref.base+"/async", live, signArgs()...); err != nil {
		return err
	}
	if _, err := waitSink(sink.addr, int64(live), 5*time.Minute); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	refUsed, _ := duKiB(filepath.Join(ref.dir, "badger"))
	e.add("P4.diskref", fmt.Sprintf("live data: a fresh store with the same %d tasks", live), "MiB", float64(refUsed)/1024)
	if refUsed > 0 {
		e.add("P4.diskratio", "disk after GC / live data", "×", float64(after)/float64(refUsed))
	}
	return nil
}

// ---------------------------------------------------------------- P5

// register adds n callback registrations through the API, each to its
// own path on the sink.
func (e *env) register(c *caddy, sinkAddr string, n int) error {
	_, err := e.fill(fmt.Sprintf("p5-register-%d", n), c.base+"/api/agents/bench/webhooks", n,
		"-H", "Authorization: Bearer "+apiKey, "-H", "Content-Type: application/json",
		"-body", `{"url":"http://`+sinkAddr+`/hook/{{seq}}","method":"POST","status":"active"}`)
	return err
}

func (e *env) p5Growth() error {
	held, err := e.startProc("p5-agent-held", true, e.agentBin, "-hold")
	if err != nil {
		return err
	}
	defer held.kill()
	agent, err := e.startProc("p5-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	sink, err := e.startProc("p5-sink", true, e.sinkBin)
	if err != nil {
		return err
	}
	defer sink.kill()
	regs := []int{1, 100, 10000}
	queues := []int{0, 10000, 100000}
	if e.quick {
		queues = []int{0, 10000, 20000}
		e.note("P5: quick mode queues at most %d tasks, not 100k", queues[2])
	}
	var errs []error
	// P2 (intake) with R registrations and with Q queued tasks.
	for r := 0; r < e.p5Repeats; r++ {
		for _, n := range regs {
			c, err := e.startCaddy("p5-p2-regs", p2Config("", held.addr, ""))
			if err != nil {
				return err
			}
			err = e.register(c, sink.addr, n)
			if err == nil {
				var lg *LG
				lg, err = e.load(fmt.Sprintf("p5-p2-regs-%d", n), e.wall(), e.maxArgs(c.base+"/async", signArgs()...)...)
				if err == nil {
					e.add(fmt.Sprintf("P5.p2.regs.%d", n), fmt.Sprintf("intake with %d registrations", n), "req/s", lg.OKRate)
				}
			}
			c.kill()
			if err != nil {
				errs = append(errs, err)
			}
		}
		for _, q := range queues {
			c, err := e.startCaddy("p5-p2-queued", p2Config("", held.addr, ""))
			if err != nil {
				return err
			}
			if q > 0 {
				_, err = e.fill(fmt.Sprintf("p5-p2-fill-%d", q), c.base+"/async", q, signArgs()...)
			}
			if err == nil {
				var lg *LG
				lg, err = e.load(fmt.Sprintf("p5-p2-queued-%d", q), e.wall(), e.maxArgs(c.base+"/async", signArgs()...)...)
				if err == nil {
					e.add(fmt.Sprintf("P5.p2.queued.%d", q), fmt.Sprintf("intake with %dk tasks queued", q/1000), "req/s", lg.OKRate)
				}
			}
			rss, _ := c.rssMiB()
			e.add(fmt.Sprintf("P5.p2.rss.%d", q), fmt.Sprintf("RSS after intake with %dk queued", q/1000), "MiB", rss)
			c.kill()
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	// P3 (deliveries) with R registrations (each task fans out to all of
	// them) and with Q tasks queued behind one held chat.
	total := int(5000 * e.dur.Seconds())
	broken := map[int]bool{} // registration counts that failed once: not retried
	for r := 0; r < e.p5Repeats; r++ {
		for _, n := range regs {
			if broken[n] {
				continue
			}
			c, err := e.startCaddy("p5-p3-regs", p3Config(agent.addr, "", 0, "", ""))
			if err != nil {
				return err
			}
			err = e.register(c, sink.addr, n)
			if err == nil {
				tasks := max(2, total/n)
				var mid float64
				mid, _, _, err = e.drain(fmt.Sprintf("p5-p3-regs-%d", n), c, agent, sink, tasks, n)
				if err == nil {
					e.add(fmt.Sprintf("P5.p3.regs.%d", n), fmt.Sprintf("deliveries/s, %d registrations (%d tasks × %d)", n, tasks, n), "deliveries/s", mid)
				}
			}
			c.kill()
			if err != nil {
				broken[n] = true
				e.note("P5 deliveries with %d registrations failed (not repeated): %v", n, err)
				e.fail(fmt.Sprintf("P5.p3.regs.%d", n), err.Error())
			}
		}
		for _, q := range queues {
			parked := agentBlock("parked", held.addr, "")
			routes := `	agenthook /parked parked {
		auth hmac ` + hmacSecret + `
		mode async
	}
`
			// One worker waits on the held chat; the others run as usual.
			c, err := e.startCaddy("p5-p3-queued", p3Config(agent.addr, sink.addr, 17, parked, routes))
			if err != nil {
				return err
			}
			if q > 0 {
				_, err = e.fill(fmt.Sprintf("p5-p3-park-%d", q), c.base+"/parked", q, append(signArgs(), "-chats", "1")...)
			}
			if err == nil {
				var mid float64
				mid, _, _, err = e.drain(fmt.Sprintf("p5-p3-queued-%d", q), c, agent, sink, total, 1)
				if err == nil {
					e.add(fmt.Sprintf("P5.p3.queued.%d", q), fmt.Sprintf("deliveries/s with %dk tasks queued", q/1000), "deliveries/s", mid)
				}
			}
			c.kill()
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ---------------------------------------------------------------- storage

// storageLine returns the `storage` line for an engine; for PostgreSQL, a
// fresh database per name.
func (e *env) storageLine(engine, name string) (string, error) {
	switch engine {
	case "badger":
		return "", nil
	case "postgres":
		dsn, err := e.pgDatabase(name)
		if err != nil {
			return "", err
		}
		return "storage postgres " + strconv.Quote(dsn), nil
	}
	return "", fmt.Errorf("unknown engine %s", engine)
}

// side is one of the two servers a scenario measures against each other.
type side struct{ name, url string }

// maxRun names a side-by-side maximum-throughput measurement and its
// figures; each key and description gets the side's name appended.
type maxRun struct {
	label   string // in notes, e.g. "P1"
	load    string // prefix of the load runs' names, e.g. "p1-max-"
	max     string // key prefix of the rate figures, e.g. "P1.max."
	maxDesc string
	p99     string // key prefix of the p99 figures, e.g. "P1.maxp99."
	p99Desc string
}

// measureMax measures each side's maximum throughput (closed loop, args
// for loadgen) once for repeat r, alternating which side goes first, and
// records its rate and p99. It returns the rates by side's name and the
// order the sides ran in.
func (e *env) measureMax(m maxRun, r int, sides []side, args []string) (map[string]float64, []side, error) {
	order := slices.Clone(sides)
	if r%2 == 1 {
		slices.Reverse(order)
	}
	maxes := map[string]float64{}
	for _, s := range order {
		lg, err := e.load(m.load+s.name, e.wall(), e.maxArgs(s.url, args...)...)
		if err != nil {
			return nil, nil, err
		}
		if lg.OK < lg.Count {
			e.note("%s repeat %d %s: %d of %d answers were errors: %v", m.label, r+1, s.name, lg.Count-lg.OK, lg.Count, lg.Errors)
		}
		maxes[s.name] = lg.OKRate
		e.add(m.max+s.name, m.maxDesc+s.name, "req/s", lg.OKRate)
		e.add(m.p99+s.name, m.p99Desc+s.name, "ms", lg.LatencyMS.P99)
	}
	return maxes, order, nil
}

// drainCPU is CPU seconds of the processes of a drain.
type drainCPU struct{ caddy, agent, sink float64 }

func readDrainCPU(c *caddy, agent, sink *proc) drainCPU {
	cpu := func(pid int) float64 { s, _, _, _ := procTimes(pid); return s }
	return drainCPU{cpu(c.pid()), cpu(agent.pid()), cpu(sink.pid())}
}

func (d drainCPU) minus(o drainCPU) drainCPU {
	return drainCPU{d.caddy - o.caddy, d.agent - o.agent, d.sink - o.sink}
}
