package delivery

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// exhausted dead-letters a delivery after an attempt to its receiver, and
// tells whoever subscribed to delivery.exhausted. A delivery of an
// operational event is dead-lettered quietly: telling of it would be one
// more operational event, and a dead receiver of both would never end it.
// A delivery refused without an attempt (its callback disabled, inactive
// or gone) is not told either: callback.disabled said it already, once
// rather than once per delivery.
func (d *Dispatcher) exhausted(cb *Callback, dl *store.Delivery, owner string, att store.Attempt, log *zap.Logger) {
	if !d.record(dl, owner, att, store.DeliveryFailed, time.Time{}, log) || IsOperational(dl.EventType) {
		return
	}
	dead := *dl
	dead.Status, dead.AttemptCount, dead.LastError = store.DeliveryFailed, dl.AttemptCount+1, att.Error
	d.emit(OpEvent{Type: EventDeliveryExhausted, Agent: dl.Agent, Callback: cb, Delivery: &dead, LastStatus: att.StatusCode, Time: d.Now()}, log)
}

// record stores the outcome of an attempt, logs it and counts it. It
// reports whether the outcome was stored.
func (d *Dispatcher) record(dl *store.Delivery, owner string, att store.Attempt, status store.DeliveryStatus, next time.Time, log *zap.Logger) bool {
	cfg := d.config()
	now := d.Now()
	o := store.DeliveryOutcome{ID: dl.ID, Owner: owner, Attempt: att, Status: status, NextAttemptAt: next}
	if status != store.DeliveryPending {
		o.ExpiresAt = now.Add(cfg.Retention)
	}
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	if err := d.Store.RecordAttempt(ctx, o); err != nil {
		// The lease runs out and the delivery is tried again: at least
		// once, and receivers dedupe on webhook-id.
		log.Warn("recording delivery attempt", handler.StoreErrField(err))
		return false
	}
	outcome := "retry"
	switch status {
	case store.DeliveryDelivered:
		outcome = "delivered"
	case store.DeliveryFailed:
		outcome = "failed"
	}
	d.Metrics.DeliveryAttempt(dl.Agent, outcome, att.Latency)
	if ct, ok := d.Metrics.(handler.CallbackTimer); ok && status == store.DeliveryDelivered && dl.TaskID != "" {
		ct.CallbackDelivered(dl.Agent, dl.TaskID)
	}
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
	return true
}
