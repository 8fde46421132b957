package runner

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/agenthook/agenthook/store"
)

// logFinished writes the one line of a finished task: its outcome and
// where its time went. An operator follows the traffic on it at the
// default level; Config.QuietSuccess leaves only the failures there.
func (r *Runner) logFinished(t *store.Task, o outcome, deliveries int, now time.Time, log *zap.Logger) {
	level := zapcore.InfoLevel
	if o.status == store.TaskSuccess && r.config().QuietSuccess {
		level = zapcore.DebugLevel
	}
	ce := log.Check(level, "task finished")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("status", string(o.status)),
		zap.String("endpoint", t.Endpoint),
		zap.Int("deliveries", deliveries),
		zap.Duration("total", now.Sub(t.CreatedAt)),
	}
	if !o.attemptAt.IsZero() {
		// Queued: from the 202 to the last backend call, so it holds the
		// earlier attempts and their backoff when the task was retried.
		fields = append(fields, zap.Duration("queued", max(o.attemptAt.Sub(t.CreatedAt), 0)), zap.Duration("backend", o.backend))
	}
	if o.res != nil {
		fields = append(fields, zap.Int("backend_status", o.res.StatusCode))
	}
	if o.msg != "" {
		fields = append(fields, zap.String("error", o.msg))
	}
	ce.Write(fields...)
}
