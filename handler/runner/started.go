package runner

import (
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// started queues the task.started deliveries of a task about to call its
// backend, when some callback of its agent receives them; otherwise the
// claim costs no write. Every attempt asks, and the store keeps the first
// (the ids derive from the task), so that a task claimed again after a
// crash before its event was queued still tells. A store failure is
// logged and the task runs anyway: the event is worth less than the task.
func (r *Runner) started(t *store.Task, log *zap.Logger) {
	if t.Attempts <= 1 {
		r.Metrics.Event(t.Agent, delivery.EventTaskStarted)
	}
	ctx, cancel := r.storeContext()
	defer cancel()
	ds, err := delivery.StartedOutbox(ctx, r.Callbacks, t, r.Now())
	if err != nil {
		log.Warn("finding the receivers of task.started", handler.StoreErrField(err))
		return
	}
	if len(ds) == 0 {
		return
	}
	if err := r.Store.EnqueueDeliveries(ctx, ds); err != nil {
		log.Warn("queueing task.started", handler.StoreErrField(err))
	}
}
