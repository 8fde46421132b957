package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/internal/pool"
	"github.com/agenthook/agenthook/store"
)

// dispatcherStore is what the dispatcher reads and writes.
type dispatcherStore interface {
	DeliveryWake() <-chan struct{}
	ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]*store.Delivery, time.Time, error)
	ReleaseDelivery(ctx context.Context, id, owner string) error
	RecordAttempt(ctx context.Context, o store.DeliveryOutcome) error
	SaveCallbackState(ctx context.Context, s *store.CallbackState) error
	DeleteCallbackState(ctx context.Context, id string) error
	GetRegistration(ctx context.Context, id string) (*store.Registration, error)
	UpdateRegistration(ctx context.Context, r *store.Registration) error
	InstallationID(ctx context.Context) (string, error)
	// GetTask reads a task's trace context, while tracing is on.
	GetTask(ctx context.Context, id string) (*store.Task, error)
}

// Dispatcher sends finished tasks' results to callbacks: signed, retried
// on a schedule, paused by a circuit breaker when a receiver keeps
// failing, and dead-lettered when the schedule runs out.
type Dispatcher struct {
	Store    dispatcherStore
	Registry *Registry
	Logger   *zap.Logger
	Metrics  handler.Metrics
	Now      func() time.Time
	// ID names this instance in leases.
	ID string

	cfg     atomic.Pointer[Config]
	claims  atomic.Uint64
	jobs    pool.Pool
	breaker breaker
	agents  agentSlots
	// originID caches the installation id (see origin).
	originID atomic.Pointer[string]
	traces   traces
}

// Configure sets the config; it is called before Start and at every
// reload.
func (d *Dispatcher) Configure(cfg Config) {
	cfg = cfg.WithDefaults()
	d.cfg.Store(&cfg)
	d.jobs.Poke()
}

func (d *Dispatcher) config() Config { return *d.cfg.Load() }

// Start begins delivering. It returns at once.
func (d *Dispatcher) Start() {
	d.jobs.Start(pool.Loop{
		Wake:  d.Store.DeliveryWake(),
		Now:   d.Now,
		Size:  func() int { return d.config().Workers },
		Claim: d.claim,
		OnError: func(err error, failures int) {
			d.Logger.Warn("claiming deliveries", handler.StoreErrField(err), zap.Int("failures", failures))
		},
	})
}

// Stop stops claiming, waits up to grace for attempts in flight, then
// abandons the rest, which go back to the queue.
func (d *Dispatcher) Stop(grace time.Duration) { d.jobs.Stop(grace) }

// ResetHealth forgets what this instance knows of a callback, after it
// was enabled again or changed through the API.
func (d *Dispatcher) ResetHealth(id string) { d.breaker.reset(id) }

func (d *Dispatcher) claim(ctx context.Context, free int) (bool, time.Time, error) {
	cfg := d.config()
	now := d.Now()
	owner := fmt.Sprintf("%s/d%d", d.ID, d.claims.Add(1))
	skip, reopen := d.breaker.skipList(now, cfg.Concurrency)
	share := cfg.agentShare()
	perAgent := share
	if share >= cfg.Workers {
		perAgent = 0 // one agent may take every worker: nothing to cap
	}
	ds, next, err := d.Store.ClaimDeliveries(ctx, store.DeliveryClaim{
		Owner: owner,
		Limit: free,
		// An attempt lasts at most Timeout; the margin covers recording
		// it. After a crash, another instance resends after this long.
		Lease:       cfg.Timeout + leaseMargin,
		Skip:        skip,
		PerCallback: cfg.Concurrency,
		SkipAgents:  d.agents.full(share),
		PerAgent:    perAgent,
	})
	if err != nil {
		return false, time.Time{}, err
	}
	if !reopen.IsZero() && (next.IsZero() || reopen.Before(next)) {
		// Come back when a paused callback may be probed.
		next = reopen
	}
	for _, dl := range ds {
		// The agent's share first: a claim may return more of an agent
		// than it has slots left.
		if !d.agents.reserve(dl.Agent, share) {
			d.giveBack(ctx, dl, owner)
			continue
		}
		if !d.breaker.reserve(dl.CallbackID, now, cfg.Concurrency) {
			d.agents.unreserve(dl.Agent)
			d.giveBack(ctx, dl, owner)
			continue
		}
		d.jobs.Spawn(func() {
			defer d.agents.unreserve(dl.Agent)
			defer d.breaker.unreserve(dl.CallbackID)
			d.deliver(dl, owner)
		})
	}
	return len(ds) == free, next, nil
}

