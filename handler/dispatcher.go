package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/agenthook/agenthook/store"
)

// DispatcherConfig tunes callback deliveries. It may change at a reload.
type DispatcherConfig struct {
	// Client sends the deliveries. It must not follow redirects, and its
	// dialer should refuse private addresses (see caddymodule).
	Client *http.Client
	// Workers bounds the attempts in flight on this instance.
	Workers int
	// Concurrency bounds the attempts in flight to one callback, unless
	// the callback sets its own.
	Concurrency int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Schedule is the wait before each retry; the first attempt is
	// immediate. Each wait gets ±20% jitter.
	Schedule []time.Duration
	// DisableAfter disables a callback that has failed, without a
	// success in between, for this long.
	DisableAfter time.Duration
	// BreakerThreshold failures in a row pause a callback for
	// BreakerCooldown; then one attempt probes it.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Retention is how long a delivered or dead-lettered delivery is kept.
	Retention time.Duration
}

// Dispatcher defaults.
const (
	DefaultDeliveryWorkers  = 256
	DefaultConcurrency      = 16
	DefaultDeliveryTimeout  = 15 * time.Second
	DefaultDisableAfter     = 5 * 24 * time.Hour
	DefaultBreakerThreshold = 10
	DefaultBreakerCooldown  = 30 * time.Second
	// maxRetryAfter clamps a receiver's Retry-After.
	maxRetryAfter = 12 * time.Hour
	// snippetSize is how much of an answer an attempt keeps.
	snippetSize = 256
)

