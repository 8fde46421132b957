package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// run makes one attempt at a task and records what came of it.
func (r *Runner) run(t *store.Task, owner string) {
	cfg := r.config()
	log := r.Logger.With(zap.String("task_id", t.ID), zap.String("chat_id", t.ChatID), zap.String("agent", t.Agent), zap.Int("attempt", t.Attempts))
	agent := (*r.agents.Load())[t.Agent]
	if agent == nil {
		// The config changed under the task; leave it to an instance (or
		// a later config) that has the agent.
		r.retry(t, owner, r.Now().Add(unknownAgentDelay), fmt.Sprintf("agent %q is not configured on this instance", t.Agent), log)
		return
	}
	r.started(t, log)
	conv := ""
	chat := shape.Chat{ID: t.ChatID}
	cctx, ccancel := r.storeContext()
	if c, err := r.Store.GetChat(cctx, t.ChatID); err == nil {
		conv = c.ConversationID
		// A chat is saved again when a turn ends: one never saved since
		// its creation has had none.
		chat.ConversationID, chat.New = conv, c.UpdatedAt.Equal(c.CreatedAt)
	}
	ccancel()
	sh := cfg.Shapes.For(t.Agent, t.Endpoint)
	ctx, cancel := context.WithTimeout(r.jobs.JobContext(), cfg.Timeout)
	ctx, span := startAttempt(ctx, t)
	req, err := backendRequest(ctx, t, agent, conv)
	if err != nil {
		endAttempt(span, 0, err)
		cancel()
		r.finish(t, owner, agent, outcome{status: store.TaskFailure, msg: "the stored request could not be rebuilt: " + err.Error()}, log)
		return
	}
	var hist []history.Turn
	if sh.Keeps() && sh.Request != nil {
		hctx, hcancel := r.storeContext()
		turns, herr := r.Store.History(hctx, historyKey(t))
		hcancel()
		if herr != nil && !errors.Is(herr, store.ErrNotFound) {
			// The store is failing: try again later, as for a backend
			// that cannot be reached.
			endAttempt(span, 0, herr)
			cancel()
			r.retry(t, owner, r.Now().Add(backoff(cfg.Backoff, t.Attempts)), "the chat history could not be read", log)
			return
		}
		hist = turns
	}
	if sh != nil {
		if err := shapeRequest(ctx, req, t, sh, chat, hist); err != nil {
			endAttempt(span, 0, err)
			cancel()
			log.Warn("expression failed", zap.String("error", err.Error()))
			r.finish(t, owner, agent, outcome{status: store.TaskFailure, msg: err.Error()}, log)
			return
		}
	}
	tracing.Inject(ctx, req.Header)
	rec := newRecorder(cfg.MaxResult)
	start, began := time.Now(), r.Now()
	err = agent.Backend.Forward(rec, req)
	ctxErr := ctx.Err()
	cancel()
	took := time.Since(start)
	endAttempt(span, rec.status, err)
	r.Metrics.BackendLatency(agent.Name, "async", took)
	if r.jobs.Abandoned() {
		// Abandoned by a shutdown: not the task's fault, so not an attempt.
		rctx, rcancel := r.storeContext()
		defer rcancel()
		if err := r.Store.ReleaseTask(rctx, t.ID, owner); err != nil {
			log.Warn("releasing task at shutdown", handler.StoreErrField(err))
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
		if apiErr := sh.BackendError(rec.status, res.Body); apiErr != nil {
			// The adapter's backend said why: say it, not just the status.
			msg = apiErr.Error()
		}
	}
	if retryable && t.Attempts < cfg.Attempts {
		r.Metrics.TaskRetried(agent.Name)
		log.Info("task attempt failed, will retry", zap.String("error", msg), zap.NamedError("cause", err))
		r.retry(t, owner, r.Now().Add(backoff(cfg.Backoff, t.Attempts)), msg, log)
		return
	}
	if sh != nil && sh.Answer != nil && res != nil && !rec.overflow {
		sctx, scancel := context.WithCancel(r.jobs.JobContext())
		out, serr := sh.ShapeAnswer(sctx, rec.status, rec.header, res.Body, shape.AnswerEnv{Chat: chat, Task: shapeTask(t)})
		scancel()
		if serr != nil {
			log.Warn("expression failed", zap.String("error", serr.Error()))
			msg, res.Body = joinMsg(msg, serr.Error()), nil
		} else {
			res.Body, res.ContentType = out, "application/json"
			if u, ok := sh.Usage(out); ok && rec.status/100 == 2 {
				u.Each(func(kind string, n int64) { r.Metrics.BackendTokens(agent.Name, kind, n) })
			}
		}
	}
	if msg == "" && sh.Keeps() && res != nil {
		r.keepTurns(t, sh, res.Body, log)
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
	r.finish(t, owner, agent, outcome{status: status, res: res, msg: msg, conv: convOut, attemptAt: began, backend: took}, log)
}

func isTimeout(err error) bool {
	var be *handler.BackendError
	if errors.As(err, &be) && be.Status == http.StatusGatewayTimeout {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// shapeRequest runs the request expression on the stored body and points
// the request at the shaping's path. The error is the expression's.
func shapeRequest(ctx context.Context, req *http.Request, t *store.Task, sh *exchange.Shaping, chat shape.Chat, hist []history.Turn) error {
	if sh.Request != nil {
		env := shape.RequestEnv{
			Chat:    chat,
			Caller:  shape.Caller{ID: t.Principal},
			Headers: req.Header,
			Query:   req.URL.Query(),
			History: hist,
		}
		body, err := sh.ShapeRequest(ctx, t.Request.Body, req.Header.Get("Content-Type"), env)
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Header.Set("Content-Type", "application/json")
	}
	if sh.Records() {
		// The answer expression and the history read the body as it is.
		req.Header.Del("Accept-Encoding")
	}
	if sh.Path != "" {
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = sh.Path, "", ""
		req.RequestURI = sh.Path
	}
	return nil
}

// shapeTask is $task of an answer expression.
func shapeTask(t *store.Task) *shape.Task {
	return &shape.Task{ID: t.ID, Agent: t.Agent, ChatID: t.ChatID, Status: string(t.Status), Attempts: t.Attempts,
		Meta: t.Meta, CreatedAt: t.CreatedAt, Sensitive: t.Sensitive}
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func historyKey(t *store.Task) store.HistoryKey {
	return store.HistoryKey{ChatID: t.ChatID, Agent: t.Agent, Principal: t.Principal}
}

// keepTurns adds a successful task's exchange to its chat's history. The
// chat's tasks run one at a time, in order, so turns keep their order; a
// failure is logged and the task still succeeds.
func (r *Runner) keepTurns(t *store.Task, sh *exchange.Shaping, answer []byte, log *zap.Logger) {
	ctx, cancel := r.storeContext()
	defer cancel()
	now := r.Now()
	turns, err := sh.Turns(ctx, t.Request.Body, t.Request.Header.Get("Content-Type"), answer, now)
	if err == nil {
		ttl, _ := time.ParseDuration(t.Meta[handler.MetaChatTTL])
		err = r.Store.AppendHistory(ctx, store.HistoryAppend{HistoryKey: historyKey(t), Turns: turns, Limits: sh.History, ExpiresAt: now.Add(max(ttl, time.Hour))})
	}
	if err != nil {
		var se *shape.Error
		if errors.As(err, &se) {
			log.Warn("keeping chat history", zap.String("error", se.Error()))
		} else {
			log.Warn("keeping chat history", handler.StoreErrField(err))
		}
	}
}
