package delivery

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// breaker is what this instance knows of each callback's health: the
// attempts in flight, the circuit breaker, and the start of the current
// failing streak as last read from or written to the store.
type breaker struct {
	mu     sync.Mutex
	health map[string]*health
}

type health struct {
	inflight int
	// own is the callback's own concurrency setting, 0 to follow the
	// config's default, which may change at a reload.
	own       int
	failures  int       // in a row
	openUntil time.Time // breaker open until then
	probing   bool      // half open: one attempt decides
	// paused is set when the breaker opens and cleared by a success, which
	// then is a recovery worth telling (callback.recovered).
	paused bool

	// rate is the callback's own pace in attempts per second (0: none);
	// nextSlot is when the next attempt may start, moved on by each
	// attempt under a pace, and by a receiver's 429.
	rate     float64
	nextSlot time.Time

	loaded       bool // failingSince was read from the store
	failingSince time.Time
}

// get returns a callback's entry, creating it; b.mu must be held.
func (b *breaker) get(id string) *health {
	if b.health == nil {
		b.health = make(map[string]*health)
	}
	h := b.health[id]
	if h == nil {
		h = new(health)
		b.health[id] = h
	}
	return h
}

// limitOr is the callback's own concurrency, or the default.
func (h *health) limitOr(def int) int {
	if h.own > 0 {
		return h.own
	}
	return def
}

// full reports whether the callback may not take another attempt now.
func (h *health) full(now time.Time, defaultLimit int) bool {
	return now.Before(h.openUntil) || now.Before(h.nextSlot) || (h.probing && h.inflight > 0) || h.inflight >= h.limitOr(defaultLimit)
}

// skipList names the callbacks that must not get more attempts now, and
// when the first paused one may be tried again.
func (b *breaker) skipList(now time.Time, defaultLimit int) (skip []string, reopen time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, h := range b.health {
		if now.Before(h.openUntil) && (reopen.IsZero() || h.openUntil.Before(reopen)) {
			reopen = h.openUntil
		}
		if now.Before(h.nextSlot) && (reopen.IsZero() || h.nextSlot.Before(reopen)) {
			reopen = h.nextSlot
		}
		if h.full(now, defaultLimit) {
			skip = append(skip, id)
		}
	}
	return skip, reopen
}

// reserve takes a slot for an attempt to a callback, or reports that the
// callback has none free (another claim filled it).
func (b *breaker) reserve(id string, now time.Time, defaultLimit int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	if h.full(now, defaultLimit) {
		return false
	}
	if !h.openUntil.IsZero() {
		// The cooldown is over: this attempt probes the receiver.
		h.probing, h.openUntil = true, time.Time{}
	}
	if h.rate > 0 {
		// The pace: one attempt per interval, with no burst saved up
		// while the callback was idle.
		h.nextSlot = now.Add(time.Duration(float64(time.Second) / h.rate))
	}
	h.inflight++
	return true
}

// heldUntil is when a callback that reserve refused may take an attempt
// again by the passage of time alone (a cooldown or a pace), or zero.
func (b *breaker) heldUntil(id string, now time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	at := h.openUntil
	if h.nextSlot.After(at) {
		at = h.nextSlot
	}
	if !at.After(now) {
		return time.Time{}
	}
	return at
}

func (b *breaker) unreserve(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.health[id]; h != nil {
		h.inflight--
	}
}

// setLimit records the callback's own concurrency and pace.
func (b *breaker) setLimit(id string, own int, rate float64) {
	b.mu.Lock()
	h := b.get(id)
	h.own, h.rate = own, rate
	b.mu.Unlock()
}

// slowDown holds the callback's attempts back until at least until: the
// receiver answered 429. It is not a failure: the breaker and the failing
// streak are left alone.
func (b *breaker) slowDown(id string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	if until.After(h.nextSlot) {
		h.nextSlot = until
	}
	// A half-open probe that got a 429 proved nothing either way: the next
	// attempt probes again, once the receiver's wait is over.
}

// failed counts a failure, and opens the breaker after too many in a row
// or when a probe fails.
func (b *breaker) failed(id string, now time.Time, cfg Config, log *zap.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	h.failures++
	if h.probing || h.failures >= cfg.BreakerThreshold {
		if h.openUntil.IsZero() || h.probing {
			log.Info("callback paused by the circuit breaker", zap.String("callback", id), zap.Int("failures", h.failures), zap.Duration("cooldown", cfg.BreakerCooldown))
		}
		h.openUntil, h.probing, h.paused = now.Add(cfg.BreakerCooldown), false, true
	}
}

// succeeded closes the breaker and ends the failing streak. It reports
// whether the store may still hold a streak to clear, and, if the
// breaker had paused the callback, since when it had been failing (then
// recovered is true).
func (b *breaker) succeeded(id string) (wasFailing, recovered bool, since time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	wasFailing = !h.failingSince.IsZero() || !h.loaded
	recovered, since = h.paused, h.failingSince
	h.failures, h.openUntil, h.probing, h.paused = 0, time.Time{}, false, false
	h.failingSince, h.loaded = time.Time{}, true
	return wasFailing, recovered, since
}

// streak returns the start of the failing streak this instance knows,
// and whether it was read from the store yet.
func (b *breaker) streak(id string) (since time.Time, loaded bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.get(id)
	return h.failingSince, h.loaded
}

// setStreak records the start of the failing streak.
func (b *breaker) setStreak(id string, since time.Time) {
	b.mu.Lock()
	h := b.get(id)
	h.loaded, h.failingSince = true, since
	b.mu.Unlock()
}

// reset forgets a callback's health, but not its attempts in flight.
func (b *breaker) reset(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.health[id]; h != nil {
		*h = health{inflight: h.inflight, own: h.own, rate: h.rate, nextSlot: h.nextSlot}
	}
}

// BreakerState is what this instance's circuit breaker says of a
// callback, for the API: closed (attempts go), open (paused until
// OpenUntil) or half_open (paused no more; the next attempt decides).
type BreakerState struct {
	State     string     `json:"state"`
	Failures  int        `json:"failures"`
	OpenUntil *time.Time `json:"open_until,omitempty"`
	InFlight  int        `json:"in_flight"`
}

// Breaker reports a callback's breaker on this instance.
func (d *Dispatcher) Breaker(id string) BreakerState {
	b := &d.breaker
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.health[id]
	if h == nil {
		return BreakerState{State: "closed"}
	}
	s := BreakerState{State: "closed", Failures: h.failures, InFlight: h.inflight}
	switch now := d.Now(); {
	case now.Before(h.openUntil):
		at := h.openUntil.UTC()
		s.State, s.OpenUntil = "open", &at
	case h.probing || (h.paused && !h.openUntil.IsZero()):
		s.State = "half_open"
	}
	return s
}
