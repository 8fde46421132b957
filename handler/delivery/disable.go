package delivery

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// A callback that keeps failing is disabled: after a 410 Gone, or once it
// has failed for DisableAfter without a success in between. The start of
// the failing streak is stored, so that restarts and other instances
// measure from the same moment.

// succeeded closes the breaker and clears the failing streak. A callback
// the breaker had paused has recovered: that is an operational event.
func (d *Dispatcher) succeeded(cb *Callback, log *zap.Logger) {
	wasFailing, recovered, since := d.breaker.succeeded(cb.ID)
	if recovered {
		log.Info("callback recovered")
		d.emit(OpEvent{Type: EventCallbackRecovered, Agent: cb.Agent, Callback: cb, FailingSince: since, Time: d.Now()}, log)
	}
	if !wasFailing {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	if st, err := d.Registry.State(ctx, cb.ID); err == nil && st != nil && !st.Disabled {
		if err := d.Store.DeleteCallbackState(ctx, cb.ID); err != nil {
			log.Warn("clearing callback state", handler.StoreErrField(err))
		}
		d.Registry.Invalidate()
	}
}

// failingSince returns when the callback's current failing streak began,
// recording it if it begins now.
func (d *Dispatcher) failingSince(ctx context.Context, cb *Callback, now time.Time) time.Time {
	since, loaded := d.breaker.streak(cb.ID)
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
	d.breaker.setStreak(cb.ID, since)
	return since
}

// disable stops deliveries to a callback until someone enables it again.
func (d *Dispatcher) disable(cb *Callback, reason string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	now := d.Now()
	since, _ := d.breaker.streak(cb.ID)
	st := &store.CallbackState{ID: cb.ID, Agent: cb.Agent, FailingSince: since, Disabled: true, DisabledAt: now, Reason: reason, UpdatedAt: now}
	if err := d.Store.SaveCallbackState(ctx, st); err != nil {
		log.Error("disabling callback", handler.StoreErrField(err))
		return
	}
	if cb.Registered() {
		if r, err := d.Store.GetRegistration(ctx, cb.ID); err == nil && r.Status != StatusDisabled {
			r.Status, r.DisabledReason, r.UpdatedAt = StatusDisabled, reason, now
			if err := d.Store.UpdateRegistration(ctx, r); err != nil {
				log.Error("disabling registration", handler.StoreErrField(err))
			}
		}
	}
	d.Registry.Invalidate()
	d.Metrics.CallbackDisabled(cb.Agent)
	log.Warn("callback disabled", zap.String("reason", reason))
	d.emit(OpEvent{Type: EventCallbackDisabled, Agent: cb.Agent, Callback: cb, Reason: reason, FailingSince: since, Time: now}, log)
}
