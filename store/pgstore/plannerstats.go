package pgstore

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Planner statistics while a table grows fast.
//
// PostgreSQL plans a statement from its statistics of the tables, which
// autovacuum refreshes at most once per autovacuum_naptime (a minute by
// default), and only once a tenth of a table has changed. A table that
// grows from a few rows to tens of thousands within that minute (a new
// installation taking load, a backlog building up behind a slow backend)
// is planned all along as if it were still small. The intake's head check
// (batch.go) is then planned as one hash of every unfinished task per
// batch instead of an index probe per chat, so each batch costs more as
// the queue grows: at 64 connections on a fresh database the intake ran at
// 2.1k tasks/s with the statistics left to autovacuum, 9.4k/s with them
// kept current (bench/ANALYSIS.md, P2 PostgreSQL).
//
// So the store analyzes its fast-growing tables itself: every
// Options.AnalyzeInterval (plannerStatsInterval by default) it compares
// each table's live rows (which the server's statistics counters keep
// current) with the row count of its last analysis, and analyzes the
// tables that have at least doubled, from plannerStatsMinRows on. A table growing from empty to N rows is analyzed
// about log2(N/plannerStatsMinRows) times, and a table whose size holds
// steady is left to autovacuum, however busy it is.
const (
	plannerStatsInterval = time.Second
	plannerStatsMinRows  = 1000
	// plannerStatsTarget is the statistics target of these analyses.
	plannerStatsTarget = 10
)

// plannerStatsTables are the tables that grow with the load.
var plannerStatsTables = []string{"agenthook_tasks", "agenthook_chats", "agenthook_deliveries"}

// plannerStatsSQL lists the tables of $1 that have grown to at least twice
// the rows of their last analysis (reltuples; -1 or 0 before the first)
// and at least $2 rows, and that this role may analyze (their owner or a
// member of its role; ANALYZE skips other tables with a warning).
const plannerStatsSQL = `
	SELECT s.relname, s.n_live_tup FROM pg_stat_user_tables s
	JOIN pg_class c ON c.oid = s.relid
	WHERE s.relid = ANY($1::text[]::regclass[])
		AND s.n_live_tup >= $2 AND s.n_live_tup >= 2 * greatest(c.reltuples, 0)
		AND pg_has_role(c.relowner, 'USAGE')`

// lockClassAnalyze keeps several instances from analyzing one table at
// once: the others skip it, and find it analyzed on their next look.
const lockClassAnalyze int32 = 0x61676861 // "agha"

// plannerStatsLoop keeps the planner's statistics current until Close. It
// is not a case of maintenanceLoop: a sweep of a large backlog can run for
// a while, and the statistics matter most while the backlog grows.
func (s *Store) plannerStatsLoop(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if _, err := s.refreshPlannerStats(s.ctx); err != nil && s.ctx.Err() == nil {
				// The next look retries; an outage is logged elsewhere.
				s.log.Debug("cannot refresh planner statistics", errField(err))
			}
		}
	}
}

// refreshPlannerStats analyzes the tables that have doubled since their
// last analysis (see plannerStatsSQL) and returns their names.
func (s *Store) refreshPlannerStats(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, plannerStatsSQL, plannerStatsTables, plannerStatsMinRows)
	if err != nil {
		return nil, wrapErr("reading table statistics", err)
	}
	type grown struct {
		table string
		rows  int64
	}
	var due []grown
	var g grown
	if _, err := pgx.ForEachRow(rows, []any{&g.table, &g.rows}, func() error { due = append(due, g); return nil }); err != nil {
		return nil, wrapErr("reading table statistics", err)
	}
	var analyzed []string
	for _, g := range due {
		start := time.Now()
		done := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`,
				lockClassAnalyze, g.table).Scan(&done); err != nil || !done {
				return err
			}
			// A sample of 3,000 rows (a tenth of the default): enough for
			// the row count and the spread of chat ids, and a tenth of the
			// CPU of a full one (19 against 186 ms at 250k tasks). Autovacuum
			// analyzes with the server's own target once the table settles.
			if _, err := tx.Exec(ctx, `SET LOCAL default_statistics_target = `+strconv.Itoa(plannerStatsTarget)); err != nil {
				return err
			}
			// The name comes from plannerStatsTables, never from input.
			_, err := tx.Exec(ctx, `ANALYZE `+pgx.Identifier{g.table}.Sanitize())
			return err
		})
		if err != nil {
			return analyzed, wrapErr("analyzing "+g.table, err)
		}
		if done {
			analyzed = append(analyzed, g.table)
			s.log.Debug("analyzed a table that grew", zap.String("table", g.table),
				zap.Int64("rows", g.rows), zap.Duration("took", time.Since(start)))
		}
	}
	return analyzed, nil
}
