package delivery

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
)

// TestBreakerCooldown walks a callback through the breaker on the
// bubble's clock: closed, open after threshold failures, one probe once
// the cooldown is over, open again when it fails, closed when it passes.
func TestBreakerCooldown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const id, limit = "cb", 5
		cfg := Config{BreakerThreshold: 3, BreakerCooldown: 30 * time.Second}
		var b breaker
		paused := func() bool {
			skip, _ := b.skipList(time.Now(), limit)
			return slices.Contains(skip, id)
		}
		attempt := func(ok bool) {
			t.Helper()
			if !b.reserve(id, time.Now(), limit) {
				t.Fatalf("no slot for an attempt at %v", time.Now())
			}
			if ok {
				b.succeeded(id)
			} else {
				b.failed(id, time.Now(), cfg, zap.NewNop())
			}
			b.unreserve(id)
		}

		for i := range cfg.BreakerThreshold {
			if paused() {
				t.Fatalf("paused after %d failures", i)
			}
			attempt(false)
		}
		opened := time.Now()
		skip, reopen := b.skipList(opened, limit)
		if !slices.Contains(skip, id) || !reopen.Equal(opened.Add(cfg.BreakerCooldown)) {
			t.Fatalf("skip %v, reopen %v; want paused until %v", skip, reopen, opened.Add(cfg.BreakerCooldown))
		}
		time.Sleep(cfg.BreakerCooldown - time.Second)
		if !paused() || b.reserve(id, time.Now(), limit) {
			t.Fatal("a slot before the cooldown ended")
		}

		// The cooldown is over: one probe at a time.
		time.Sleep(time.Second)
		if paused() {
			t.Fatal("still paused after the cooldown")
		}
		if !b.reserve(id, time.Now(), limit) {
			t.Fatal("no slot for the probe")
		}
		if b.reserve(id, time.Now(), limit) || !paused() {
			t.Fatal("a second attempt during the probe")
		}
		b.failed(id, time.Now(), cfg, zap.NewNop())
		b.unreserve(id)
		if _, reopen := b.skipList(time.Now(), limit); !reopen.Equal(time.Now().Add(cfg.BreakerCooldown)) {
			t.Fatalf("a failed probe reopens until %v, want a full cooldown from now", reopen)
		}

		time.Sleep(cfg.BreakerCooldown)
		attempt(true)
		if skip, reopen := b.skipList(time.Now(), limit); len(skip) != 0 || !reopen.IsZero() {
			t.Fatalf("after a passing probe: skip %v, reopen %v", skip, reopen)
		}
		// Closed again: it takes threshold failures to open it.
		attempt(false)
		if paused() {
			t.Fatal("one failure after a success paused it")
		}
	})
}

func TestBreakerConcurrency(t *testing.T) {
	t.Parallel()
	var b breaker
	now := time.Now()
	for range 2 {
		if !b.reserve("cb", now, 2) {
			t.Fatal("no slot under the limit")
		}
	}
	if b.reserve("cb", now, 2) {
		t.Fatal("a slot over the default limit")
	}
	b.setLimit("cb", 3, 0) // the callback's own setting wins
	if !b.reserve("cb", now, 2) || b.reserve("cb", now, 2) {
		t.Fatal("the callback's own limit of 3 is not applied")
	}
	b.unreserve("cb")
	b.reset("cb") // keeps the attempts in flight and the own limit
	if !b.reserve("cb", now, 2) || b.reserve("cb", now, 2) {
		t.Fatal("reset lost the attempts in flight or the limit")
	}
}
