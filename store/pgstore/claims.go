package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// Claims.
//
// A claim is one UPDATE whose candidates are locked with FOR UPDATE SKIP
// LOCKED: instances claiming at once skip each other's rows instead of
// waiting, and a row changed by a claim that committed first is rechecked
// against the conditions (due_at has moved to the new lease) and dropped.
//
// A task is a candidate when it is its chat's head (its chat has no
// unfinished task with a lower seq) and it is due: PENDING with run_after
// passed, or STARTED with lease_until passed, both kept in due_at. The
// head column marks heads (see 0006_task_heads.sql): an insert sets it
// when its chat has nothing unfinished, a finish moves it to the chat's
// next task, so a chat has at most one head, only a head is ever
// claimed, and a chat's tasks run one at a time, in seq order.
// CreateTask's per-chat lock makes a chat's tasks commit in seq order.
// Testing each task for being a head instead walked every task queued
// behind a running head, on every claim.
//
// The statement that answers next runs in the same pipeline, after the
// claim, so that it sees the new leases: one round trip in all.

const claimTasksSQL = `
	WITH cand AS (
		SELECT t.id FROM agenthook_tasks t
		WHERE t.head AND t.status IN ('PENDING', 'STARTED') AND t.due_at <= $1
			AND ($2::text[] IS NULL OR t.agent = ANY($2::text[]))
		ORDER BY t.due_at, t.seq
		LIMIT $3
		FOR UPDATE OF t SKIP LOCKED)
	UPDATE agenthook_tasks t SET status = 'STARTED', attempts = t.attempts + 1,
		lease_owner = $4, lease_until = $5, due_at = $5, updated_at = $1
	FROM cand WHERE t.id = cand.id
	RETURNING ` + taskCols

// nextTaskSQL finds the earliest due_at of a chat head the claimer serves.
// Only heads are walked (the index agenthook_tasks_head): the tasks queued
// behind a running head cost nothing here, nor in the claim.
const nextTaskSQL = `
	SELECT t.due_at FROM agenthook_tasks t
	WHERE t.head AND t.status IN ('PENDING', 'STARTED')
		AND ($1::text[] IS NULL OR t.agent = ANY($1::text[]))
	ORDER BY t.due_at
	LIMIT 1`

// ClaimTasks implements store.Tasks.
func (s *Store) ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error) {
	if err := s.live(); err != nil {
		return nil, time.Time{}, err
	}
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	// nil means any agent (NULL); an empty list, none.
	var agents []string
	if c.Agents != nil {
		agents = make([]string, 0, len(c.Agents))
		for _, a := range c.Agents {
			if validText(a) {
				agents = append(agents, a)
			}
		}
	}
	now := s.clock()
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	b.Queue(claimTasksSQL, now, agents, c.Limit, c.Owner, now.Add(c.Lease))
	b.Queue(nextTaskSQL, agents)
	var tasks []*store.Task
	var next pgtype.Timestamptz
	err := s.sendClaim(ctx, b, func(rows pgx.Rows) error {
		var err error
		tasks, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Task, error) { return scanTask(row) })
		return err
	}, &next)
	if err != nil {
		return nil, time.Time{}, wrapErr("claiming tasks", err)
	}
	return tasks, nextTime(next, now), nil
}

