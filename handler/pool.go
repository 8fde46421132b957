package handler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pool is the machinery the task runner and the callback dispatcher
// share: a claim loop that sleeps until there is work, bounded parallel
// jobs, and a shutdown that waits a bounded time and then abandons what is
// still running.
type pool struct {
	active   atomic.Int64
	freed    chan struct{}
	stopping atomic.Bool

	stopLoop context.CancelFunc
	loopDone chan struct{}
	// jobCtx is canceled to abandon jobs in flight at shutdown.
	jobCtx   context.Context
	abandon  context.CancelFunc
	inflight sync.WaitGroup
	once     sync.Once
}

// claimFunc claims up to free jobs and starts them with p.spawn. It
// reports whether it filled every free slot (so more work may be
// waiting), and when something not yet due becomes due.
type claimFunc func(ctx context.Context, free int) (full bool, next time.Time, err error)

// start runs the claim loop in a goroutine.
func (p *pool) start(wake <-chan struct{}, now func() time.Time, size func() int, claim claimFunc, onErr func(err error, failures int)) {
	p.once.Do(func() {
		p.freed = make(chan struct{}, 1)
		p.loopDone = make(chan struct{})
		var loopCtx context.Context
		loopCtx, p.stopLoop = context.WithCancel(context.Background())
		p.jobCtx, p.abandon = context.WithCancel(context.Background())
		go p.loop(loopCtx, wake, now, size, claim, onErr)
	})
}

func (p *pool) loop(ctx context.Context, wake <-chan struct{}, now func() time.Time, size func() int, claim claimFunc, onErr func(error, int)) {
	defer close(p.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	for ctx.Err() == nil {
		var next time.Time
		if free := size() - int(p.active.Load()); free > 0 {
			full, nx, err := claim(ctx, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				// The store is unreachable: back off, up to 5s.
				failures++
				onErr(err, failures)
				next = now().Add(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
			case full:
				failures = 0
				continue
			default:
				failures, next = 0, nx
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-p.freed:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// spawn runs a job in its own goroutine and frees its slot after.
func (p *pool) spawn(job func()) {
	p.active.Add(1)
	p.inflight.Add(1)
	go func() {
		defer func() {
			p.active.Add(-1)
			p.inflight.Done()
			p.poke()
		}()
		job()
	}()
}

// poke wakes the loop, to claim again.
func (p *pool) poke() {
	if p.freed != nil {
		wakeUp(p.freed)
	}
}

// abandoned reports whether a job was cut short by a shutdown, in which
// case its work goes back to the queue without counting an attempt.
func (p *pool) abandoned() bool { return p.stopping.Load() && p.jobCtx.Err() != nil }

// stop stops claiming, waits up to grace for jobs in flight, then
// cancels the rest and waits for them to give their work back.
func (p *pool) stop(grace time.Duration) {
	if p.stopLoop == nil {
		return
	}
	p.stopLoop()
	<-p.loopDone
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		p.stopping.Store(true)
		p.abandon()
		<-done
	}
	p.abandon()
}

func wakeUp(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
