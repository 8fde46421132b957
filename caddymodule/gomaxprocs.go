package caddymodule

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

// badgerProcsPerCPU and badgerProcsMax set the GOMAXPROCS the Badger
// engine asks for by default: four Go processors per CPU, at most 16.
//
// Why: Badger compacts its LSM tree in the background with up to a dozen
// CPU-bound goroutines at once (two compactors, each splitting a compaction
// into up to five ranges, plus the goroutines that write the new tables).
// Go's scheduler has no priorities: with GOMAXPROCS at 2 on a 2-core
// machine, a request goroutine woken by the network waits behind them in
// the run queues, for one 10 ms time slice after another, and 202s and
// callbacks took up to 430 ms during each compaction (p99 194-310 ms over
// 30 s at 1,700 tasks/s, three runs). With more processors, goroutines get
// threads of their own, and the kernel's scheduler, which runs a thread
// waking from I/O ahead of one that has used its share, keeps the request
// path moving: p99 25-42 ms with 8 processors in the same runs; 16 read
// 18, 35 and once 210 ms, when a compaction's threads outnumbered the
// request path's and took the CPU it needed (see BENCHMARKS.md, P3).
// Machines with 16 CPUs or more are left as they are.
const (
	badgerProcsPerCPU = 4
	badgerProcsMax    = 16
)

// gomaxprocsOff is the JSON value of `gomaxprocs off`, and gomaxprocsMax
// the largest number the option takes, in the Caddyfile and in JSON.
const (
	gomaxprocsOff = -1
	gomaxprocsMax = 1024
)

// badgerProcs decides the GOMAXPROCS the Badger engine sets when it opens
// its store, and why: setting is the config's (0 auto, gomaxprocsOff, or a
// number), current the process's GOMAXPROCS, numCPU the machine's CPUs and
// envSet whether the GOMAXPROCS environment variable is set. It returns
// current when nothing is to change.
func badgerProcs(setting, current, numCPU int, envSet bool) (int, string) {
	switch {
	case setting == gomaxprocsOff:
		return current, "gomaxprocs off"
	case setting > 0:
		return setting, "configured"
	case envSet:
		return current, "GOMAXPROCS is set in the environment"
	case current < numCPU:
		// Caddy lowered it to a container's CPU quota: threads beyond a
		// quota are throttled together, which adds latency instead of
		// removing it.
		return current, "a CPU quota applies"
	}
	want := min(badgerProcsPerCPU*numCPU, badgerProcsMax)
	if current >= want {
		return current, "enough processors"
	}
	return want, "badger compactions would otherwise delay requests"
}

// applyBadgerProcs sets GOMAXPROCS as badgerProcs decides, and logs it.
// It runs when the store opens (a config starts), never when a config is
// only validated. GOMAXPROCS is the process's: it stays as set until Caddy
// exits or another config sets it.
func applyBadgerProcs(setting int, logger *zap.Logger) {
	_, envSet := os.LookupEnv("GOMAXPROCS")
	current := goruntime.GOMAXPROCS(0)
	to, why := badgerProcs(setting, current, goruntime.NumCPU(), envSet)
	if to == current {
		logger.Debug("gomaxprocs left as it is", zap.Int("gomaxprocs", current), zap.String("reason", why))
		return
	}
	goruntime.GOMAXPROCS(to)
	logger.Info("set gomaxprocs for the badger store",
		zap.Int("from", current), zap.Int("to", to), zap.Int("cpus", goruntime.NumCPU()), zap.String("reason", why))
}

// parseGomaxprocs reads `gomaxprocs auto|off|<n>`.
func parseGomaxprocs(d *caddyfile.Dispenser) (int, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	switch v {
	case "auto":
		return 0, nil
	case "off":
		return gomaxprocsOff, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > gomaxprocsMax {
		return 0, d.Err(fmt.Sprintf("gomaxprocs: want auto, off or a number from 1 to %d, not %q", gomaxprocsMax, v))
	}
	return n, nil
}
