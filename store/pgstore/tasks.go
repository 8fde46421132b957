package pgstore

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// taskCols are the columns scanTask reads, from agenthook_tasks as t.
const taskCols = `t.id, t.agent, t.chat_id, t.principal, t.endpoint, t.seq, t.status, t.request,
	t.result_code, t.result_type, t.error, t.attempts, t.run_after, t.lease_owner, t.lease_until,
	t.created_at, t.updated_at, t.finished_at, t.expires_at, t.sensitive, t.meta, t.body, t.result_body`

// taskColsNoBodies reads the same without the bodies.
const taskColsNoBodies = `t.id, t.agent, t.chat_id, t.principal, t.endpoint, t.seq, t.status, t.request,
	t.result_code, t.result_type, t.error, t.attempts, t.run_after, t.lease_owner, t.lease_until,
	t.created_at, t.updated_at, t.finished_at, t.expires_at, t.sensitive, t.meta, NULL::bytea, NULL::bytea`

func scanTask(row pgx.Row) (*store.Task, error) {
	var t store.Task
	var principal, request, meta, body, resultBody []byte
	var resultCode pgtype.Int4
	var resultType, status string
	var runAfter, leaseUntil, created, updated, finished, expires pgtype.Timestamptz
	err := row.Scan(&t.ID, &t.Agent, &t.ChatID, &principal, &t.Endpoint, &t.Seq, &status, &request,
		&resultCode, &resultType, &t.Error, &t.Attempts, &runAfter, &t.LeaseOwner, &leaseUntil,
		&created, &updated, &finished, &expires, &t.Sensitive, &meta, &body, &resultBody)
	if err != nil {
		return nil, err
	}
	t.Principal, t.Status = string(principal), store.TaskStatus(status)
	if err := json.Unmarshal(request, &t.Request); err != nil {
		return nil, fmt.Errorf("decoding a task's request: %w", err)
	}
	t.Request.Body = body
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &t.Meta); err != nil {
			return nil, fmt.Errorf("decoding a task's meta: %w", err)
		}
	}
	if resultCode.Valid {
		t.Result = &store.Result{StatusCode: int(resultCode.Int32), ContentType: resultType, Body: resultBody}
	}
	t.RunAfter, t.LeaseUntil = fromTS(runAfter), fromTS(leaseUntil)
	t.CreatedAt, t.UpdatedAt = fromTS(created), fromTS(updated)
	t.FinishedAt, t.ExpiresAt = fromTS(finished), fromTS(expires)
	return &t, nil
}

// checkTask refuses a task that cannot be stored, before it costs a
// round trip or fails a batch.
func checkTask(n store.NewTask) error {
	t := n.Task
	if t == nil || t.ID == "" || t.Agent == "" || t.ChatID == "" {
		return store.Invalid("a task needs an id, an agent and a chat id")
	}
	if !validID(t.ID) || !validID(t.Agent) || !validID(t.ChatID) || !validText(t.Endpoint) {
		return store.Invalid("a task's id, agent, chat id and endpoint must be valid UTF-8 without NUL")
	}
	if err := store.CheckSize("a task", t.RecordBytes()); err != nil {
		return err
	}
	if n.Chat != nil {
		return checkChat(n.Chat)
	}
	return nil
}

// CreateTask implements store.Tasks. Requests without an Idempotency key
// go through the group-commit batcher; the others through createIdem.
func (s *Store) CreateTask(ctx context.Context, n store.NewTask) (store.Created, error) {
	if err := s.live(); err != nil {
		return store.Created{}, err
	}
	if err := checkTask(n); err != nil {
		return store.Created{}, err
	}
	t := *n.Task
	t.Status, t.Attempts, t.LeaseOwner, t.LeaseUntil = store.TaskPending, 0, "", time.Time{}
	t.Result, t.FinishedAt, t.ExpiresAt = nil, time.Time{}, time.Time{}
	r := &createReq{ctx: ctx, task: &t, size: 1024 + len(t.Request.Body), done: make(chan error, 1)}
	if err := r.encode(); err != nil {
		return store.Created{}, wrapErr("creating task", err)
	}
	if n.Chat != nil {
		c := *n.Chat
		r.chat = &c
	}
	if n.Idempotency != nil {
		return s.createIdem(ctx, r, n.Idempotency)
	}
	if err := s.batch.submit(r); err != nil {
		return store.Created{}, err
	}
	return store.Created{Task: r.task}, nil
}

