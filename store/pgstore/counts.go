package pgstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Counting tasks is a scan of every unfinished task, and load shedding
// (`queue max_depth`) asks on every async request. TaskCounts therefore
// answers from a cache (Options.CountsTTL, one second by default, as the
// store contract allows), and at most one count runs at a time:
//
//   - younger than three quarters of the TTL, the cached counts are the
//     answer;
//   - older than that, the first caller counts again while the others
//     keep the cached counts, which are still within the TTL, so that a
//     busy intake rarely waits for a count;
//   - once the TTL has passed (or before the first count), callers wait
//     for the one count under way instead of each starting their own.
//
// Without the last rule, every request that arrived while an expired
// cache was being refilled counted too: under load, dozens of scans of a
// large queue ran at once and took most of the database's CPU (measured
// in bench/ANALYSIS.md, P2 PostgreSQL). Refreshing from three quarters
// rather than half of the TTL counts a third less often, and leaves a
// quarter of a second for the count, which takes tens of milliseconds at
// a few hundred thousand queued tasks.
//
// A count is one sequential scan of the table, and the planner gives a
// large one parallel workers: on a server short of CPU (the intake's own),
// they cost a third more CPU than one process scanning alone, to answer
// sooner a question nobody waits for. So counts run without them
// (serialCount).

// countsCache keeps TaskCounts' last answer, by the store's clock.
type countsCache struct {
	ttl              time.Duration
	mu               sync.Mutex
	at               time.Time // when the cached count started
	pending, started int
	valid            bool
	flight           *countFlight // the count under way, if any
}

// countFlight is one count, which callers that find the cache expired
// wait for.
type countFlight struct {
	done             chan struct{} // closed when the fields below are set
	pending, started int
	err              error
}

// TaskCounts implements store.Tasks.
func (s *Store) TaskCounts(ctx context.Context) (pending, started int, err error) {
	if err := s.live(); err != nil {
		return 0, 0, err
	}
	c := &s.counts
	if c.ttl <= 0 {
		return s.countTasks(ctx)
	}
	for {
		now := s.clock()
		c.mu.Lock()
		age := now.Sub(c.at)
		fresh := c.valid && age >= 0 && age < c.ttl
		if fresh && (age < c.ttl*3/4 || c.flight != nil) {
			pending, started = c.pending, c.started
			c.mu.Unlock()
			return pending, started, nil
		}
		if f := c.flight; f != nil {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return 0, 0, wrapErr("counting tasks", ctx.Err())
			}
			// A count that failed only because its caller gave up says
			// nothing about the database: count again.
			if f.err != nil && isContextErr(f.err) {
				continue
			}
			return f.pending, f.started, f.err
		}
		f := &countFlight{done: make(chan struct{})}
		c.flight = f
		c.mu.Unlock()
		// Not under the lock: a slow database must not hold callers that
		// would give up sooner.
		f.pending, f.started, f.err = s.countTasks(ctx)
		c.mu.Lock()
		if f.err == nil {
			c.at, c.pending, c.started, c.valid = now, f.pending, f.started, true
		}
		c.flight = nil
		c.mu.Unlock()
		close(f.done)
		return f.pending, f.started, f.err
	}
}

// countTasks counts the unfinished tasks in the database.
func (s *Store) countTasks(ctx context.Context) (pending, started int, err error) {
	s.countQueries.Add(1)
	err = s.serialCount(ctx, `
		SELECT count(*) FILTER (WHERE status = 'PENDING'), count(*) FILTER (WHERE status = 'STARTED')
		FROM agenthook_tasks WHERE status IN ('PENDING', 'STARTED')`, nil, &pending, &started)
	if err != nil {
		return 0, 0, wrapErr("counting tasks", err)
	}
	return pending, started, nil
}

// serialCount runs a count (a query of one row) without parallel workers
// (see above), in a transaction of its own so that the setting ends with
// it and never reaches the pool's other queries.
func (s *Store) serialCount(ctx context.Context, sql string, args []any, dst ...any) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, sql, args...).Scan(dst...)
	})
}

// isContextErr reports whether err comes from a context's end.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
