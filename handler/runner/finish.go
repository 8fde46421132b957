package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// outcome is what a run came to, as finish records it.
type outcome struct {
	status store.TaskStatus
	res    *store.Result
	msg    string
	conv   string
	// tooLarge marks the outcome that replaced one too large to store.
	tooLarge bool
	// attemptAt and backend are when the last backend call began and
	// how long it took, for the task's log line.
	attemptAt time.Time
	backend   time.Duration
}

// withoutResult is the outcome that replaces o when its result, or a
// callback payload made from it, is too large to store: a FAILURE with
// the backend's status but not its body, delivered as task.failed. The
// task is final, so it never runs again; running it again would get the
// same answer, and a record no engine can store.
func (o outcome) withoutResult() outcome {
	n := outcome{status: store.TaskFailure, conv: o.conv, tooLarge: true, attemptAt: o.attemptAt, backend: o.backend}
	size := 0
	if o.res != nil {
		n.res = &store.Result{StatusCode: o.res.StatusCode}
		size = len(o.res.Body)
	}
	n.msg = fmt.Sprintf("%s: the agent backend's answer (%d bytes) is too large to store with its callback payloads", handler.CodeResultTooLarge, size)
	return n
}

// finish records the final status with its deliveries. The result exists
// only in memory until this succeeds, so store failures are retried for
// as long as the lease lasts, or until a shutdown abandons the task: then
// it is left to its lease, and runs again.
func (r *Runner) finish(t *store.Task, owner string, agent *handler.Agent, o outcome, log *zap.Logger) {
	deadline := t.LeaseUntil
	for attempt := 1; ; attempt++ {
		now := r.Now()
		n, err := r.record(t, owner, o, now)
		if errors.Is(err, store.ErrTooLarge) && !o.tooLarge {
			log.Warn("task result too large to store; the task fails with "+handler.CodeResultTooLarge, zap.Int("result_bytes", resultBytes(o.res)))
			o = o.withoutResult()
			attempt = 0
			continue
		}
		switch {
		case err == nil:
			r.finished(t, agent, o, n, now, log)
			return
		case errors.Is(err, store.ErrLeaseLost):
			log.Warn("task lease lost before finishing; another run owns it now")
			return
		case errors.Is(err, store.ErrTooLarge):
			// Not even the failure fits: nothing left to try.
			log.Error("could not record the task's failure; it will run again after its lease", handler.StoreErrField(err))
			return
		case r.jobs.Abandoned():
			log.Warn("could not record task result before shutdown; it will run again after its lease", handler.StoreErrField(err))
			return
		case now.After(deadline):
			log.Error("could not record task result before its lease ran out; it will run again", handler.StoreErrField(err))
			return
		}
		log.Warn("recording task result", handler.StoreErrField(err), zap.Int("try", attempt))
		wait := time.NewTimer(min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second))
		select {
		case <-wait.C:
		case <-r.jobs.JobContext().Done():
			wait.Stop()
		}
	}
}

// record builds the deliveries and writes the final status with them,
// after checking that every record fits: a result or a payload over
// store.MaxRecordBytes is refused here with store.ErrTooLarge, as every
// engine would refuse it, before anything is sent to the store.
func (r *Runner) record(t *store.Task, owner string, o outcome, now time.Time) (int, error) {
	ctx, cancel := r.storeContext()
	defer cancel()
	deliveries, err := delivery.Outbox(ctx, r.Callbacks, t, o.status, o.res, o.msg, now)
	if err != nil {
		return 0, err
	}
	f := store.TaskFinish{
		ID:             t.ID,
		Owner:          owner,
		Status:         o.status,
		Result:         o.res,
		Error:          o.msg,
		ConversationID: o.conv,
		ExpiresAt:      now.Add(r.config().Retention),
		Deliveries:     deliveries,
	}
	if ttl, perr := time.ParseDuration(t.Meta[handler.MetaChatTTL]); perr == nil && ttl > 0 {
		f.ChatExpiresAt = now.Add(ttl)
	}
	if err := checkSizes(t, &f); err != nil {
		return 0, err
	}
	return len(deliveries), r.Store.FinishTask(ctx, f)
}

// checkSizes weighs the finished task and each delivery as the engines
// do.
func checkSizes(t *store.Task, f *store.TaskFinish) error {
	if err := store.CheckSize("the finished task", f.RecordBytes(t)); err != nil {
		return err
	}
	for _, d := range f.Deliveries {
		if err := store.CheckSize("a delivery", d.RecordBytes()); err != nil {
			return err
		}
	}
	return nil
}

// finished counts and logs a recorded outcome.
func (r *Runner) finished(t *store.Task, agent *handler.Agent, o outcome, deliveries int, now time.Time, log *zap.Logger) {
	r.Metrics.TaskFinished(agent.Name, string(o.status), now.Sub(t.CreatedAt))
	if ct, ok := r.Metrics.(handler.CallbackTimer); ok && deliveries > 0 {
		ct.TaskAwaitsCallback(agent.Name, t.ID, t.CreatedAt)
	}
	if o.status == store.TaskSuccess {
		r.Metrics.Event(agent.Name, delivery.EventTaskSucceeded)
	} else {
		r.Metrics.Event(agent.Name, delivery.EventTaskFailed)
	}
	if !t.Sensitive && o.res != nil && log.Core().Enabled(zap.DebugLevel) {
		log.Debug("task result", zap.ByteString("body", o.res.Body[:min(len(o.res.Body), 1024)]))
	}
	r.logFinished(t, o, deliveries, now, log)
}

func resultBytes(r *store.Result) int {
	if r == nil {
		return 0
	}
	return len(r.Body)
}

// retry puts the task back in the queue, to run again at at.
func (r *Runner) retry(t *store.Task, owner string, at time.Time, msg string, log *zap.Logger) {
	ctx, cancel := r.storeContext()
	defer cancel()
	if err := r.Store.RetryTask(ctx, t.ID, owner, at, msg); err != nil {
		// The lease will run out and the task will be claimed again.
		log.Warn("requeueing task", handler.StoreErrField(err))
	}
}

// storeContext bounds one store call of a job: by handler.StoreTimeout,
// and, once a shutdown abandons the job, by shutdownStoreTimeout more, so
// that a store that does not answer cannot hold the shutdown up; what
// was not recorded is left to its lease.
func (r *Runner) storeContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), handler.StoreTimeout)
	stop := context.AfterFunc(r.jobs.JobContext(), func() {
		time.AfterFunc(shutdownStoreTimeout, cancel)
	})
	return ctx, func() {
		stop()
		cancel()
	}
}
