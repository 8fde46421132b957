package signing

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingBasic is a Basic whose comparisons block until release is
// closed, and report on entered when they start: the test decides when
// slots are held and freed, so nothing depends on timing.
type blockingBasic struct {
	*Basic
	entered          chan string // the password of each comparison that starts
	release          chan struct{}
	running, maxSeen atomic.Int64
	calls            atomic.Int64
}

func newBlockingBasic(t *testing.T, slots *HashSlots, users ...BasicUser) *blockingBasic {
	t.Helper()
	cache, _ := NewPasswordCache(16)
	b, err := NewBasicWithOptions("", users, BasicOptions{Slots: slots, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	bb := &blockingBasic{Basic: b, entered: make(chan string, 64), release: make(chan struct{})}
	b.compare = func(h *passwordHash, pw []byte) bool {
		bb.calls.Add(1)
		n := bb.running.Add(1)
		defer bb.running.Add(-1)
		for {
			m := bb.maxSeen.Load()
			if n <= m || bb.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		bb.entered <- string(pw)
		<-bb.release
		return h.matches(pw)
	}
	return bb
}

// TestBasicBusyWhenSlotsTaken fills every slot with a blocked comparison
// and checks that one more check, of a known or an unknown user, fails
// with ErrBusy without comparing anything, and that the bound held.
func TestBasicBusyWhenSlotsTaken(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d slots", n), func(t *testing.T) {
			// The wait is short but its length does not matter: the slots
			// stay taken until the test releases them.
			slots, err := NewHashSlots(n, time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			users := []BasicUser{{"ann", mustHash(t, "right")}}
			b := newBlockingBasic(t, slots, users...)

			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				// Distinct wrong passwords: no two share a flight.
				wg.Go(func() { errs[i] = verifyBasic(b.Basic, fmt.Sprintf("ann:wrong-%d", i)) })
			}
			for range n {
				<-b.entered
			}

			for _, cred := range []string{"ann:right", "ann:another", "eve:whatever"} {
				err := verifyBasic(b.Basic, cred)
				if !errors.Is(err, ErrBusy) {
					t.Fatalf("%s with every slot taken: %v, want ErrBusy", cred, err)
				}
				assertNoLeak(t, err, "right", "another", "whatever")
			}
			if got := b.calls.Load(); got != int64(n) {
				t.Fatalf("%d comparisons started, want %d (busy checks must not compare)", got, n)
			}

			close(b.release)
			wg.Wait()
			for i, err := range errs {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("blocked check %d: %v, want ErrInvalid", i, err)
				}
			}
			if m := b.maxSeen.Load(); m != int64(n) {
				t.Fatalf("%d comparisons ran at once, bound %d", m, n)
			}
			// Slots free again: the same checks now complete.
			if err := verifyBasic(b.Basic, "ann:right"); err != nil {
				t.Fatal(err)
			}
			if err := verifyBasic(b.Basic, "eve:whatever"); !errors.Is(err, ErrInvalid) {
				t.Fatalf("unknown user: %v", err)
			}
			if slots.Size() != n || len(slots.sem) != 0 {
				t.Fatalf("slots: size %d, %d still taken", slots.Size(), len(slots.sem))
			}
		})
	}
}

// TestBasicCacheHitNeedsNoSlot: a cached success is answered while every
// slot is taken, so clients with the right password keep working during a
// flood of wrong ones.
func TestBasicCacheHitNeedsNoSlot(t *testing.T) {
	slots, _ := NewHashSlots(1, time.Millisecond)
	b := newBlockingBasic(t, slots, BasicUser{"ann", mustHash(t, "right")})
	done := make(chan error)
	go func() { done <- verifyBasic(b.Basic, "ann:right") }()
	<-b.entered
	close(b.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	b.release = make(chan struct{})
	go func() { done <- verifyBasic(b.Basic, "ann:wrong") }()
	<-b.entered // the only slot is now held
	if err := verifyBasic(b.Basic, "ann:right"); err != nil {
		t.Fatalf("cached credentials with every slot taken: %v", err)
	}
	close(b.release)
	if err := <-done; !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

// TestBasicWaitsForASlot: with a long wait, a check queued behind a
// running comparison gets the slot when it is freed instead of failing.
func TestBasicWaitsForASlot(t *testing.T) {
	slots, _ := NewHashSlots(1, time.Hour)
	b := newBlockingBasic(t, slots, BasicUser{"ann", mustHash(t, "right")})
	first, second := make(chan error), make(chan error)
	go func() { first <- verifyBasic(b.Basic, "ann:wrong") }()
	<-b.entered
	go func() { second <- verifyBasic(b.Basic, "ann:right") }()
	close(b.release)
	if err := <-first; !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the waiting check: %v", err)
	}
}

func TestHashSlotsDefaults(t *testing.T) {
	if _, err := NewHashSlots(0, 0); err == nil {
		t.Error("0 slots accepted")
	}
	if _, err := NewHashSlots(1, -time.Second); err == nil {
		t.Error("a negative wait accepted")
	}
	s, _ := NewHashSlots(2, 0)
	if s.wait != DefaultHashWait || s.Size() != 2 {
		t.Errorf("wait %s, size %d", s.wait, s.Size())
	}
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 16: 8} {
		runtime.GOMAXPROCS(procs)
		if got := DefaultHashConcurrency(); got != want {
			t.Errorf("GOMAXPROCS %d: %d slots, want %d", procs, got, want)
		}
	}
	if a, b := SharedHashSlots(), SharedHashSlots(); a != b || a.Size() < 1 {
		t.Error("the shared slots are not one value")
	}
	b, err := NewBasic("", []BasicUser{{"ann", goldenBcrypt}})
	if err != nil {
		t.Fatal(err)
	}
	if b.slots != SharedHashSlots() || b.cache != SharedPasswordCache() {
		t.Error("NewBasic does not use the shared slots and cache")
	}
}