// createIdem creates a task under an Idempotency key, or answers with the
// task that holds the key. The key is claimed with an upsert that replaces
// only an expired key, so of concurrent requests with one key (on any
// instance) exactly one creates a task; the others wait for its commit and
// read it.
func (s *Store) createIdem(ctx context.Context, r *createReq, idem *store.Idempotency) (store.Created, error) {
	exp := idem.ExpiresAt
	if exp.IsZero() {
		exp = s.clock().Add(24 * time.Hour)
	}
	key := []byte(idem.Key)
	// A key found live and then gone (swept in between) is claimed again.
	for try := 0; ; try++ {
		var out store.Created
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			now := s.clock()
			var owner string
			err := tx.QueryRow(ctx, `
				INSERT INTO agenthook_idempotency AS i (key, fingerprint, task_id, chat_id, expires_at)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, task_id = EXCLUDED.task_id,
					chat_id = EXCLUDED.chat_id, expires_at = EXCLUDED.expires_at
				WHERE i.expires_at <= $6
				RETURNING task_id`,
				key, []byte(idem.Fingerprint), r.task.ID, r.task.ChatID, exp, now).Scan(&owner)
			if err == nil {
				if err := s.insertTasks(ctx, tx, []*createReq{r}, now); err != nil {
					return err
				}
				out = store.Created{Task: r.task}
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			var fp []byte
			var taskID, chatID string
			err = tx.QueryRow(ctx, `SELECT fingerprint, task_id, chat_id FROM agenthook_idempotency WHERE key = $1`, key).
				Scan(&fp, &taskID, &chatID)
			if err != nil {
				return err
			}
			if subtle.ConstantTimeCompare(fp, []byte(idem.Fingerprint)) != 1 {
				return store.ErrIdempotencyMismatch
			}
			first, err := scanTask(tx.QueryRow(ctx, `SELECT `+taskColsNoBodies+` FROM agenthook_tasks t WHERE t.id = $1`, taskID))
			if errors.Is(err, pgx.ErrNoRows) {
				// The first task is gone; its id still answers.
				first, err = &store.Task{ID: taskID, ChatID: chatID}, nil
			}
			out = store.Created{Task: first, Replayed: true}
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) && try < 2 {
			continue
		}
		if err != nil {
			return store.Created{}, wrapErr("creating task", err)
		}
		if !out.Replayed {
			s.changed(true, false)
		}
		return out, nil
	}
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM agenthook_tasks t
		WHERE t.id = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)`, id, s.clock()))
	if err != nil {
		return nil, wrapErr("reading task", notFound(err))
	}
	return t, nil
}

// RetryTask implements store.Tasks.
func (s *Store) RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error {
	return s.requeue(ctx, id, owner, runAfter, lastError, false)
}

// ReleaseTask implements store.Tasks.
func (s *Store) ReleaseTask(ctx context.Context, id, owner string) error {
	return s.requeue(ctx, id, owner, time.Time{}, "", true)
}

// requeue puts a task that owner holds back to PENDING.
func (s *Store) requeue(ctx context.Context, id, owner string, runAfter time.Time, lastError string, uncount bool) error {
	if err := s.live(); err != nil {
		return err
	}
	if !validID(id) || !validID(owner) {
		return store.ErrLeaseLost
	}
	now := s.clock()
	if runAfter.IsZero() {
		runAfter = now
	}
	tag, err := s.execAsync(ctx, `
		UPDATE agenthook_tasks SET status = 'PENDING', lease_owner = '', lease_until = NULL,
			run_after = $4, due_at = $4, updated_at = $3,
			attempts = CASE WHEN $5 AND attempts > 0 THEN attempts - 1 ELSE attempts END,
			error = CASE WHEN $6 <> '' THEN $6 ELSE error END
		WHERE id = $1 AND status = 'STARTED' AND lease_owner = $2`,
		id, owner, now, runAfter, uncount, cleanText(lastError))
	if err != nil {
		return wrapErr("requeueing task", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrLeaseLost
	}
	s.changed(true, false)
	return nil
}