// sendClaim sends a claim (after asyncCommitSQL: see async.go) and its
// next query as one pipeline, which PostgreSQL runs as one implicit
// transaction.
func (s *Store) sendClaim(ctx context.Context, b *pgx.Batch, claimed func(pgx.Rows) error, next *pgtype.Timestamptz) error {
	br := s.pool.SendBatch(ctx, b)
	err := func() error {
		if _, err := br.Exec(); err != nil { // asyncCommitSQL
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := claimed(rows); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(next); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// nextTime is when the caller should claim again: the earliest due time
// found, or now if something is due already (over the limit, skipped, or
// locked by another claimer), or zero if nothing is waiting.
func nextTime(next pgtype.Timestamptz, now time.Time) time.Time {
	t := fromTS(next)
	if !t.IsZero() && !t.After(now) {
		return now
	}
	return t
}

// Deliveries follow the same rules with order keys for chats (a delivery
// without one is its own group), minus the agent filter, plus Skip,
// SkipAgents, PerCallback and PerAgent.
//
// deliveryHeadSQL holds for d when no pending delivery of its order key
// comes before it or holds a valid lease. "p.order_key <> ”" is implied,
// but spelled out so that the partial index on (order_key, seq) serves.
const deliveryHeadSQL = `(d.order_key = '' OR NOT EXISTS (
		SELECT 1 FROM agenthook_deliveries p
		WHERE p.order_key = d.order_key AND p.order_key <> '' AND p.status = 'pending' AND p.id <> d.id
			AND (p.seq < d.seq OR p.lease_until > $1)))`

// leaseDeliveriesSQL ends every delivery claim: lease what cand holds.
const leaseDeliveriesSQL = `
	UPDATE agenthook_deliveries d SET lease_owner = $4, lease_until = $5, due_at = $5
	FROM cand WHERE d.id = cand.id
	RETURNING ` + deliveryCols

// claimDeliveriesSQL claims without a cap per callback or agent, as
// claimTasksSQL.
const claimDeliveriesSQL = `
	WITH cand AS (
		SELECT d.id FROM agenthook_deliveries d
		WHERE d.status = 'pending' AND d.due_at <= $1 AND NOT (d.callback_id = ANY($2::text[]))
			AND NOT (d.agent = ANY($6::text[]))
			AND ` + deliveryHeadSQL + `
		ORDER BY d.due_at, d.seq
		LIMIT $3
		FOR UPDATE OF d SKIP LOCKED)` + leaseDeliveriesSQL

// claimDeliveriesCappedSQL claims at most $6 deliveries per callback and
// $7 per agent. It visits each callback that has pending deliveries
// (enumerated by walking the index on callback_id, one step per callback,
// since PostgreSQL has no skip scan) and takes its $6 oldest due heads,
// keeps the $7 oldest of those per agent, then the oldest $3 of what is
// left. A callback with a large backlog costs no more than one without,
// and cannot crowd out the others. Row locks cannot be taken under a
// LIMIT inside LATERAL together with the outer sort, so the picked rows
// are locked in a second step, skipping those another claimer holds and
// rechecking the rest (a row leased meanwhile is no longer due).
const claimDeliveriesCappedSQL = `
	WITH RECURSIVE cbs(callback_id) AS (
		(SELECT callback_id FROM agenthook_deliveries WHERE status = 'pending' ORDER BY callback_id LIMIT 1)
		UNION ALL
		SELECT (SELECT n.callback_id FROM agenthook_deliveries n
			WHERE n.status = 'pending' AND n.callback_id > cbs.callback_id ORDER BY n.callback_id LIMIT 1)
		FROM cbs WHERE cbs.callback_id IS NOT NULL
	), pick AS (
		SELECT y.id FROM (
			SELECT x.id, x.due_at, x.seq,
				row_number() OVER (PARTITION BY x.agent ORDER BY x.due_at, x.seq) AS n
			FROM cbs CROSS JOIN LATERAL (
				SELECT d.id, d.agent, d.due_at, d.seq FROM agenthook_deliveries d
				WHERE d.callback_id = cbs.callback_id AND d.status = 'pending' AND d.due_at <= $1
					AND NOT (d.agent = ANY($8::text[]))
					AND ` + deliveryHeadSQL + `
				ORDER BY d.due_at, d.seq
				LIMIT $6) AS x
			WHERE cbs.callback_id IS NOT NULL AND NOT (cbs.callback_id = ANY($2::text[]))) AS y
		WHERE y.n <= $7
		ORDER BY y.due_at, y.seq
		LIMIT $3
	), cand AS (
		SELECT d.id FROM agenthook_deliveries d
		WHERE d.id IN (SELECT id FROM pick) AND d.status = 'pending' AND d.due_at <= $1
		FOR UPDATE OF d SKIP LOCKED)` + leaseDeliveriesSQL

const nextDeliverySQL = `
	SELECT d.due_at FROM agenthook_deliveries d
	WHERE d.status = 'pending' AND NOT (d.callback_id = ANY($1::text[])) AND NOT (d.agent = ANY($2::text[]))
		AND (d.order_key = '' OR NOT EXISTS (
			SELECT 1 FROM agenthook_deliveries p
			WHERE p.order_key = d.order_key AND p.order_key <> '' AND p.status = 'pending' AND p.seq < d.seq))
	ORDER BY d.due_at
	LIMIT 1`

// ClaimDeliveries implements store.Deliveries.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]*store.Delivery, time.Time, error) {
	if err := s.live(); err != nil {
		return nil, time.Time{}, err
	}
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	// Never NULL: "= ANY(NULL)" is NULL, which would skip everything.
	skip, skipAgents := validTexts(c.Skip), validTexts(c.SkipAgents)
	now := s.clock()
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	if c.PerCallback > 0 || c.PerAgent > 0 {
		// A cap of Limit caps nothing.
		perCallback, perAgent := c.PerCallback, c.PerAgent
		if perCallback <= 0 {
			perCallback = c.Limit
		}
		if perAgent <= 0 {
			perAgent = c.Limit
		}
		b.Queue(claimDeliveriesCappedSQL, now, skip, c.Limit, c.Owner, now.Add(c.Lease), perCallback, perAgent, skipAgents)
	} else {
		b.Queue(claimDeliveriesSQL, now, skip, c.Limit, c.Owner, now.Add(c.Lease), skipAgents)
	}
	b.Queue(nextDeliverySQL, skip, skipAgents)
	var ds []*store.Delivery
	var next pgtype.Timestamptz
	err := s.sendClaim(ctx, b, func(rows pgx.Rows) error {
		var err error
		ds, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(row) })
		return err
	}, &next)
	if err != nil {
		return nil, time.Time{}, wrapErr("claiming deliveries", err)
	}
	return ds, nextTime(next, now), nil
}

// validTexts returns the strings PostgreSQL text can hold, never nil.
func validTexts(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if validText(v) {
			out = append(out, v)
		}
	}
	return out
}
