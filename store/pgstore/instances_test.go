package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// TestInstancesCompete runs two stores on one database, as two Caddy
// instances, with two workers each, all claiming and finishing the same
// tasks: no task runs twice, no chat runs two tasks at once, and each
// chat's tasks start in creation order.
func TestInstancesCompete(t *testing.T) {
	ctx := context.Background()
	dsn := testkit.Postgres(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	const nChats, n = 8, 120
	order := map[string][]string{}
	for i := range n {
		chat := fmt.Sprint("chat-", i%nChats)
		s := a
		if i%2 == 1 {
			s = b // creation alternates between instances
		}
		task := mustCreate(t, s, fmt.Sprint("task-", i), chat)
		order[chat] = append(order[chat], task.ID)
	}
	var mu sync.Mutex
	running := map[string]string{}   // chat -> task
	claimed := map[string]string{}   // task -> owner
	started := map[string][]string{} // chat -> tasks in start order
	done := 0
	var wg sync.WaitGroup
	for w := range 4 {
		s, owner := a, fmt.Sprint("a-", w)
		if w%2 == 1 {
			s, owner = b, fmt.Sprint("b-", w)
		}
		wg.Go(func() {
			for idle := 0; idle < 2000; {
				mu.Lock()
				finished := done == n
				mu.Unlock()
				if finished || t.Failed() {
					return
				}
				ts, _, err := s.ClaimTasks(ctx, store.Claim{Owner: owner, Limit: 3, Lease: time.Hour})
				if err != nil {
					t.Errorf("ClaimTasks: %v", err)
					return
				}
				if len(ts) == 0 {
					idle++
					time.Sleep(2 * time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, task := range ts {
					if o, dup := claimed[task.ID]; dup {
						t.Errorf("%s claimed %s, already claimed by %s", owner, task.ID, o)
					}
					if r, busy := running[task.ChatID]; busy {
						t.Errorf("%s claimed %s while %s runs in %s", owner, task.ID, r, task.ChatID)
					}
					claimed[task.ID], running[task.ChatID] = owner, task.ID
					started[task.ChatID] = append(started[task.ChatID], task.ID)
				}
				mu.Unlock()
				for _, task := range ts {
					mu.Lock()
					delete(running, task.ChatID)
					mu.Unlock()
					err := s.FinishTask(ctx, store.TaskFinish{ID: task.ID, Owner: owner, Status: store.TaskSuccess, ExpiresAt: time.Now().Add(time.Hour)})
					if err != nil {
						t.Errorf("FinishTask(%s): %v", task.ID, err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
			t.Errorf("%s gave up waiting for work", owner)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for chat, want := range order {
		if !slices.Equal(started[chat], want) {
			t.Errorf("chat %s started %v, want %v", chat, started[chat], want)
		}
	}
	owners := map[string]bool{}
	for _, o := range claimed {
		owners[o[:1]] = true
	}
	if !owners["a"] || !owners["b"] {
		t.Logf("only instances %v claimed work; the test did not exercise competition", owners)
	}
}

// TestInstanceClosedLeaseTakenOver closes an instance that holds leases:
// the other instance claims the work once the leases run out, and the
// first instance's owner can no longer finish it.
func TestInstanceClosedLeaseTakenOver(t *testing.T) {
	ctx := context.Background()
	dsn := testkit.Postgres(t)
	clock := storetest.NewClock(storetest.Start)
	a := open(t, dsn, clock.Now)
	b := open(t, dsn, clock.Now)
	mustCreate(t, a, "t1", "chat-1")
	mustCreate(t, a, "t2", "chat-1")
	mustCreate(t, a, "t3", "chat-2")
	got, _, err := a.ClaimTasks(ctx, store.Claim{Owner: "a-1", Limit: 10, Lease: time.Minute})
	if err != nil || len(got) != 2 {
		t.Fatalf("a claimed %d tasks, %v; want t1 and t3", len(got), err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, next, err := b.ClaimTasks(ctx, store.Claim{Owner: "b-1", Limit: 10, Lease: time.Minute}); err != nil || len(got) != 0 {
		t.Fatalf("b claimed %d tasks while a's leases run, %v", len(got), err)
	} else if want := storetest.Start.Add(time.Minute); !next.Equal(want) {
		t.Fatalf("next = %v, want the end of the lease, %v", next, want)
	}
	clock.Advance(time.Minute + time.Second)
	got, _, err = b.ClaimTasks(ctx, store.Claim{Owner: "b-1", Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatalf("ClaimTasks: %v", err)
	}
	ids := []string{}
	for _, task := range got {
		ids = append(ids, task.ID)
		if task.Attempts != 2 || task.LeaseOwner != "b-1" {
			t.Errorf("%s: attempts %d, owner %s; want 2, b-1", task.ID, task.Attempts, task.LeaseOwner)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"t1", "t3"}) {
		t.Fatalf("b claimed %v after the leases, want [t1 t3]", ids)
	}
	err = b.FinishTask(ctx, store.TaskFinish{ID: "t1", Owner: "a-1", Status: store.TaskSuccess})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("FinishTask by the closed instance's owner: %v, want ErrLeaseLost", err)
	}
	if _, err := a.GetTask(ctx, "t1"); err == nil {
		t.Fatalf("GetTask on a closed store succeeded")
	}
}

// TestWakeAcrossInstances checks that work made claimable on one instance
// wakes the runners of another, through LISTEN/NOTIFY.
func TestWakeAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn := testkit.Postgres(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	drain(b.TaskWake())
	mustCreate(t, a, "t1", "chat-1")
	if !woken(b.TaskWake(), 2*time.Second) {
		t.Fatalf("b's TaskWake did not receive after a's CreateTask")
	}
	ts, _, err := a.ClaimTasks(ctx, store.Claim{Owner: "a-1", Limit: 1, Lease: time.Minute})
	if err != nil || len(ts) != 1 {
		t.Fatalf("ClaimTasks = %d, %v", len(ts), err)
	}
	drain(b.DeliveryWake())
	drain(b.TaskWake())
	err = a.FinishTask(ctx, store.TaskFinish{ID: "t1", Owner: "a-1", Status: store.TaskSuccess,
		Deliveries: []*store.Delivery{{ID: "d1", TaskID: "t1", Agent: "agent-a", CallbackID: "cb-1", Payload: []byte("{}")}}})
	if err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	if !woken(b.DeliveryWake(), 2*time.Second) {
		t.Fatalf("b's DeliveryWake did not receive after a's FinishTask with a delivery")
	}
	if !woken(b.TaskWake(), 2*time.Second) {
		t.Fatalf("b's TaskWake did not receive after a's FinishTask")
	}
	// The notification reaches b even if nothing else happens on a.
	ds, _, err := b.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "b-1", Limit: 1, Lease: time.Minute})
	if err != nil || len(ds) != 1 {
		t.Fatalf("b claimed %d deliveries, %v; want d1", len(ds), err)
	}
	drain(a.DeliveryWake())
	if err := b.ReleaseDelivery(ctx, "d1", "b-1"); err != nil {
		t.Fatalf("ReleaseDelivery: %v", err)
	}
	if !woken(a.DeliveryWake(), 2*time.Second) {
		t.Fatalf("a's DeliveryWake did not receive after b's ReleaseDelivery")
	}
}

// TestSafetyWake checks that the listener wakes the runners now and then
// with nothing happening, which bounds the delay a lost notification can
// cause.
func TestSafetyWake(t *testing.T) {
	// Restored after the store is closed (cleanups run last first).
	old := safetyWake
	t.Cleanup(func() { safetyWake = old })
	safetyWake = 300 * time.Millisecond
	s := open(t, testkit.Postgres(t), nil)
	for range 2 {
		drain(s.TaskWake())
		drain(s.DeliveryWake())
		if !woken(s.TaskWake(), 2*time.Second) || !woken(s.DeliveryWake(), time.Second) {
			t.Fatalf("no wake-up without activity within 2s")
		}
	}
}

// TestInstancesHistory: two instances append to one chat's history at
// once; the chat's row lock keeps each exchange's turns together.
func TestInstancesHistory(t *testing.T) {
	dsn := testkit.Postgres(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	now := time.Now().UTC().Truncate(time.Second)
	c := &store.Chat{ID: "chat-history", Agent: "agent", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := a.SaveChat(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	storetest.ConcurrentAppends(t, []store.Store{a, b}, c, 24)
}
