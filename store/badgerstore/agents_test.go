package badgerstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// TestReopenKnowsDeliveryAgents: after a restart, claims still skip and
// cap agents, also for pending deliveries whose index entries were
// written before they named their agent (read from the delivery then).
func TestReopenKnowsDeliveryAgents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := storetest.NewClock(storetest.Start)
	s := open(t, dir, clock.Now)
	mustCreate(t, s, "t1", "chat-1")
	claimIDs(t, s, "w1", 1)
	var ds []*store.Delivery
	for i := range 4 {
		agent := "agent-a"
		if i%2 == 1 {
			agent = "agent-b"
		}
		ds = append(ds, &store.Delivery{
			ID: fmt.Sprint("d", i), Agent: agent, CallbackID: "cb-" + agent, EventType: "task.succeeded", Payload: []byte("{}"),
		})
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "t1", Owner: "w1", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour), Deliveries: ds}); err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	// Rewrite agent-a's index entries as an older version wrote them.
	err := s.db.Update(func(txn *badger.Txn) error {
		for _, d := range []*store.Delivery{ds[0], ds[2]} {
			b, err := json.Marshal(struct {
				Callback      string    `json:"p"`
				Seq           int64     `json:"s"`
				NextAttemptAt time.Time `json:"r"`
			}{d.CallbackID, 0, clock.Now()})
			if err != nil {
				return err
			}
			if err := txn.Set(key(pDelivAct, d.ID), b); err != nil {
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
	got, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "x", Limit: 10, Lease: time.Minute, SkipAgents: []string{"agent-a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.Agent != "agent-b" {
			t.Fatalf("claimed %s of %s, a skipped agent", d.ID, d.Agent)
		}
	}
	if len(got) != 2 {
		t.Fatalf("claimed %d deliveries of agent-b, want 2", len(got))
	}
	got, _, err = s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "y", Limit: 10, Lease: time.Minute, PerAgent: 1})
	if err != nil || len(got) != 1 || got[0].Agent != "agent-a" {
		t.Fatalf("capped claim = %v, %v; want one of agent-a's", got, err)
	}
}
