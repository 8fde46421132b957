package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/agenthook/agenthook/internal/testkit"
)

// TestPlannerStatsFollowGrowth: a table is analyzed once it has doubled
// since its last analysis (from plannerStatsMinRows rows on), and not
// before; after that the intake's head check probes the chat index
// instead of reading every unfinished task.
func TestPlannerStatsFollowGrowth(t *testing.T) {
	dsn := testkit.Postgres(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{DSN: dsn, SweepInterval: -1, AnalyzeInterval: -1, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	// The intake statement is a prepared statement, planned generically
	// once PostgreSQL settles on it: explain that plan.
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	total := 0
	grow := func(n int) {
		t.Helper()
		if _, err := conn.Exec(ctx, `
			INSERT INTO agenthook_tasks (id, agent, chat_id, principal, seq, status, request,
				run_after, due_at, created_at, updated_at, head)
			SELECT 'task-' || i, 'agent-a', 'chat-' || i, '', nextval('agenthook_seq'), 'PENDING', '{}',
				now(), now(), now(), now(), true
			FROM generate_series($1::int + 1, $1::int + $2::int) AS i`, total, n); err != nil {
			t.Fatal(err)
		}
		total += n
		// The server's counters reach the statistics views when a
		// session flushes them; wait for this one's.
		if _, err := conn.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, func() error {
			var live int
			if err := s.pool.QueryRow(ctx, `SELECT n_live_tup FROM pg_stat_user_tables
				WHERE relid = 'agenthook_tasks'::regclass`).Scan(&live); err != nil {
				return err
			}
			if live < total {
				return fmt.Errorf("the statistics views show %d live tasks; want %d", live, total)
			}
			return nil
		})
	}
	refresh := func(want bool) {
		t.Helper()
		analyzed, err := s.refreshPlannerStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(analyzed, "agenthook_tasks"); got != want {
			t.Fatalf("with %d tasks, analyzed %v; want agenthook_tasks analyzed: %v", total, analyzed, want)
		}
	}

	grow(plannerStatsMinRows / 2)
	refresh(false) // too small to matter
	grow(2 * plannerStatsMinRows)
	t.Logf("head check planned before the analysis:\n%s", explainHeadCheck(t, conn))
	refresh(true)
	refresh(false) // analyzed just now
	var reltuples float64
	if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'agenthook_tasks'::regclass`).Scan(&reltuples); err != nil {
		t.Fatal(err)
	}
	if reltuples < float64(total)*0.9 {
		t.Errorf("reltuples = %v after the analysis; want about %d", reltuples, total)
	}
	// A small sample: a histogram has at most target+1 bounds (seq's 101
	// with the server's default of 100).
	var bounds int
	if err := conn.QueryRow(ctx, `SELECT coalesce(array_length(histogram_bounds, 1), 0) FROM pg_stats
		WHERE tablename = 'agenthook_tasks' AND attname = 'seq'`).Scan(&bounds); err != nil {
		t.Fatal(err)
	}
	if bounds < 2 || bounds > plannerStatsTarget+1 {
		t.Errorf("seq's histogram has %d bounds; want 2 to %d", bounds, plannerStatsTarget+1)
	}
	plan := explainHeadCheck(t, conn)
	t.Logf("head check planned after the analysis:\n%s", plan)
	if !strings.Contains(plan, "using agenthook_tasks_chat on agenthook_tasks p") ||
		strings.Contains(plan, "Seq Scan on agenthook_tasks p") || strings.Contains(plan, "Bitmap Heap Scan on agenthook_tasks p") {
		t.Errorf("the head check does not probe agenthook_tasks_chat once per task:\n%s", plan)
	}

	grow(total / 2) // 1.5 times the analyzed size
	refresh(false)
	grow(total) // 3 times
	refresh(true)
}

// explainHeadCheck returns the generic plan of insertTasksSQL, the one
// PostgreSQL settles on for a statement prepared once and run many times,
// as the store's are.
var explains int

func explainHeadCheck(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx := context.Background()
	explains++
	name := fmt.Sprintf("head_check_%d", explains)
	if _, err := conn.Exec(ctx, `PREPARE `+name+`(timestamptz, text[], text[], text[], bytea[], text[], text[], bytea[],
		text[], timestamptz[], bool[], text[], bool[]) AS `+insertTasksSQL); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE `+name+`(now(), '{x}', '{agent-a}', '{chat-x}', '{""}', '{""}',
		'{"{}"}', '{NULL}', '{""}', ARRAY[now()], '{f}', '{NULL}', '{t}')`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
