package delivery

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// record stores the outcome of an attempt, logs it and counts it.
func (d *Dispatcher) record(dl *store.Delivery, owner string, att store.Attempt, status store.DeliveryStatus, next time.Time, log *zap.Logger) {
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
