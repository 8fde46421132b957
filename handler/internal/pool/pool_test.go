package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// claims records when the loop claimed, on the bubble's clock.
type claims struct {
	mu  sync.Mutex
	at  []time.Duration
	t0  time.Time
	fn  func(n int) (bool, time.Time, error)
	err int
}

func (c *claims) claim(_ context.Context, _ int) (bool, time.Time, error) {
	c.mu.Lock()
	c.at = append(c.at, time.Since(c.t0))
	n := len(c.at)
	c.mu.Unlock()
	return c.fn(n)
}

func (c *claims) times() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.at...)
}

// TestLoopBacksOffWhileClaimsFail: a store that keeps failing is asked
// again after 200ms, 400ms, ... and at most every 5s; a success resets
// the backoff.
func TestLoopBacksOffWhileClaimsFail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := &claims{t0: time.Now()}
		c.fn = func(n int) (bool, time.Time, error) {
			switch {
			case n <= 30 || n == 32:
				return false, time.Time{}, errors.New("store down")
			case n == 31:
				return false, time.Now().Add(time.Minute), nil
			}
			return false, time.Time{}, nil
		}
		var p Pool
		p.Start(Loop{Now: time.Now, Size: func() int { return 1 }, Claim: c.claim, OnError: func(error, int) { c.err++ }})
		time.Sleep(time.Hour)
		p.Stop(time.Second)

		var want []time.Duration
		at := time.Duration(0)
		for failures := 0; failures <= 30; failures++ {
			at += min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)
			want = append(want, at)
		}
		want = append(want, at+time.Minute, at+time.Minute+200*time.Millisecond)
		got := c.times()
		if len(got) != len(want) {
			t.Fatalf("claims at %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("claim %d at %v, want %v", i+1, got[i], want[i])
			}
		}
		if c.err != 31 {
			t.Fatalf("OnError told %d times, want 31", c.err)
		}
	})
}

// TestLoopSleepsUntilNext: a claim that says when work becomes due is
// followed by the next claim exactly then, not before.
func TestLoopSleepsUntilNext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := &claims{t0: time.Now()}
		c.fn = func(n int) (bool, time.Time, error) {
			return false, time.Now().Add(time.Duration(n) * 7 * time.Second), nil
		}
		var p Pool
		p.Start(Loop{Now: time.Now, Size: func() int { return 4 }, Claim: c.claim, OnError: func(error, int) {}})
		time.Sleep(time.Minute)
		p.Stop(time.Second)
		want := time.Duration(0)
		for i, at := range c.times() {
			if at != want {
				t.Fatalf("claim %d at %v, want %v", i+1, at, want)
			}
			want += time.Duration(i+1) * 7 * time.Second
		}
	})
}

// TestLoopWakeAndFreedSlots: a wake-up or a finished job claims again at
// once; a full claim claims again without waiting.
func TestLoopWakeAndFreedSlots(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{}, 1)
		var p Pool
		release := make(chan struct{})
		c := &claims{t0: time.Now()}
		c.fn = func(n int) (bool, time.Time, error) {
			if n == 1 {
				p.Spawn(func() { <-release })
				return true, time.Time{}, nil // full: claim again, with no slot free
			}
			return false, time.Time{}, nil
		}
		p.Start(Loop{Wake: wake, Now: time.Now, Size: func() int { return 1 }, Claim: c.claim, OnError: func(error, int) {}})
		synctest.Wait()
		if n := len(c.times()); n != 1 {
			t.Fatalf("%d claims with the only slot taken, want 1", n)
		}
		time.Sleep(time.Second)
		close(release) // the job ends and frees its slot
		synctest.Wait()
		if n := len(c.times()); n != 2 {
			t.Fatalf("%d claims after a slot was freed, want 2", n)
		}
		time.Sleep(time.Second)
		wake <- struct{}{}
		synctest.Wait()
		at := c.times()
		if len(at) != 3 || at[1] != time.Second || at[2] != 2*time.Second {
			t.Fatalf("claims at %v, want 0s, 1s, 2s", at)
		}
		p.Stop(time.Second)
	})
}

// TestStopAbandonsAfterGrace: jobs get the grace period, then their
// context is canceled and Abandoned reports it.
func TestStopAbandonsAfterGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var p Pool
		p.Start(Loop{Now: time.Now, Size: func() int { return 2 }, OnError: func(error, int) {},
			Claim: func(context.Context, int) (bool, time.Time, error) { return false, time.Time{}, nil }})
		quick, slow := make(chan bool, 1), make(chan bool, 1)
		ctx := p.JobContext()
		p.Spawn(func() {
			time.Sleep(time.Second)
			quick <- p.Abandoned()
		})
		p.Spawn(func() {
			<-ctx.Done()
			slow <- p.Abandoned()
		})
		start := time.Now()
		p.Stop(10 * time.Second)
		if took := time.Since(start); took != 10*time.Second {
			t.Fatalf("Stop took %v, want the grace period", took)
		}
		if <-quick || !<-slow {
			t.Fatal("Abandoned: want false for the job that finished in time, true for the one cut short")
		}
	})
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	var p Pool
	p.Poke() // nothing to wake, and no panic
	p.Stop(time.Second)
}