// DefaultSchedule is the retry schedule after the first, immediate
// attempt: 5s, 5m, 30m, 2h, 5h, 10h, 10h.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// WithDefaults fills zero fields.
func (c DispatcherConfig) WithDefaults() DispatcherConfig {
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.Workers <= 0 {
		c.Workers = DefaultDeliveryWorkers
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultDeliveryTimeout
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	if c.BreakerThreshold <= 0 {
		c.BreakerThreshold = DefaultBreakerThreshold
	}
	if c.BreakerCooldown <= 0 {
		c.BreakerCooldown = DefaultBreakerCooldown
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	return c
}

// Dispatcher sends finished tasks' results to callbacks: signed, retried
// on a schedule, paused by a circuit breaker when a receiver keeps
// failing, and dead-lettered when the schedule runs out.
type Dispatcher struct {
	Store    store.Store
	Registry *Registry
	Logger   *zap.Logger
	Metrics  Metrics
	Now      func() time.Time
	ID       string

	cfg    atomic.Pointer[DispatcherConfig]
	agents atomic.Pointer[map[string]*Agent]
	claims atomic.Uint64
	pool

	mu     sync.Mutex
	health map[string]*health
}

// health is what one instance knows of a callback.
type health struct {
	inflight int
	// own is the callback's own concurrency setting, 0 to follow the
	// config's default, which may change at a reload.
	own       int
	failures  int       // in a row
	openUntil time.Time // breaker open until then
	probing   bool      // half open: one attempt decides

	loaded       bool // failingSince was read from the store
	failingSince time.Time
}

// Configure sets the config and agents; it is called before Start and at
// every reload.
func (d *Dispatcher) Configure(cfg DispatcherConfig, agents map[string]*Agent) {
	cfg = cfg.WithDefaults()
	d.cfg.Store(&cfg)
	d.agents.Store(&agents)
	d.poke()
}

func (d *Dispatcher) config() DispatcherConfig { return *d.cfg.Load() }

// Start begins delivering. It returns at once.
func (d *Dispatcher) Start() {
	d.mu.Lock()
	if d.health == nil {
		d.health = make(map[string]*health)
	}
	d.mu.Unlock()
	d.start(d.Store.DeliveryWake(), d.Now, func() int { return d.config().Workers }, d.claim, func(err error, failures int) {
		d.Logger.Warn("claiming deliveries", zap.Error(err), zap.Int("failures", failures))
	})
}

// Stop stops claiming, waits up to grace for attempts in flight, then
// abandons the rest, which go back to the queue.
func (d *Dispatcher) Stop(grace time.Duration) { d.stop(grace) }

// ResetHealth forgets what this instance knows of a callback, after it
// was enabled again or changed through the API.
func (d *Dispatcher) ResetHealth(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.health[id]; h != nil {
		*h = health{inflight: h.inflight, own: h.own}
	}
}

// skipList names the callbacks that must not get more attempts now, and
// when the first paused one may be tried again.
func (d *Dispatcher) skipList(now time.Time, cfgConcurrency int) (skip []string, reopen time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, h := range d.health {
		if now.Before(h.openUntil) && (reopen.IsZero() || h.openUntil.Before(reopen)) {
			reopen = h.openUntil
		}
		switch {
		case now.Before(h.openUntil):
		case h.probing && h.inflight > 0:
		case h.inflight >= h.limitOr(cfgConcurrency):
		default:
			continue
		}
		skip = append(skip, id)
	}
	return skip, reopen
}

// reserve takes a slot for an attempt to a callback, or reports that the
// callback has none free (another claim filled it).
func (d *Dispatcher) reserve(id string, now time.Time, defaultLimit int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.health[id]
	if h == nil {
		h = new(health)
		d.health[id] = h
	}
	if now.Before(h.openUntil) || (h.probing && h.inflight > 0) || h.inflight >= h.limitOr(defaultLimit) {
		return false
	}
	if !h.openUntil.IsZero() {
		// The cooldown is over: this attempt probes the receiver.
		h.probing, h.openUntil = true, time.Time{}
	}
	h.inflight++
	return true
}

// limitOr is the callback's own concurrency, or the default.
func (h *health) limitOr(def int) int {
	if h.own > 0 {
		return h.own
	}
	return def
}

func (d *Dispatcher) unreserve(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h := d.health[id]; h != nil {
		h.inflight--
	}
}

func (d *Dispatcher) claim(ctx context.Context, free int) (bool, time.Time, error) {
	cfg := d.config()
	now := d.Now()
	owner := fmt.Sprintf("%s/d%d", d.ID, d.claims.Add(1))
	skip, reopen := d.skipList(now, cfg.Concurrency)
	ds, next, err := d.Store.ClaimDeliveries(ctx, store.DeliveryClaim{
		Owner: owner,
		Limit: free,
		// An attempt lasts at most Timeout; the margin covers recording
		// it. After a crash, another instance resends after this long.
		Lease:       cfg.Timeout + 10*time.Second,
		Skip:        skip,
		PerCallback: cfg.Concurrency,
	})
	if err != nil {
		return false, time.Time{}, err
	}
	if !reopen.IsZero() && (next.IsZero() || reopen.Before(next)) {
		// Come back when a paused callback may be probed.
		next = reopen
	}
	for _, dl := range ds {
		if !d.reserve(dl.CallbackID, now, cfg.Concurrency) {
			if err := d.Store.ReleaseDelivery(ctx, dl.ID, owner); err != nil {
				d.Logger.Warn("releasing delivery", zap.String("delivery_id", dl.ID), zap.Error(err))
			}
			continue
		}
		d.spawn(func() {
			defer d.unreserve(dl.CallbackID)
			d.deliver(dl, owner)
		})
	}
	return len(ds) == free, next, nil
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(dl *store.Delivery, owner string) {
	cfg := d.config()
	log := d.Logger.With(zap.String("delivery_id", dl.ID), zap.String("task_id", dl.TaskID),
		zap.String("agent", dl.Agent), zap.String("callback", dl.CallbackID))
	agent := (*d.agents.Load())[dl.Agent]
	ctx, cancel := context.WithTimeout(d.jobCtx, cfg.Timeout)
	defer cancel()
	cb, err := d.Registry.Lookup(ctx, agent, dl.CallbackID)
	switch {
	case errors.Is(err, ErrCallbackGone):
		d.record(dl, owner, store.Attempt{At: d.Now(), Error: err.Error()}, store.DeliveryFailed, time.Time{}, log)
		return
	case err != nil:
		// The store, not the receiver, failed: no attempt is counted.
		// The delivery goes back and is claimed again once the store
		// answers (the claim loop backs off while it does not).
		log.Warn("looking up the callback", zap.Error(err))
		rctx, rcancel := context.WithTimeout(context.Background(), storeTimeout)
		defer rcancel()
		_ = d.Store.ReleaseDelivery(rctx, dl.ID, owner)
		return
	case !cb.Usable():
		msg := "the callback is " + cb.Status()
		if cb.disabledWhy != "" {
			msg += ": " + cb.disabledWhy
		}
		d.record(dl, owner, store.Attempt{At: d.Now(), Error: msg}, store.DeliveryFailed, time.Time{}, log)
		return
	}
	d.mu.Lock()
	d.health[cb.ID].own = cb.Concurrency
	d.mu.Unlock()

	att, resp := d.send(ctx, cfg.Client, cb, dl)
	if d.abandoned() {
		rctx, rcancel := context.WithTimeout(context.Background(), storeTimeout)
		defer rcancel()
		_ = d.Store.ReleaseDelivery(rctx, dl.ID, owner)
		return
	}
	now := d.Now()
	if att.StatusCode >= 200 && att.StatusCode < 300 {
		d.succeeded(cb, log)
		d.record(dl, owner, att, store.DeliveryDelivered, time.Time{}, log)
		return
	}
	d.failed(cb, now, cfg)
	if att.StatusCode == http.StatusGone {
		d.disable(cb, "the receiver answered 410 Gone", log)
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	// The attempt's context may have run out (a timeout); the bookkeeping
	// needs its own.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer scancel()
	if since := d.failingSince(sctx, cb, now); now.Sub(since) >= cfg.DisableAfter {
		d.disable(cb, fmt.Sprintf("failing since %s", since.UTC().Format(time.RFC3339)), log)
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	n := attemptsInRound(dl) + 1
	if n > len(cfg.Schedule) {
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	next := now.Add(jitter(cfg.Schedule[n-1]))
	if ra, ok := retryAfter(resp, now); ok && now.Add(ra).After(next) {
		next = now.Add(ra)
	}
	d.record(dl, owner, att, store.DeliveryPending, next, log)
}

// send makes the HTTP request of one attempt.
func (d *Dispatcher) send(ctx context.Context, client *http.Client, cb *Callback, dl *store.Delivery) (store.Attempt, *http.Response) {
	now := d.Now()
	att := store.Attempt{At: now}
	req, err := http.NewRequestWithContext(ctx, cb.Method, cb.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		att.Error = "building the request: " + attemptError(err)
		return att, nil
	}
	h := req.Header
	for k, vs := range cb.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "agenthook")
	h.Set("X-Agenthook-Event", dl.EventType)
	h.Set("X-Agenthook-Attempt", strconv.Itoa(dl.AttemptCount+1))
	// webhook-id lets receivers drop duplicates: it is the same on every
	// attempt. The timestamp is the attempt's own.
	h.Set("Webhook-Id", dl.ID)
	h.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	if cb.Signer != nil {
		for k, vs := range cb.Signer.Sign(dl.ID, now, dl.Payload) {
			h[k] = vs
		}
	}
	if cb.HMAC != nil {
		name, value := cb.HMAC.Sign(dl.Payload)
		h.Set(name, value)
	}
	if cb.BasicUser != "" {
		req.SetBasicAuth(cb.BasicUser, cb.BasicPassword)
	}
	start := time.Now()
	resp, err := client.Do(req)
	att.Latency = time.Since(start)
	if err != nil {
		att.Error = attemptError(err)
		return att, nil
	}
	defer resp.Body.Close()
	att.StatusCode = resp.StatusCode
	snippet := make([]byte, snippetSize)
	n, _ := io.ReadFull(resp.Body, snippet)
	att.Response = strings.ToValidUTF8(string(snippet[:n]), "?")
	// Drain a little so the connection can be reused; a receiver that
	// answers at length is cut off.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	att.Latency = time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		att.Error = fmt.Sprintf("the receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			att.Error += " (redirects are not followed)"
		}
	}
	return att, resp
}

// attemptError describes a failed request without its URL, which may
// hold a receiver's token.
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the receiver did not answer in time"
	}
	return err.Error()
}

// record stores the outcome of an attempt, logs it and counts it.
func (d *Dispatcher) record(dl *store.Delivery, owner string, att store.Attempt, status store.DeliveryStatus, next time.Time, log *zap.Logger) {
	cfg := d.config()
	now := d.Now()
	o := store.DeliveryOutcome{ID: dl.ID, Owner: owner, Attempt: att, Status: status, NextAttemptAt: next}
	if status != store.DeliveryPending {
		o.ExpiresAt = now.Add(cfg.Retention)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.Store.RecordAttempt(ctx, o); err != nil {
		// The lease runs out and the delivery is tried again: at least
		// once, and receivers dedupe on webhook-id.
		log.Warn("recording delivery attempt", zap.Error(err))
		return
	}
	outcome := "retry"
	switch status {
	case store.DeliveryDelivered:
		outcome = "delivered"
	case store.DeliveryFailed:
		outcome = "failed"
	}
	d.Metrics.DeliveryAttempt(dl.Agent, outcome, att.Latency)
	switch status {
	case store.DeliveryDelivered:
		log.Debug("delivered", zap.Int("status", att.StatusCode), zap.Duration("latency", att.Latency))
	case store.DeliveryPending:
		log.Info("delivery attempt failed, will retry", zap.Int("status", att.StatusCode), zap.String("error", att.Error), zap.Time("next_attempt", next))
	case store.DeliveryFailed:
		// The dead letter carries its whole history, for whoever has to
		// find out what went wrong.
		attempts := append(append([]store.Attempt(nil), dl.Attempts...), att)
		log.Warn("delivery dead-lettered", zap.String("error", att.Error), zap.Int("attempts", len(attempts)), zap.Array("history", attemptLog(attempts)))
	}
}

// attemptsInRound counts the attempts since the delivery was last
// requeued by hand, so a replay starts the schedule over.
func attemptsInRound(dl *store.Delivery) int {
	if dl.RequeuedAt.IsZero() {
		return dl.AttemptCount
	}
	n := 0
	for _, a := range dl.Attempts {
		if !a.At.Before(dl.RequeuedAt) {
			n++
		}
	}
	return n
}

// retryAfter reads a Retry-After header (seconds or a date), clamped to
// at least a second and at most maxRetryAfter.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), maxRetryAfter), true
}

// succeeded closes the breaker and clears the failing streak.
func (d *Dispatcher) succeeded(cb *Callback, log *zap.Logger) {
	d.mu.Lock()
	h := d.health[cb.ID]
	wasFailing := !h.failingSince.IsZero() || !h.loaded
	h.failures, h.openUntil, h.probing = 0, time.Time{}, false
	h.failingSince, h.loaded = time.Time{}, true
	d.mu.Unlock()
	if wasFailing {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if st, err := d.Registry.State(ctx, cb.ID); err == nil && st != nil && !st.Disabled {
			if err := d.Store.DeleteCallbackState(ctx, cb.ID); err != nil {
				log.Warn("clearing callback state", zap.Error(err))
			}
			d.Registry.Invalidate()
		}
	}
}

// failed counts a failure, and opens the breaker after too many in a row
// or when a probe fails.
func (d *Dispatcher) failed(cb *Callback, now time.Time, cfg DispatcherConfig) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.health[cb.ID]
	h.failures++
	if h.probing || h.failures >= cfg.BreakerThreshold {
		if h.openUntil.IsZero() || h.probing {
			d.Logger.Info("callback paused by the circuit breaker", zap.String("callback", cb.ID), zap.Int("failures", h.failures), zap.Duration("cooldown", cfg.BreakerCooldown))
		}
		h.openUntil, h.probing = now.Add(cfg.BreakerCooldown), false
	}
}

