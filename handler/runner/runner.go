package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// RunnerConfig tunes the task runner. It may change at a config reload;
// the runner reads it afresh for every claim and every task.
type RunnerConfig struct {
	Workers int
	// Attempts is how many times a task's backend call is tried when it
	// fails with a connection error, a timeout, 408, 429 or 5xx.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further one (with ±20% jitter), up to five minutes.
	Backoff time.Duration
	// Timeout bounds one backend call.
	Timeout time.Duration
	// Lease is how long a claimed task stays ours; another instance may
	// run it after that. It must exceed Timeout.
	Lease time.Duration
	// MaxResult bounds the backend answer kept as a task's result.
	MaxResult int64
	// Retention is how long a finished task, and its result, is kept.
	Retention time.Duration
}

// Runner defaults.
const (
	DefaultWorkers   = 16
	DefaultAttempts  = 3
	DefaultBackoff   = time.Second
	DefaultTimeout   = 2 * time.Minute
	DefaultMaxResult = 4 << 20
	DefaultRetention = 7 * 24 * time.Hour
	maxBackoff       = 5 * time.Minute
)

// WithDefaults fills zero fields.
func (c RunnerConfig) WithDefaults() RunnerConfig {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Lease <= c.Timeout {
		c.Lease = c.Timeout + 30*time.Second
	}
	if c.MaxResult <= 0 {
		c.MaxResult = DefaultMaxResult
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	return c
}

// Runner runs queued tasks against their agents' backends. One runner
// serves one store; it outlives config reloads, which swap its agents and
// config under it.
type Runner struct {
	Store     store.Store
	Callbacks Callbacks
	Logger    *zap.Logger
	Metrics   Metrics
	Now       func() time.Time
	// ID names this instance in leases.
	ID string

	cfg    atomic.Pointer[RunnerConfig]
	agents atomic.Pointer[map[string]*Agent]
	claims atomic.Uint64
	pool
}

// Configure sets the config and agents; it is called before Start and at
// every reload.
func (r *Runner) Configure(cfg RunnerConfig, agents map[string]*Agent) {
	cfg = cfg.WithDefaults()
	r.cfg.Store(&cfg)
	r.agents.Store(&agents)
	r.poke()
}

func (r *Runner) config() RunnerConfig { return *r.cfg.Load() }

func (r *Runner) agentNames() []string {
	m := *r.agents.Load()
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	return names
}

// Start begins claiming tasks. It returns at once.
func (r *Runner) Start() {
	r.start(r.Store.TaskWake(), r.Now, func() int { return r.config().Workers }, r.claim, func(err error, failures int) {
		r.Logger.Warn("claiming tasks", zap.Error(err), zap.Int("failures", failures))
	})
}

// Stop stops claiming, waits up to grace for the calls in flight, then
// abandons the rest: their tasks go back to the queue, to run again.
func (r *Runner) Stop(grace time.Duration) { r.stop(grace) }

func (r *Runner) claim(ctx context.Context, free int) (bool, time.Time, error) {
	cfg := r.config()
	owner := fmt.Sprintf("%s/%d", r.ID, r.claims.Add(1))
	tasks, next, err := r.Store.ClaimTasks(ctx, store.Claim{Owner: owner, Agents: r.agentNames(), Limit: free, Lease: cfg.Lease})
	if err != nil {
		return false, time.Time{}, err
	}
	for _, t := range tasks {
		r.spawn(func() { r.run(t, owner) })
	}
	return len(tasks) == free, next, nil
}

// run makes one attempt at a task and records what came of it.
func (r *Runner) run(t *store.Task, owner string) {
	cfg := r.config()
	log := r.Logger.With(zap.String("task_id", t.ID), zap.String("chat_id", t.ChatID), zap.String("agent", t.Agent), zap.Int("attempt", t.Attempts))
	agent := (*r.agents.Load())[t.Agent]
	if agent == nil {
		// The config changed under the task; leave it to an instance (or
		// a later config) that has the agent.
		r.retry(t, owner, r.Now().Add(time.Minute), fmt.Sprintf("agent %q is not configured on this instance", t.Agent), log)
		return
	}
	conv := ""
	if chat, err := r.Store.GetChat(r.jobCtx, t.ChatID); err == nil {
		conv = chat.ConversationID
	}
	ctx, cancel := context.WithTimeout(r.jobCtx, cfg.Timeout)
	req, err := backendRequest(ctx, t, agent, conv)
	if err != nil {
		cancel()
		r.finish(t, owner, agent, store.TaskFailure, nil, "the stored request could not be rebuilt: "+err.Error(), "", log)
		return
	}
	rec := newRecorder(cfg.MaxResult)
	start := time.Now()
	err = agent.Backend.Forward(rec, req)
	ctxErr := ctx.Err()
	cancel()
	r.Metrics.BackendLatency(agent.Name, string(ModeAsync), time.Since(start))
	if r.abandoned() {
		// Abandoned by a shutdown: not the task's fault, so not an attempt.
		rctx, rcancel := context.WithTimeout(context.Background(), storeTimeout)
		defer rcancel()
		if err := r.Store.ReleaseTask(rctx, t.ID, owner); err != nil {
			log.Warn("releasing task at shutdown", zap.Error(err))
		}
		return
	}

	var res *store.Result
	retryable, msg := false, ""
	switch {
	case err != nil || rec.status == 0:
		retryable = true
		msg = "the agent backend could not be reached"
		if errors.Is(ctxErr, context.DeadlineExceeded) || isTimeout(err) {
			msg = fmt.Sprintf("the agent backend did not answer within %s", cfg.Timeout)
		}
	case rec.overflow:
		msg = fmt.Sprintf("the agent backend's answer is larger than %d bytes", cfg.MaxResult)
		res = rec.result()
		res.Body = nil
	default:
		res = rec.result()
		if rec.status >= 400 {
			msg = fmt.Sprintf("the agent backend answered %d %s", rec.status, http.StatusText(rec.status))
		}
		retryable = rec.status >= 500 || rec.status == http.StatusTooManyRequests || rec.status == http.StatusRequestTimeout
	}
	if retryable && t.Attempts < cfg.Attempts {
		r.Metrics.TaskRetried(agent.Name)
		log.Info("task attempt failed, will retry", zap.String("error", msg), zap.NamedError("cause", err))
		r.retry(t, owner, r.Now().Add(backoff(cfg.Backoff, t.Attempts)), msg, log)
		return
	}
	status := store.TaskSuccess
	if msg != "" {
		status = store.TaskFailure
		if t.Attempts > 1 {
			msg = fmt.Sprintf("%s (after %d attempts)", msg, t.Attempts)
		}
	}
	convOut := ""
	if agent.ConversationHeader != "" && rec.header != nil {
		convOut = rec.header.Get(agent.ConversationHeader)
	}
	r.finish(t, owner, agent, status, res, msg, convOut, log)
}

// finish records the final status with its deliveries. The result exists
// only in memory until this succeeds, so store failures are retried for
// as long as the lease lasts.
func (r *Runner) finish(t *store.Task, owner string, agent *Agent, status store.TaskStatus, res *store.Result, msg, conv string, log *zap.Logger) {
	cfg := r.config()
	deadline := t.LeaseUntil
	for attempt := 1; ; attempt++ {
		now := r.Now()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		deliveries, err := outboxFor(ctx, r.Callbacks, agent, t, status, res, msg, now)
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
			if ttl, perr := time.ParseDuration(t.Meta[metaChatTTL]); perr == nil && ttl > 0 {
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

func (r *Runner) retry(t *store.Task, owner string, at time.Time, msg string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := r.Store.RetryTask(ctx, t.ID, owner, at, msg); err != nil {
		// The lease will run out and the task will be claimed again.
		log.Warn("requeueing task", zap.Error(err))
	}
}

// backoff is base·2^(attempt-1) with ±20% jitter, at most maxBackoff.
// The cap applies before the jitter (to 5/6 of maxBackoff), so capped
// retries stay spread out.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return jitter(min(d, maxBackoff*5/6))
}

// jitter spreads d by ±20%, so retries of many tasks do not arrive at
// once.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func isTimeout(err error) bool {
	var be *BackendError
	if errors.As(err, &be) && be.Status == http.StatusGatewayTimeout {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// backendRequest rebuilds the caller's request for a worker.
func backendRequest(ctx context.Context, t *store.Task, agent *Agent, conv string) (*http.Request, error) {
	host := t.Request.Host
	if host == "" {
		host = "localhost"
	}
	u := &url.URL{Scheme: "http", Host: host, Path: t.Request.Path, RawQuery: t.Request.RawQuery}
	req, err := http.NewRequestWithContext(ctx, t.Request.Method, u.String(), bytes.NewReader(t.Request.Body))
	if err != nil {
		return nil, err
	}
	req.Header = t.Request.Header.Clone()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Host = host
	req.RequestURI = u.RequestURI()
	req.RemoteAddr = t.Request.RemoteAddr
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}
	// The task id is a natural idempotency key: a backend can recognise a
	// re-run after a crash or a lost lease.
	req.Header.Set("Idempotency-Key", t.ID)
	req.Header.Set("X-Agenthook-Task-Id", t.ID)
	if agent.ConversationHeader != "" {
		req.Header.Del(agent.ConversationHeader)
		if conv != "" {
			req.Header.Set(agent.ConversationHeader, conv)
		}
	}
	return req, nil
}

// recorder keeps a backend's answer, up to a limit.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func newRecorder(limit int64) *recorder { return &recorder{header: make(http.Header), limit: limit} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && (status < 100 || status >= 200) {
		w.status = status
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := w.limit - int64(w.body.Len()); int64(len(b)) > room {
		w.overflow = true
		w.body.Write(b[:max(room, 0)])
		return len(b), nil // keep reading, so the connection can be reused
	}
	return w.body.Write(b)
}

// Flush lets streamed answers be collected like any other.
func (w *recorder) Flush() {}

func (w *recorder) result() *store.Result {
	return &store.Result{StatusCode: w.status, ContentType: w.header.Get("Content-Type"), Body: bytes.Clone(w.body.Bytes())}
}
