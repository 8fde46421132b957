package runner

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// finish records the final status with its deliveries. The result exists
// only in memory until this succeeds, so store failures are retried for
// as long as the lease lasts.
func (r *Runner) finish(t *store.Task, owner string, agent *handler.Agent, status store.TaskStatus, res *store.Result, msg, conv string, log *zap.Logger) {
	cfg := r.config()
	deadline := t.LeaseUntil
	for attempt := 1; ; attempt++ {
		now := r.Now()
		ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
		deliveries, err := delivery.Outbox(ctx, r.Callbacks, t, status, res, msg, now)
		if err == nil {
			f := store.TaskFinish{
				ID:             t.ID,
				Owner:          owner,
				Status:         status,
				Result:         res,
				Error:          msg,
				ConversationID: conv,
				ExpiresAt:      now.Add(cfg.Retention),
				Deliveries:     deliveries,
			}
			if ttl, perr := time.ParseDuration(t.Meta[handler.MetaChatTTL]); perr == nil && ttl > 0 {
				f.ChatExpiresAt = now.Add(ttl)
			}
			err = r.Store.FinishTask(ctx, f)
		}
		cancel()
		switch {
		case err == nil:
			r.Metrics.TaskFinished(agent.Name, string(status), now.Sub(t.CreatedAt))
			fields := []zap.Field{zap.String("status", string(status)), zap.Int("deliveries", len(deliveries)), zap.Duration("since_accepted", now.Sub(t.CreatedAt))}
			if msg != "" {
				fields = append(fields, zap.String("error", msg))
			}
			if !t.Sensitive && res != nil && log.Core().Enabled(zap.DebugLevel) {
				log.Debug("task result", zap.ByteString("body", res.Body[:min(len(res.Body), 1024)]))
			}
			// Successes are the bulk of the traffic: debug. Failures are
			// what an operator looks for.
			if status == store.TaskSuccess {
				log.Debug("task finished", fields...)
			} else {
				log.Info("task finished", fields...)
			}
			return
		case errors.Is(err, store.ErrLeaseLost):
			log.Warn("task lease lost before finishing; another run owns it now")
			return
		case now.After(deadline):
			log.Error("could not record task result before its lease ran out; it will run again", zap.Error(err))
			return
		}
		log.Warn("recording task result", zap.Error(err), zap.Int("try", attempt))
		time.Sleep(min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second))
	}
}

// retry puts the task back in the queue, to run again at at.
func (r *Runner) retry(t *store.Task, owner string, at time.Time, msg string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	defer cancel()
	if err := r.Store.RetryTask(ctx, t.ID, owner, at, msg); err != nil {
		// The lease will run out and the task will be claimed again.
		log.Warn("requeueing task", zap.Error(err))
	}
}
