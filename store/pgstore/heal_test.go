package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// runAll claims and finishes tasks until want have run, and returns the
// ids in the order they were claimed (one claim at a time, so a chat's
// order shows).
func runAll(t *testing.T, s *Store, want int) []string {
	t.Helper()
	ctx := context.Background()
	var order []string
	for range 100 {
		tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 10, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range tasks {
			order = append(order, tk.ID)
			if err := s.FinishTask(ctx, store.TaskFinish{ID: tk.ID, Owner: "w", Status: store.TaskSuccess}); err != nil {
				t.Fatal(err)
			}
		}
		if len(order) >= want || len(tasks) == 0 {
			break
		}
	}
	return order
}

// claimable returns the ids a claim would take now, without taking them.
func claimable(t *testing.T, s *Store) []string {
	t.Helper()
	tx, err := s.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	rows, err := tx.Query(context.Background(), claimTasksSQL,
		time.Now(), nil, 100, "probe", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v[0].(string)) // taskCols begins with id

	}
	return ids
}

// TestRepairHeadsOldInserts inserts tasks as an instance older than
// schema 6 does (head left false), in a chat with nothing else: no claim
// takes them until a repair marks the first, then they run in order. A
// second store opened on the database repairs at Open.
func TestRepairHeadsOldInserts(t *testing.T) {
	dsn := testkit.Postgres(t)
	s := open(t, dsn, nil)
	ctx := context.Background()
	// An old instance's INSERT: the columns it knows, head by default.
	for i := range 3 {
		_, err := s.pool.Exec(ctx, `
			INSERT INTO agenthook_tasks (id, agent, chat_id, principal, endpoint, seq, status, request, body,
				error, attempts, run_after, due_at, created_at, updated_at, sensitive)
			VALUES ($1, 'agent-a', 'chat-old', ''::bytea, '', nextval('agenthook_seq'), 'PENDING',
				'{"method":"POST","path":"/p"}'::json, 'b'::bytea, '', 0, $2, $2, $2, $2, false)`,
			fmt.Sprint("old", i), time.Now().Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, s, "new0", "chat-new")
	if got := claimable(t, s); len(got) != 1 || got[0] != "new0" {
		t.Fatalf("claimable before the repair = %v, want new0 alone", got)
	}
	// A second instance opening repairs at once.
	s2 := open(t, dsn, nil)
	if h := heads(t, s2); len(h) != 2 || !h["old0"] || !h["new0"] {
		t.Fatalf("heads after Open = %v, want old0 and new0", h)
	}
	if n, _, err := s2.repairHeads(ctx, "", headRepairChats); err != nil || n != 0 {
		t.Fatalf("second repair marked %d, %v; want 0", n, err)
	}
	var old []string
	for _, id := range runAll(t, s, 4) {
		if id != "new0" {
			old = append(old, id)
		}
	}
	if fmt.Sprint(old) != "[old0 old1 old2]" {
		t.Fatalf("old tasks ran as %v, want old0 old1 old2", old)
	}
}

// TestRepairHeadsOldFinish finishes a chat's head as an older instance
// does (status final, head neither cleared nor moved): the next task is
// stranded until a repair marks it and clears the finished one.
func TestRepairHeadsOldFinish(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	for i := range 3 {
		mustCreate(t, s, fmt.Sprint("a", i), "chat-a")
	}
	tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 10, Lease: time.Minute})
	if err != nil || len(tasks) != 1 || tasks[0].ID != "a0" {
		t.Fatalf("ClaimTasks = %v, %v; want a0", tasks, err)
	}
	// The old FinishTask's update, without head.
	if _, err := s.pool.Exec(ctx, `
		UPDATE agenthook_tasks SET status = 'SUCCESS', lease_owner = '', lease_until = NULL,
			due_at = NULL, updated_at = $1, finished_at = $1, expires_at = $2, body = NULL
		WHERE id = 'a0'`, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := claimable(t, s); len(got) != 0 {
		t.Fatalf("claimable before the repair = %v, want none", got)
	}
	n, _, err := s.repairHeads(ctx, "", headRepairChats)
	if err != nil || n != 1 {
		t.Fatalf("repair marked %d, %v; want 1", n, err)
	}
	if h := heads(t, s); len(h) != 1 || !h["a1"] {
		t.Fatalf("heads after the repair = %v, want a1 alone", h)
	}
	if got := runAll(t, s, 2); fmt.Sprint(got) != "[a1 a2]" {
		t.Fatalf("ran %v, want a1 a2", got)
	}
}

// TestRepairHeadsPeriodically strands a chat's next task with an old-style
// finish and waits for the store's own loop to repair it.
func TestRepairHeadsPeriodically(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	mustCreate(t, s, "p0", "chat-p")
	mustCreate(t, s, "p1", "chat-p")
	if _, err := s.pool.Exec(ctx, `UPDATE agenthook_tasks SET status = 'SUCCESS', due_at = NULL,
		finished_at = $1, expires_at = $2 WHERE id = 'p0'`, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2*headRepairInterval + 5*time.Second)
	for {
		if h := heads(t, s); len(h) == 1 && h["p1"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heads %v after %v, want p1", heads(t, s), 2*headRepairInterval)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := runAll(t, s, 1); fmt.Sprint(got) != "[p1]" {
		t.Fatalf("ran %v, want p1", got)
	}
}

// TestRepairHeadsWalksInSteps strands more chats than one repair walks:
// the cursor carries the walk on, and every chat is repaired after enough
// repairs, no chat twice.
func TestRepairHeadsWalksInSteps(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	const chats = 7
	for c := range chats {
		mustCreate(t, s, fmt.Sprint("x", c), fmt.Sprint("chat-", c))
		mustCreate(t, s, fmt.Sprint("y", c), fmt.Sprint("chat-", c))
	}
	if _, err := s.pool.Exec(ctx, `UPDATE agenthook_tasks SET head = false`); err != nil {
		t.Fatal(err)
	}
	after, total := "", 0
	for i := range 5 {
		n, next, err := s.repairHeads(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if i == 0 && (n != 3 || next == "") {
			t.Fatalf("first repair: %d marked, cursor %q; want 3 and a cursor", n, next)
		}
		after = next
	}
	if total != chats {
		t.Fatalf("marked %d in all, want %d", total, chats)
	}
	h := heads(t, s)
	for c := range chats {
		if !h[fmt.Sprint("x", c)] || h[fmt.Sprint("y", c)] {
			t.Fatalf("heads = %v, want x0..x%d", h, chats-1)
		}
	}
}
