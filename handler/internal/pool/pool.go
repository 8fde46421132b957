// Package pool is the machinery the task runner and the callback
// dispatcher share: a claim loop that sleeps until there is work, bounded
// parallel jobs, and a shutdown that waits a bounded time and then
// abandons what is still running.
package pool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ClaimFunc claims up to free jobs and starts them with Pool.Spawn. It
// reports whether it filled every free slot (so more work may be
// waiting), and when something not yet due becomes due.
type ClaimFunc func(ctx context.Context, free int) (full bool, next time.Time, err error)

// Loop is what a claim loop needs.
type Loop struct {
	// Wake receives a value when new work may have become claimable.
	Wake <-chan struct{}
	Now  func() time.Time
	// Size is how many jobs may run at once; it is read before every
	// claim, so a reload takes effect at once.
	Size  func() int
	Claim ClaimFunc
	// OnError is told of a failed claim and how many failed in a row.
	OnError func(err error, failures int)
}

// Pool runs a claim loop and its jobs. The zero value is ready to use.
type Pool struct {
	active   atomic.Int64
	freed    chan struct{}
	ready    atomic.Bool
	stopping atomic.Bool

	initOnce  sync.Once
	startOnce sync.Once
	stopLoop  context.CancelFunc
	loopDone  chan struct{}
	// jobCtx is canceled to abandon jobs in flight at shutdown.
	jobCtx   context.Context
	abandon  context.CancelFunc
	inflight sync.WaitGroup
}

func (p *Pool) init() {
	p.initOnce.Do(func() {
		p.freed = make(chan struct{}, 1)
		p.jobCtx, p.abandon = context.WithCancel(context.Background())
		p.ready.Store(true)
	})
}

// Start runs the claim loop in a goroutine. Later calls do nothing.
func (p *Pool) Start(l Loop) {
	p.init()
	p.startOnce.Do(func() {
		p.loopDone = make(chan struct{})
		var loopCtx context.Context
		loopCtx, p.stopLoop = context.WithCancel(context.Background())
		go p.loop(loopCtx, l)
	})
}

func (p *Pool) loop(ctx context.Context, l Loop) {
	defer close(p.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	for ctx.Err() == nil {
		var next time.Time
		if free := l.Size() - int(p.active.Load()); free > 0 {
			full, nx, err := l.Claim(ctx, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				// The store is unreachable: back off, up to 5s.
				failures++
				l.OnError(err, failures)
				next = l.Now().Add(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
			case full:
				failures = 0
				continue
			default:
				failures, next = 0, nx
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(l.Now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-l.Wake:
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

// Spawn runs a job in its own goroutine and frees its slot after.
func (p *Pool) Spawn(job func()) {
	p.init()
	p.active.Add(1)
	p.inflight.Add(1)
	go func() {
		defer func() {
			p.active.Add(-1)
			p.inflight.Done()
			p.Poke()
		}()
		job()
	}()
}

// Poke wakes the loop, to claim again.
func (p *Pool) Poke() {
	if p.ready.Load() {
		select {
		case p.freed <- struct{}{}:
		default:
		}
	}
}

// JobContext is the context of jobs: it is canceled when a shutdown
// abandons them.
func (p *Pool) JobContext() context.Context {
	p.init()
	return p.jobCtx
}

// Abandoned reports whether a job was cut short by a shutdown, in which
// case its work goes back to the queue without counting an attempt.
func (p *Pool) Abandoned() bool { return p.stopping.Load() && p.jobCtx.Err() != nil }

// Wait waits for the jobs in flight.
func (p *Pool) Wait() { p.inflight.Wait() }

// Stop stops claiming, waits up to grace for jobs in flight, then
// cancels the rest and waits for them to give their work back.
func (p *Pool) Stop(grace time.Duration) {
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
