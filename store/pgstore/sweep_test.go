package pgstore

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// TestSweep fills every table that expires, lets the clock pass the
// expiries, and checks that the sweeper goroutine deletes exactly the
// expired rows.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Start)
	s, err := Open(ctx, Options{DSN: testkit.Postgres(t), Now: clock.Now, SweepInterval: 20 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	now := clock.Now()
	hour, day := now.Add(time.Hour), now.Add(24*time.Hour)

	// A finished task that expires in an hour, with a delivery that is
	// delivered and expires in an hour, and one still pending.
	n := newTask("done", "chat-1")
	n.Chat = &store.Chat{ID: "chat-1", Agent: "agent-a", ExpiresAt: hour}
	n.Idempotency = &store.Idempotency{Key: "key-1", Fingerprint: "fp", ExpiresAt: hour}
	if _, err := s.CreateTask(ctx, n); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	mustCreate(t, s, "pending", "chat-2")
	if err := s.SaveChat(ctx, &store.Chat{ID: "chat-2", Agent: "agent-a", ExpiresAt: day}); err != nil {
		t.Fatalf("SaveChat: %v", err)
	}
	if _, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 1, Lease: time.Minute}); err != nil {
		t.Fatalf("ClaimTasks: %v", err)
	}
	err = s.FinishTask(ctx, store.TaskFinish{ID: "done", Owner: "w", Status: store.TaskSuccess, ExpiresAt: hour,
		Deliveries: []*store.Delivery{
			{ID: "d-delivered", CallbackID: "cb", Agent: "agent-a"},
			{ID: "d-pending", CallbackID: "cb", Agent: "agent-a"},
		}})
	if err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	if _, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 10, Lease: time.Minute}); err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	err = s.RecordAttempt(ctx, store.DeliveryOutcome{ID: "d-delivered", Owner: "d", Status: store.DeliveryDelivered, ExpiresAt: hour})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	if _, err := s.Remember(ctx, "replay-1", time.Hour); err != nil {
		t.Fatalf("Remember: %v", err)
	}
	if _, err := s.Remember(ctx, "replay-2", 48*time.Hour); err != nil {
		t.Fatalf("Remember: %v", err)
	}

	time.Sleep(100 * time.Millisecond) // sweeps that find nothing yet
	want := map[string]int{"agenthook_tasks": 2, "agenthook_deliveries": 2, "agenthook_chats": 2,
		"agenthook_idempotency": 1, "agenthook_replay_keys": 2}
	wantRows(t, s, want)

	clock.Advance(2 * time.Hour)
	want = map[string]int{"agenthook_tasks": 1, "agenthook_deliveries": 1, "agenthook_chats": 1,
		"agenthook_idempotency": 0, "agenthook_replay_keys": 1}
	deadline := time.Now().Add(5 * time.Second)
	for !rowsAre(t, s, want) {
		if time.Now().After(deadline) {
			wantRows(t, s, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.GetTask(ctx, "pending"); err != nil {
		t.Fatalf("GetTask(pending) after the sweep: %v", err)
	}
	if _, err := s.GetDelivery(ctx, "d-pending"); err != nil {
		t.Fatalf("GetDelivery(d-pending) after the sweep: %v", err)
	}
}

// TestSweepBatches checks that one sweep deletes more rows than fit in one
// batch.
func TestSweepBatches(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Start)
	s := open(t, testkit.Postgres(t), clock.Now)
	_, err := s.Pool().Exec(ctx, `INSERT INTO agenthook_replay_keys (key, expires_at)
		SELECT convert_to('k' || i, 'UTF8'), $1 FROM generate_series(1, $2) AS i`, clock.Now(), 2*sweepBatch+5)
	if err != nil {
		t.Fatalf("inserting keys: %v", err)
	}
	n, err := s.sweep(ctx)
	if err != nil || n != 2*sweepBatch+5 {
		t.Fatalf("sweep = %d, %v; want %d", n, err, 2*sweepBatch+5)
	}
}

func countRows(t *testing.T, s *Store) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, tb := range sweepTables {
		var n int
		if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM `+tb.table).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", tb.table, err)
		}
		got[tb.table] = n
	}
	return got
}

func rowsAre(t *testing.T, s *Store, want map[string]int) bool {
	t.Helper()
	got := countRows(t, s)
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func wantRows(t *testing.T, s *Store, want map[string]int) {
	t.Helper()
	if !rowsAre(t, s, want) {
		t.Fatalf("rows = %v, want %v", countRows(t, s), want)
	}
}