// giveBack releases a claimed delivery this instance has no slot for.
func (d *Dispatcher) giveBack(ctx context.Context, dl *store.Delivery, owner string) {
	if err := d.Store.ReleaseDelivery(ctx, dl.ID, owner); err != nil {
		d.Logger.Warn("releasing delivery", zap.String("delivery_id", dl.ID), handler.StoreErrField(err))
	}
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(dl *store.Delivery, owner string) {
	cfg := d.config()
	log := d.Logger.With(zap.String("delivery_id", dl.ID), zap.String("task_id", dl.TaskID),
		zap.String("agent", dl.Agent), zap.String("callback", dl.CallbackID))
	ctx, cancel := context.WithTimeout(d.jobs.JobContext(), cfg.Timeout)
	defer cancel()
	cb, err := d.Registry.Lookup(ctx, dl.Agent, dl.CallbackID)
	switch {
	case errors.Is(err, ErrCallbackGone):
		d.record(dl, owner, store.Attempt{At: d.Now(), Error: err.Error()}, store.DeliveryFailed, time.Time{}, log)
		return
	case err != nil:
		// The store, not the receiver, failed: no attempt is counted.
		// The delivery goes back and is claimed again once the store
		// answers (the claim loop backs off while it does not).
		log.Warn("looking up the callback", handler.StoreErrField(err))
		d.release(dl, owner)
		return
	case !cb.Usable():
		msg := "the callback is " + cb.Status()
		if cb.disabledWhy != "" {
			msg += ": " + cb.disabledWhy
		}
		d.record(dl, owner, store.Attempt{At: d.Now(), Error: msg}, store.DeliveryFailed, time.Time{}, log)
		return
	}
	d.breaker.setLimit(cb.ID, cb.Concurrency)
	origin, err := d.origin(ctx)
	if err != nil {
		log.Warn("reading the installation id", zap.Error(err))
		d.release(dl, owner)
		return
	}

	actx, span := d.startDelivery(ctx, dl)
	att, resp := d.send(actx, cfg.Client, cb, dl, origin)
	endDelivery(span, att)
	if d.jobs.Abandoned() {
		d.release(dl, owner)
		return
	}
	now := d.Now()
	if att.StatusCode >= 200 && att.StatusCode < 300 {
		d.succeeded(cb, log)
		d.record(dl, owner, att, store.DeliveryDelivered, time.Time{}, log)
		return
	}
	d.breaker.failed(cb.ID, now, cfg, d.Logger)
	if att.StatusCode == http.StatusGone {
		d.disable(cb, "the receiver answered 410 Gone", log)
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	// The attempt's context may have run out (a timeout); the bookkeeping
	// needs its own.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), handler.StoreTimeout)
	defer scancel()
	if since := d.failingSince(sctx, cb, now); now.Sub(since) >= cfg.DisableAfter {
		d.disable(cb, fmt.Sprintf("failing since %s", since.UTC().Format(time.RFC3339)), log)
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	next, ok := nextAttempt(cfg.Schedule, dl, resp, now)
	if !ok {
		d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log)
		return
	}
	d.record(dl, owner, att, store.DeliveryPending, next, log)
}

// release gives a claimed delivery back without an attempt.
func (d *Dispatcher) release(dl *store.Delivery, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	_ = d.Store.ReleaseDelivery(ctx, dl.ID, owner)
}
