package pgstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// TestClaimPlan prints EXPLAIN (ANALYZE, BUFFERS) of the task claim and
// of the next-due query against a backlog like P7's: 10,000 queued tasks
// over 500 chats, the heads of 300 of them running, 200 tasks finished;
// then the same queries as they were before schema 6.
// It is a measurement (buffer hits are the figure to compare: they do not
// depend on the machine's load), so it runs only with AGENTHOOK_PG_COST=1.
func TestClaimPlan(t *testing.T) {
	if os.Getenv("AGENTHOOK_PG_COST") == "" {
		t.Skip("a measurement: set AGENTHOOK_PG_COST=1")
	}
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	// AGENTHOOK_PLAN_CHATS=10000 puts each task in a chat of its own, as
	// the bench's loadgen does.
	chats := 500
	if v, err := strconv.Atoi(os.Getenv("AGENTHOOK_PLAN_CHATS")); err == nil && v > 0 && v <= 10000 {
		chats = v
	}
	perChat := 10000 / chats
	var wg sync.WaitGroup
	errs := make(chan error, chats)
	for g := range 50 {
		wg.Go(func() {
			for c := g; c < chats; c += 50 {
				for i := range perChat {
					if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("plan-%d-%d", c, i), fmt.Sprint("chat-", c))); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 200 heads run and finish, then 300 heads are left running.
	claim := func(n int) []*store.Task {
		t.Helper()
		tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: n, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tasks
	}
	for _, tk := range claim(200) {
		if err := s.FinishTask(ctx, store.TaskFinish{ID: tk.ID, Owner: "w", Status: store.TaskSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(claim(300)); n != 300 {
		t.Fatalf("claimed %d heads, want 300", n)
	}
	// AGENTHOOK_PLAN_NOANALYZE=1 leaves the table as the bench's fresh
	// databases have it: never analyzed, dead versions not vacuumed.
	if os.Getenv("AGENTHOOK_PLAN_NOANALYZE") == "" {
		if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE agenthook_tasks`); err != nil {
			t.Fatal(err)
		}
	}
	explain := func(name, sql string, args ...any) {
		t.Helper()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		rows, err := tx.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("== %s\n%s\n", name, out.String())
	}
	now := time.Now()
	explain("claim (limit 16)", claimTasksSQL, now, nil, 16, "x", now.Add(time.Minute))
	explain("next", nextTaskSQL, nil)
	// The head repair when nothing is stranded: its cost every
	// headRepairInterval.
	explain("repair scan (nothing stranded)", repairScanSQL, "", headRepairChats)
	explain("repair: clear finished heads", clearFinishedHeadsSQL, headRepairChats)
	explain("claim before 0006 (limit 16)", oldClaimTasksSQL, now, nil, 16, "x", now.Add(time.Minute))
	explain("next before 0006", oldNextTaskSQL, nil)
}

// The queries before task heads (schema 6), for comparison: they still
// run on the current schema.
const oldClaimTasksSQL = `
	WITH cand AS (
		SELECT t.id FROM agenthook_tasks t
		WHERE t.status IN ('PENDING', 'STARTED') AND t.due_at <= $1
			AND ($2::text[] IS NULL OR t.agent = ANY($2::text[]))
			AND NOT EXISTS (
				SELECT 1 FROM agenthook_tasks p
				WHERE p.chat_id = t.chat_id AND p.status IN ('PENDING', 'STARTED') AND p.id <> t.id
					AND (p.seq < t.seq OR (p.status = 'STARTED' AND p.lease_until > $1)))
		ORDER BY t.due_at, t.seq
		LIMIT $3
		FOR UPDATE OF t SKIP LOCKED)
	UPDATE agenthook_tasks t SET status = 'STARTED', attempts = t.attempts + 1,
		lease_owner = $4, lease_until = $5, due_at = $5, updated_at = $1
	FROM cand WHERE t.id = cand.id
	RETURNING ` + taskCols

const oldNextTaskSQL = `
	SELECT t.due_at FROM agenthook_tasks t
	WHERE t.status IN ('PENDING', 'STARTED')
		AND ($1::text[] IS NULL OR t.agent = ANY($1::text[]))
		AND NOT EXISTS (
			SELECT 1 FROM agenthook_tasks p
			WHERE p.chat_id = t.chat_id AND p.status IN ('PENDING', 'STARTED') AND p.seq < t.seq)
	ORDER BY t.due_at
	LIMIT 1`