// failingSince returns when the callback's current failing streak began,
// recording it if it begins now.
func (d *Dispatcher) failingSince(ctx context.Context, cb *Callback, now time.Time) time.Time {
	d.mu.Lock()
	h := d.health[cb.ID]
	loaded, since := h.loaded, h.failingSince
	d.mu.Unlock()
	if !loaded {
		if st, err := d.Registry.State(ctx, cb.ID); err == nil && st != nil {
			since = st.FailingSince
		}
	}
	if since.IsZero() {
		since = now
		st := &store.CallbackState{ID: cb.ID, Agent: cb.Agent, FailingSince: now, UpdatedAt: now}
		if err := d.Store.SaveCallbackState(ctx, st); err == nil {
			d.Registry.Invalidate()
		}
	}
	d.mu.Lock()
	h.loaded, h.failingSince = true, since
	d.mu.Unlock()
	return since
}

// disable stops deliveries to a callback until someone enables it again.
func (d *Dispatcher) disable(cb *Callback, reason string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	now := d.Now()
	d.mu.Lock()
	since := d.health[cb.ID].failingSince
	d.mu.Unlock()
	st := &store.CallbackState{ID: cb.ID, Agent: cb.Agent, FailingSince: since, Disabled: true, DisabledAt: now, Reason: reason, UpdatedAt: now}
	if err := d.Store.SaveCallbackState(ctx, st); err != nil {
		log.Error("disabling callback", zap.Error(err))
		return
	}
	if cb.Registered() {
		if r, err := d.Store.GetRegistration(ctx, cb.ID); err == nil && r.Status != StatusDisabled {
			r.Status, r.DisabledReason, r.UpdatedAt = StatusDisabled, reason, now
			if err := d.Store.UpdateRegistration(ctx, r); err != nil {
				log.Error("disabling registration", zap.Error(err))
			}
		}
	}
	d.Registry.Invalidate()
	d.Metrics.CallbackDisabled(cb.Agent)
	log.Warn("callback disabled", zap.String("reason", reason))
}

// attemptLog renders attempts for a log line: time, status, latency,
// error and the first bytes of the answer.
type attemptLog []store.Attempt

func (a attemptLog) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, at := range a {
		if err := enc.AppendObject(attemptObject(at)); err != nil {
			return err
		}
	}
	return nil
}

type attemptObject store.Attempt

func (a attemptObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddTime("at", a.At)
	enc.AddInt("status", a.StatusCode)
	enc.AddDuration("latency", a.Latency)
	if a.Error != "" {
		enc.AddString("error", a.Error)
	}
	if a.Response != "" {
		enc.AddString("response", a.Response)
	}
	return nil
}
