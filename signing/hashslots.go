package signing

import (
	"errors"
	"runtime"
	"sync"
	"time"
)

// DefaultHashWait is how long a password check waits for a free slot by
// default before giving up with ErrBusy.
const DefaultHashWait = 100 * time.Millisecond

// HashSlots bounds how many password-hash comparisons run at once.
//
// A bcrypt hash at `caddy hash-password`'s cost 14 takes about a second of
// CPU to check. Unbounded, a few dozen callers (with the right password,
// before it is cached, or a flood of wrong ones) occupy every core, and
// every other site on the same Caddy starves. With slots, at most n cores
// hash; a check that finds no free slot within the wait fails with
// ErrBusy (the endpoint answers 503 with Retry-After) rather than queueing
// more CPU work behind the rest.
//
// A HashSlots is safe for concurrent use. Several Basic verifiers may,
// and by default do, share one.
type HashSlots struct {
	sem  chan struct{}
	wait time.Duration
}

// NewHashSlots returns slots for n concurrent comparisons (n ≥ 1) that a
// check waits for at most wait (0 means DefaultHashWait).
func NewHashSlots(n int, wait time.Duration) (*HashSlots, error) {
	if n < 1 {
		return nil, errors.New("hash slots: at least one concurrent comparison is required")
	}
	if wait < 0 {
		return nil, errors.New("hash slots: the wait must not be negative")
	}
	if wait == 0 {
		wait = DefaultHashWait
	}
	return &HashSlots{sem: make(chan struct{}, n), wait: wait}, nil
}

// DefaultHashConcurrency is the number of concurrent comparisons of the
// shared slots: half the cores Go may use (at least one), so that the
// other half keeps serving everything else.
func DefaultHashConcurrency() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// SharedHashSlots returns the process-wide slots every Basic verifier uses
// unless it is given its own: DefaultHashConcurrency comparisons, waited
// for DefaultHashWait. They are made on first use and shared across config
// reloads, so that the old and the new config together still hash on no
// more cores than one would.
func SharedHashSlots() *HashSlots { return sharedHashSlots() }

var sharedHashSlots = sync.OnceValue(func() *HashSlots {
	s, _ := NewHashSlots(DefaultHashConcurrency(), DefaultHashWait)
	return s
})

// Size returns the number of concurrent comparisons.
func (s *HashSlots) Size() int { return cap(s.sem) }

// acquire takes a slot, waiting at most the configured wait, and returns
// the function that gives it back. ok is false if no slot came free.
func (s *HashSlots) acquire() (release func(), ok bool) {
	select {
	case s.sem <- struct{}{}:
		return s.release, true
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return s.release, true
	case <-t.C:
		return nil, false
	}
}

func (s *HashSlots) release() { <-s.sem }
