package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// P1b: Basic auth with the password hash Caddy makes (bcrypt, cost 14:
// about a second of CPU per comparison), which agenthook must not pay on
// every request (P1b-a), and which a flood of wrong passwords must not
// turn against the rest of the server (P1b-b).

const (
	basicUser     = "bench"
	basicPassword = "bench-basic-password"
	bearerToken   = "bench-bearer-token"
	// basicCost is `caddy hash-password`'s default.
	basicCost = 14
	// floodConns is the flood's concurrency: the 32 callers with which
	// an unbounded bcrypt check was measured to stall the whole server.
	floodConns = 32
)

func p1bRoutes(hash string) string {
	return `	agenthook /basic bench {
		auth basic {
			` + basicUser + ` ` + hash + `
		}
	}
	agenthook /bearer bench {
		auth bearer ` + bearerToken + `
	}
`
}

// floodArgs are a bounded flood of wrong passwords for the Basic
// endpoint, a new one with every request, lasting d. Every answer counts
// (401 for a checked wrong password, 503 for one refused unchecked); the
// figure of interest is what the flood does to everyone else.
func (e *env) floodArgs(url string, d time.Duration) []string {
	return []string{"-url", url, "-c", strconv.Itoa(floodConns), "-d", d.String(), "-warmup", "0s",
		"-n", "2000000", "-timeout", "5s", "-ok", "401,503",
		"-body", body, "-H", "Content-Type: application/json",
		"-basic", basicUser + ":wrong-{{seq}}-{{rand}}"}
}

func (e *env) p1bBasic() error {
	e.logf("  hashing the Basic password with bcrypt cost %d", basicCost)
	hash, err := bcrypt.GenerateFromPassword([]byte(basicPassword), basicCost)
	if err != nil {
		return err
	}
	agent, err := e.startProc("p1b-agent", true, e.agentBin)
	if err != nil {
		return err
	}
	defer agent.kill()
	ah, err := e.startCaddy("p1b-agenthook", agenthookCaddyfile("", agentBlock("bench", agent.addr, ""), p1bRoutes(string(hash))))
	if err != nil {
		return err
	}
	defer ah.kill()
	plain, err := e.startCaddy("p1b-plain", plainCaddyfile("\treverse_proxy "+agent.addr+"\n"))
	if err != nil {
		return err
	}
	defer plain.kill()

	common := []string{"-body", body, "-H", "Content-Type: application/json", "-chats", strconv.Itoa(e.conns)}
	basicArgs := append(slices.Clone(common), "-basic", basicUser+":"+basicPassword)
	bearerArgs := append(slices.Clone(common), "-H", "Authorization: Bearer "+bearerToken)
	sides := []side{{"agenthook", ah.base + "/basic"}, {"plain", plain.base + "/basic"}}
	p1bMax := maxRun{label: "P1b-a", load: "p1b-a-", max: "P1B.a.max.", maxDesc: "Basic auth (bcrypt 14, right password) sync max throughput, ", p99: "P1B.a.p99.", p99Desc: "p99 at max throughput, Basic auth, "}
	for r := 0; r < e.repeats; r++ {
		// P1b-a: the right password again and again, against plain
		// reverse_proxy with the same Authorization header.
		maxes, _, err := e.measureMax(p1bMax, r, sides, basicArgs)
		if err != nil {
			return err
		}
		e.add("P1B.a.ratio", "Basic-auth endpoint / plain reverse_proxy throughput", "×", maxes["agenthook"]/maxes["plain"])

		// P1b-b: the bearer endpoint of the same Caddy, alone and during
		// the flood, alternating which goes first.
		rates := map[string]float64{}
		for _, loaded := range []bool{r%2 == 1, r%2 == 0} {
			if !loaded {
				lg, err := e.load("p1b-b-bearer-alone", e.wall(), e.maxArgs(ah.base+"/bearer", bearerArgs...)...)
				if err != nil {
					return err
				}
				rates["alone"] = lg.OKRate
				e.add("P1B.b.alone", "bearer endpoint max throughput, no flood", "req/s", lg.OKRate)
				continue
			}
			lg, flood, err := e.duringFlood(ah.base+"/basic", func() (*LG, error) {
				return e.load("p1b-b-bearer-flooded", e.wall(), e.maxArgs(ah.base+"/bearer", bearerArgs...)...)
			})
			if err != nil {
				return err
			}
			if lg.OK < lg.Count {
				e.note("P1b-b repeat %d: %d of %d bearer answers during the flood were errors: %v", r+1, lg.Count-lg.OK, lg.Count, lg.Errors)
			}
			rates["flooded"] = lg.OKRate
			e.add("P1B.b.flooded", "bearer endpoint max throughput during the flood", "req/s", lg.OKRate)
			e.add("P1B.b.floodp99", "bearer endpoint p99 during the flood", "ms", lg.LatencyMS.P99)
			e.add("P1B.b.flood", fmt.Sprintf("wrong-password flood answered (%d connections)", floodConns), "req/s", flood.Rate)
			e.add("P1B.b.flood401", "flood answers that were 401 (checked)", "req/s", float64(flood.Statuses["401"])/flood.DurationS)
			e.add("P1B.b.flood503", "flood answers that were 503 (no slot free)", "req/s", float64(flood.Statuses["503"])/flood.DurationS)
			if other := flood.Count - int64(flood.Statuses["401"]+flood.Statuses["503"]); other > 0 {
				e.note("P1b-b repeat %d: %d flood answers were neither 401 nor 503: %v", r+1, other, flood.Statuses)
			}
		}
		e.add("P1B.b.ratio", "bearer endpoint during the flood / alone", "×", rates["flooded"]/rates["alone"])
	}
	e.profiled("P1b-bearer-during-flood", ah, func() error {
		_, _, err := e.duringFlood(ah.base+"/basic", func() (*LG, error) {
			return e.load("p1b-profile", e.wall(), e.maxArgs(ah.base+"/bearer", bearerArgs...)...)
		})
		return err
	})
	return nil
}

// duringFlood runs measure while a flood of wrong passwords hits
// basicURL. The flood starts first and outlasts the measurement (it is
// bounded by time and count); the flood's own result comes back too.
func (e *env) duringFlood(basicURL string, measure func() (*LG, error)) (*LG, *LG, error) {
	type res struct {
		lg  *LG
		err error
	}
	floodc := make(chan res, 1)
	// The measured run opens its chats first, then runs e.dur: the flood
	// covers that with a margin on both sides.
	d := e.dur + 5*time.Second
	go func() {
		lg, err := e.load("p1b-flood", d+2*time.Minute, e.floodArgs(basicURL, d)...)
		floodc <- res{lg, err}
	}()
	time.Sleep(time.Second) // let the flood fill every slot first
	lg, err := measure()
	flood := <-floodc
	if err != nil {
		return nil, nil, err
	}
	if flood.err != nil {
		return nil, nil, fmt.Errorf("flood: %w", flood.err)
	}
	return lg, flood.lg, nil
}
