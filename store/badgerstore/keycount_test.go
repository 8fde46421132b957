package badgerstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// version is one write Badger holds: a key at a commit timestamp.
type version struct {
	key string
	ts  uint64
}

// versions lists every version in the store, deletes included, with the
// bytes each one cost (key plus value, or the value's size when it sits
// in the value log). A test store never flushes its memtable, so nothing
// is compacted away: the list is every write made since it opened.
func versions(t *testing.T, s *Store) map[version]int {
	t.Helper()
	out := map[version]int{}
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			n := len(item.Key())
			if !item.IsDeletedOrExpired() {
				n += int(item.ValueSize())
			}
			out[version{string(item.KeyCopy(nil)), item.Version()}] = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writesSince describes the versions in now that were not in before:
// how many, their bytes, and their key prefixes (a "-" marks a delete).
func writesSince(t *testing.T, s *Store, before map[version]int) (n, bytes int, kinds string, now map[version]int) {
	now = versions(t, s)
	var names []string
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.AllVersions = true
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v := version{string(item.Key()), item.Version()}
			if _, old := before[v]; old {
				continue
			}
			n++
			bytes += now[v]
			k := v.key
			if i := strings.Index(k, "/"); i >= 0 {
				k = k[:i+1]
			}
			if item.IsDeletedOrExpired() {
				k = "-" + k
			}
			names = append(names, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return n, bytes, strings.Join(names, " "), now
}

// TestKeysPerTask counts the Badger writes one task makes over its life:
// intake with a new chat (as bench P2), claim, a "started" event's
// delivery, finish with the "completed" event's delivery, both
// deliveries claimed and delivered. The figures are what compaction
// later has to carry; the test fails if one grows, so a change that
// writes more per task is seen.
func TestKeysPerTask(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	before := versions(t, s)
	total, totalBytes := 0, 0
	step := func(name string, max int) {
		t.Helper()
		n, b, kinds, after := writesSince(t, s, before)
		before = after
		total, totalBytes = total+n, totalBytes+b
		t.Logf("%-22s %2d writes %5d bytes: %s", name, n, b, kinds)
		if n > max {
			t.Errorf("%s wrote %d keys, want at most %d", name, n, max)
		}
	}

	body := []byte(`{"prompt":"Where is my order 1? It was due yesterday and the tracking page has not changed since Monday.","customer":{"id":"c-1","tier":"gold"},"channel":"web","locale":"en-GB"}`)
	nt := store.NewTask{
		Task: &store.Task{ID: "task-0123456789abcdef", Agent: "agent-a", ChatID: "chat-0123456789abcdef", Principal: "bench/hmac#1",
			Endpoint: "bench", Request: store.Request{Method: "POST", Host: "127.0.0.1", Path: "/async",
				Header: map[string][]string{"Content-Type": {"application/json"}, "X-Signature": {strings.Repeat("ab", 32)}}, Body: body},
			Meta: map[string]string{"chat_ttl": "720h0m0s"}},
		Chat: &store.Chat{ID: "chat-0123456789abcdef", Agent: "agent-a", Principal: "bench/hmac#1", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(720 * time.Hour)},
	}
	if _, err := s.CreateTask(ctx, nt); err != nil {
		t.Fatal(err)
	}
	step("intake (new chat)", 3)

	ts, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w1", Limit: 1, Lease: time.Minute})
	if err != nil || len(ts) != 1 {
		t.Fatalf("claim: %v %d", err, len(ts))
	}
	step("claim", 0)

	delivery := func(id, event string) *store.Delivery {
		return &store.Delivery{ID: id, MessageID: "msg-" + id, TaskID: nt.Task.ID, Agent: "agent-a", ChatID: nt.Task.ChatID,
			CallbackID: "cb-1", OrderKey: "cb-1/" + nt.Task.ChatID, EventType: event, Payload: []byte(`{"type":"` + event + `","data":{"task_id":"task-0123456789abcdef"}}`),
			Status: store.DeliveryPending, CreatedAt: now, UpdatedAt: now, NextAttemptAt: now}
	}
	if err := s.EnqueueDeliveries(ctx, []*store.Delivery{delivery("dlv-started", "task.started")}); err != nil {
		t.Fatal(err)
	}
	step("started delivery", 4)

	err = s.FinishTask(ctx, store.TaskFinish{ID: nt.Task.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: now.Add(24 * time.Hour),
		Result:     &store.Result{StatusCode: 200, Body: []byte(`{"text":"It left the depot this morning."}`)},
		Deliveries: []*store.Delivery{delivery("dlv-completed", "task.completed")}, ChatExpiresAt: now.Add(720 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	step("finish (1 delivery)", 9)

	for i := range 2 {
		ds, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d1", Limit: 1, Lease: time.Minute})
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim delivery: %v %d", err, len(ds))
		}
		step(fmt.Sprintf("claim delivery %d", i+1), 0)
		err = s.RecordAttempt(ctx, store.DeliveryOutcome{ID: ds[0].ID, Owner: "d1", Status: store.DeliveryDelivered,
			Attempt: store.Attempt{At: now, StatusCode: 204, Latency: time.Millisecond}, ExpiresAt: now.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		step(fmt.Sprintf("delivered %d", i+1), 3)
	}
	t.Logf("whole life: %d writes, %d bytes", total, totalBytes)
}
