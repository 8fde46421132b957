package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store/storetest"
)

// blockCounts makes every count of tasks wait, by holding a lock on the
// tasks table in a transaction of its own, until the returned function is
// called. waitBlocked waits until n statements wait on that lock.
func blockCounts(t *testing.T, s *Store) (release func(), waitBlocked func(n int)) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE agenthook_tasks IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	t.Cleanup(release)
	waitBlocked = func(n int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			var waiting int
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'
				AND query LIKE '%count(*) FILTER%'`).Scan(&waiting); err != nil {
				return err
			}
			if waiting < n {
				return fmt.Errorf("%d counts wait on the lock; want %d", waiting, n)
			}
			return nil
		})
	}
	return release, waitBlocked
}

// TestTaskCountsOneAtATime: callers that find the cached counts expired
// wait for one count instead of each sending their own, and callers that
// find them three quarters expired keep them while one caller counts
// again.
func TestTaskCountsOneAtATime(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	s := open(t, testkit.Postgres(t), clock.Now)
	ctx := context.Background()
	mustCreate(t, s, "t-1", "chat-1")

	if p, _, err := s.TaskCounts(ctx); err != nil || p != 1 {
		t.Fatalf("TaskCounts = %d, %v; want 1", p, err)
	}
	mustCreate(t, s, "t-2", "chat-2")
	before := s.countQueries.Load()

	// Expired: twenty callers, one count.
	clock.Advance(2 * time.Second)
	release, waitBlocked := blockCounts(t, s)
	const callers = 20
	var wg sync.WaitGroup
	got := make([]int, callers)
	errs := make([]error, callers)
	wg.Go(func() { got[0], _, errs[0] = s.TaskCounts(ctx) })
	waitBlocked(1)
	for i := 1; i < callers; i++ {
		wg.Go(func() { got[i], _, errs[i] = s.TaskCounts(ctx) })
	}
	time.Sleep(200 * time.Millisecond) // time for any caller to send a count of its own
	if n := s.countQueries.Load() - before; n != 1 {
		t.Errorf("%d counts sent while one was under way; want 1", n)
	}
	release()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i] != 2 {
			t.Errorf("caller %d: TaskCounts = %d, %v; want 2", i, got[i], errs[i])
		}
	}

	// Not yet three quarters expired: the cache answers, no count.
	mustCreate(t, s, "t-3", "chat-3")
	clock.Advance(700 * time.Millisecond)
	before = s.countQueries.Load()
	if p, _, err := s.TaskCounts(ctx); err != nil || p != 2 || s.countQueries.Load() != before {
		t.Fatalf("TaskCounts at 0.7 s = %d, %v, %d counts; want the cached 2, no count", p, err, s.countQueries.Load()-before)
	}

	// Three quarters expired: one caller counts again; the others answer
	// from the cache at once instead of waiting for it.
	clock.Advance(100 * time.Millisecond)
	before = s.countQueries.Load()
	release, waitBlocked = blockCounts(t, s)
	refreshed := make(chan int, 1)
	go func() {
		p, _, err := s.TaskCounts(ctx)
		if err != nil {
			t.Errorf("TaskCounts: %v", err)
		}
		refreshed <- p
	}()
	waitBlocked(1)
	for range 5 {
		if p, _, err := s.TaskCounts(ctx); err != nil || p != 2 {
			t.Errorf("TaskCounts during a refresh = %d, %v; want the cached 2 at once", p, err)
		}
	}
	release()
	if p := <-refreshed; p != 3 {
		t.Errorf("the refreshing caller got %d; want 3", p)
	}
	if n := s.countQueries.Load() - before; n != 1 {
		t.Errorf("%d counts sent; want 1", n)
	}
	if p, _, _ := s.TaskCounts(ctx); p != 3 {
		t.Errorf("TaskCounts after the refresh = %d; want 3", p)
	}
}

// TestTaskCountsOwnerGivesUp: when the caller that counts gives up, a
// caller waiting for its count counts again rather than failing too.
func TestTaskCountsOwnerGivesUp(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	s := open(t, testkit.Postgres(t), clock.Now)
	mustCreate(t, s, "t-1", "chat-1")
	before := s.countQueries.Load()

	release, waitBlocked := blockCounts(t, s)
	ownerCtx, cancelOwner := context.WithCancel(context.Background())
	ownerErr := make(chan error, 1)
	go func() {
		_, _, err := s.TaskCounts(ownerCtx)
		ownerErr <- err
	}()
	waitBlocked(1)
	waiter := make(chan error, 1)
	var waiterGot int
	go func() {
		var err error
		waiterGot, _, err = s.TaskCounts(context.Background())
		waiter <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancelOwner()
	if err := <-ownerErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the owner's TaskCounts = %v; want context.Canceled", err)
	}
	waitBlocked(1) // the waiter's own count
	release()
	if err := <-waiter; err != nil || waiterGot != 1 {
		t.Fatalf("the waiter's TaskCounts = %d, %v; want 1", waiterGot, err)
	}
	if n := s.countQueries.Load() - before; n != 2 {
		t.Errorf("%d counts sent; want 2 (the owner's, then the waiter's)", n)
	}
}

// TestTaskCountsFailureShared: a count that fails for the database's sake
// fails the callers that waited for it, with the same error, instead of
// each retrying in turn.
func TestTaskCountsFailureShared(t *testing.T) {
	clock := storetest.NewClock(storetest.Start)
	s := open(t, testkit.Postgres(t), clock.Now)
	before := s.countQueries.Load()
	release, waitBlocked := blockCounts(t, s)
	// The first count is ended by the server, as a statement timeout would.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	wg.Go(func() { _, _, errs[0] = s.TaskCounts(context.Background()) })
	waitBlocked(1)
	for i := 1; i < len(errs); i++ {
		wg.Go(func() { _, _, errs[i] = s.TaskCounts(context.Background()) })
	}
	time.Sleep(100 * time.Millisecond)
	var cancelled bool
	if err := s.pool.QueryRow(context.Background(), `SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%count(*) FILTER%'`).Scan(&cancelled); err != nil || !cancelled {
		t.Fatalf("cancelling the count: %v, %v", cancelled, err)
	}
	wg.Wait()
	release()
	for i, err := range errs {
		if err == nil {
			t.Errorf("caller %d: no error; want the count's", i)
		}
	}
	if n := s.countQueries.Load() - before; n != 1 {
		t.Errorf("%d counts sent; want 1", n)
	}
	// The failure is not cached.
	if p, _, err := s.TaskCounts(context.Background()); err != nil || p != 0 {
		t.Errorf("TaskCounts after the failure = %d, %v; want 0", p, err)
	}
}

// TestSerialCount: counts run without parallel workers, and the setting
// ends with the count instead of staying on a pool connection.
func TestSerialCount(t *testing.T) {
	s := open(t, testkit.Postgres(t), time.Now)
	ctx := context.Background()
	const setting = `SELECT current_setting('max_parallel_workers_per_gather')`
	for range 5 {
		var inside, after string
		if err := s.serialCount(ctx, setting, nil, &inside); err != nil {
			t.Fatal(err)
		}
		if err := s.pool.QueryRow(ctx, setting).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if inside != "0" || after == "0" {
			t.Fatalf("max_parallel_workers_per_gather = %s in a count and %s after it; want 0, then the server's", inside, after)
		}
	}
}
