package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// heads returns the ids of the tasks marked as their chat's head.
func heads(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT id FROM agenthook_tasks WHERE head`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrationMarksHeads applies 0006 to a database that has tasks: the
// heads it marks are the chats' unfinished tasks with the lowest seq.
func TestMigrationMarksHeads(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	for i := range 3 {
		mustCreate(t, s, fmt.Sprint("a", i), "chat-a")
		mustCreate(t, s, fmt.Sprint("b", i), "chat-b")
	}
	tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 10, Lease: time.Minute})
	if err != nil || len(tasks) != 2 {
		t.Fatalf("ClaimTasks = %d tasks, %v; want 2", len(tasks), err)
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "a0", Owner: "w", Status: store.TaskSuccess}); err != nil {
		t.Fatal(err)
	}
	// Back to version 5, then migrate again.
	for _, q := range []string{
		`DROP INDEX agenthook_tasks_head`,
		`ALTER TABLE agenthook_tasks DROP COLUMN head`,
		`DELETE FROM agenthook_schema_migrations WHERE version = 6`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := migrate(ctx, s.pool); err != nil {
		t.Fatal(err)
	}
	got := heads(t, s)
	if len(got) != 2 || !got["a1"] || !got["b0"] {
		t.Fatalf("heads after migration = %v, want a1 and b0", got)
	}
}

// TestHeadsUnderConcurrency creates tasks in a few chats while workers
// claim and finish them: a task created while its chat's head finishes
// must still become a head in its turn (none is left behind), and each
// chat's tasks finish in the order they were created.
func TestHeadsUnderConcurrency(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const chats, perChat = 8, 40
	var mu sync.Mutex
	finished := map[string][]int64{} // chat -> seqs in finish order
	done := make(chan struct{})
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Go(func() {
			owner := fmt.Sprint("w", w)
			for {
				select {
				case <-done:
					return
				default:
				}
				tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: owner, Limit: 4, Lease: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				for _, tk := range tasks {
					// Recorded before the finish: once it commits, another
					// worker may run the chat's next task and record it
					// first.
					mu.Lock()
					finished[tk.ChatID] = append(finished[tk.ChatID], tk.Seq)
					mu.Unlock()
					if err := s.FinishTask(ctx, store.TaskFinish{ID: tk.ID, Owner: owner, Status: store.TaskSuccess}); err != nil {
						t.Error(err)
						return
					}
				}
				if len(tasks) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	// Repairs run alongside: with every instance maintaining heads, they
	// never find a chat to mark, and no chat ever has two heads.
	workers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if n, _, err := s.repairHeads(ctx, "", headRepairChats); err != nil || n != 0 {
				t.Errorf("repair marked %d, %v; want 0", n, err)
				return
			}
			var two int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT chat_id FROM agenthook_tasks
				WHERE head AND status IN ('PENDING', 'STARTED') GROUP BY chat_id HAVING count(*) > 1) c`).Scan(&two); err != nil || two != 0 {
				t.Errorf("%d chats with two heads, %v", two, err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	var producers sync.WaitGroup
	for c := range chats {
		producers.Go(func() {
			for i := range perChat {
				if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("c%d-%d", c, i), fmt.Sprint("chat-", c))); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					time.Sleep(time.Duration(c%3) * time.Millisecond)
				}
			}
		})
	}
	producers.Wait()
	for {
		mu.Lock()
		n := 0
		for _, seqs := range finished {
			n += len(seqs)
		}
		mu.Unlock()
		if n == chats*perChat {
			break
		}
		if ctx.Err() != nil {
			close(done)
			workers.Wait()
			pending, started, _ := s.TaskCounts(context.Background())
			t.Fatalf("%d of %d tasks finished; left: %d pending, %d started, heads %v", n, chats*perChat, pending, started, heads(t, s))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	workers.Wait()
	for chat, seqs := range finished {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("chat %s finished out of order: %v", chat, seqs)
			}
		}
	}
	if h := heads(t, s); len(h) != 0 {
		t.Fatalf("heads left when all is finished: %v", h)
	}
}
