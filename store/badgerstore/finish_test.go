package badgerstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// startTask creates and claims one task.
func startTask(t *testing.T, s *Store, id string) {
	t.Helper()
	ctx := context.Background()
	now := s.now()
	_, err := s.CreateTask(ctx, store.NewTask{
		Task: &store.Task{ID: id, Agent: "a", ChatID: "chat-" + id, Request: store.Request{Method: "POST", Path: "/"}},
		Chat: &store.Chat{ID: "chat-" + id, Agent: "a", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, s, "w", 1); got[id] == nil {
		t.Fatalf("claimed %v, want %s", got, id)
	}
}

func manyDeliveries(task string, n int) []*store.Delivery {
	payload := bytes.Repeat([]byte("x"), 1500)
	ds := make([]*store.Delivery, n)
	for i := range ds {
		ds[i] = &store.Delivery{ID: fmt.Sprintf("msg_%s_%05d", task, i), TaskID: task, Agent: "a", CallbackID: fmt.Sprintf("cb-%d", i), EventType: "task.succeeded", Payload: payload}
	}
	return ds
}

// TestFinishFanout: a task fanning out to 10,000 callbacks finishes, and
// every delivery is queued, though they cannot fit one transaction.
func TestFinishFanout(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := open(t, t.TempDir(), clock.Now)
	defer s.Close()
	ctx := context.Background()
	startTask(t, s, "t1")
	const n = 10_000
	err := s.FinishTask(ctx, store.TaskFinish{ID: "t1", Owner: "w", Status: store.TaskSuccess,
		ExpiresAt: clock.Now().Add(time.Hour), Deliveries: manyDeliveries("t1", n)})
	if err != nil {
		t.Fatalf("FinishTask with %d deliveries: %v", n, err)
	}
	if pending, _, _ := s.DeliveryCounts(ctx); pending != n {
		t.Fatalf("%d deliveries queued, want %d", pending, n)
	}
	task, err := s.GetTask(ctx, "t1")
	if err != nil || task.Status != store.TaskSuccess {
		t.Fatalf("task %+v, %v", task, err)
	}
	ds, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 5})
	if err != nil || len(ds) != 5 || len(ds[0].Payload) != 1500 {
		t.Fatalf("claimed %d deliveries (%v)", len(ds), err)
	}
	var left int
	_ = s.db.View(func(txn *badger.Txn) error {
		return scan(txn, pFanout, func(string, []byte) error { left++; return nil })
	})
	if left != 0 {
		t.Fatalf("%d fan-out values left after unpacking", left)
	}
}

// TestFanoutSurvivesCrash: fan-out values left packed by a crash are
// queued when the store opens again.
func TestFanoutSurvivesCrash(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	dir := t.TempDir()
	s := open(t, dir, clock.Now)
	ds := manyDeliveries("t2", 30)
	err := s.db.Update(func(txn *badger.Txn) error {
		for i, c := range [][]*store.Delivery{ds[:10], ds[10:]} {
			b, err := json.Marshal(packDeliveries(c))
			if err != nil {
				return err
			}
			if err := txn.Set(key(pFanout, "t2", fmt.Sprintf("%08d", i)), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, clock.Now)
	defer s.Close()
	if pending, _, _ := s.DeliveryCounts(context.Background()); pending != len(ds) {
		t.Fatalf("%d deliveries queued after reopening, want %d", pending, len(ds))
	}
	d, err := s.GetDelivery(context.Background(), ds[17].ID)
	if err != nil || !bytes.Equal(d.Payload, ds[17].Payload) || d.Status != store.DeliveryPending {
		t.Fatalf("delivery %+v, %v", d, err)
	}
}

// TestRebuildKeepsClaims: a failed commit rebuilds the indexes, and work
// in flight keeps its claim instead of being handed out again.
func TestRebuildKeepsClaims(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := open(t, t.TempDir(), clock.Now)
	defer s.Close()
	startTask(t, s, "t3")
	if err := s.rebuild(); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, s, "other", 10); len(got) != 0 {
		t.Fatalf("a rebuild handed out running work: %v", got)
	}
	if err := s.FinishTask(context.Background(), store.TaskFinish{ID: "t3", Owner: "w", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("the holder lost its claim in the rebuild: %v", err)
	}
}
