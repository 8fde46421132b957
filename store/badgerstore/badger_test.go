package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
		s, err := Open(Options{Dir: t.TempDir(), Now: c.Now, GCInterval: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func open(t testing.TB, dir string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Now: now, GCInterval: -1})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func newTask(id, chat string) store.NewTask {
	return store.NewTask{Task: &store.Task{
		ID: id, Agent: "agent-a", ChatID: chat,
		Request: store.Request{Method: "POST", Path: "/p", Body: []byte("body of " + id)},
	}}
}

func mustCreate(t testing.TB, s *Store, id, chat string) *store.Task {
	t.Helper()
	c, err := s.CreateTask(context.Background(), newTask(id, chat))
	if err != nil {
		t.Fatalf("CreateTask(%s): %v", id, err)
	}
	return c.Task
}

func claimIDs(t testing.TB, s *Store, owner string, limit int) map[string]*store.Task {
	t.Helper()
	ts, _, err := s.ClaimTasks(context.Background(), store.Claim{Owner: owner, Limit: limit, Lease: time.Minute})
	if err != nil {
		t.Fatalf("ClaimTasks: %v", err)
	}
	out := map[string]*store.Task{}
	for _, x := range ts {
		out[x.ID] = x
	}
	return out
}

// TestReopenTasks simulates a crash: tasks left PENDING or STARTED are
// claimable after reopening, STARTED ones with their attempt counted.
func TestReopenTasks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := storetest.NewClock(storetest.Start)
	s := open(t, dir, clock.Now)
	mustCreate(t, s, "a1", "chat-a")
	mustCreate(t, s, "a2", "chat-a")
	mustCreate(t, s, "b1", "chat-b")
	mustCreate(t, s, "c1", "chat-c")
	got := claimIDs(t, s, "w1", 2) // a1 and b1: the oldest heads
	if got["a1"] == nil || got["b1"] == nil {
		t.Fatalf("claimed %v, want a1 and b1", got)
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "b1", Owner: "w1", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir, clock.Now)
	defer s.Close()
	if p, st, _ := s.TaskCounts(ctx); p != 3 || st != 0 {
		t.Fatalf("TaskCounts after reopen = %d, %d; want 3 pending, 0 started", p, st)
	}
	got = claimIDs(t, s, "w2", 10)
	if len(got) != 2 || got["a1"] == nil || got["c1"] == nil {
		t.Fatalf("claimed %v after reopen, want a1 and c1", got)
	}
	// Claims are not written to disk (one process owns the directory),
	// so the attempt cut short by the crash does not count.
	if n := got["a1"].Attempts; n != 1 {
		t.Fatalf("a1 has %d attempts after reopen and reclaim, want 1", n)
	}
	if string(got["a1"].Request.Body) != "body of a1" {
		t.Fatalf("a1 body %q after reopen", got["a1"].Request.Body)
	}
	// The old owner's lease died with the process.
	err := s.FinishTask(ctx, store.TaskFinish{ID: "a1", Owner: "w1", Status: store.TaskSuccess})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("FinishTask by the owner before the crash: %v, want ErrLeaseLost", err)
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "a1", Owner: "w2", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	got = claimIDs(t, s, "w2", 10)
	if len(got) != 1 || got["a2"] == nil {
		t.Fatalf("claimed %v, want a2", got)
	}
	// A new task in an old chat still goes after the tasks before it.
	clock.Advance(-time.Hour) // even if the clock went back
	mustCreate(t, s, "a3", "chat-a")
	if got := claimIDs(t, s, "w2", 10); len(got) != 0 {
		t.Fatalf("claimed %v while a2 runs", got)
	}
	if b, err := s.GetTask(ctx, "b1"); err != nil || b.Status != store.TaskSuccess {
		t.Fatalf("GetTask(b1) after reopen = %+v, %v", b, err)
	}
}

// TestReopenDeliveries checks that pending deliveries, their order and
// the dead-letter count survive a restart.
func TestReopenDeliveries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := storetest.NewClock(storetest.Start)
	s := open(t, dir, clock.Now)
	mustCreate(t, s, "t1", "chat-1")
	claimIDs(t, s, "w1", 1)
	var ds []*store.Delivery
	for i := range 4 {
		ds = append(ds, &store.Delivery{
			ID: fmt.Sprint("d", i), Agent: "agent-a", CallbackID: "cb", OrderKey: "k",
			EventType: "task.succeeded", Payload: []byte(fmt.Sprint("payload ", i)),
		})
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "t1", Owner: "w1", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour), Deliveries: ds}); err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	claim := func(s *Store, owner string) []*store.Delivery {
		t.Helper()
		got, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: owner, Limit: 10, Lease: time.Minute})
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		return got
	}
	got := claim(s, "x1")
	if len(got) != 1 || got[0].ID != "d0" {
		t.Fatalf("claimed %v, want d0", got)
	}
	if err := s.RecordAttempt(ctx, store.DeliveryOutcome{ID: "d0", Owner: "x1", Status: store.DeliveryFailed, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	got = claim(s, "x1") // d1 stays leased across the "crash"
	if len(got) != 1 || got[0].ID != "d1" {
		t.Fatalf("claimed %v, want d1", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir, clock.Now)
	defer s.Close()
	if p, f, _ := s.DeliveryCounts(ctx); p != 3 || f != 1 {
		t.Fatalf("DeliveryCounts after reopen = %d, %d; want 3, 1", p, f)
	}
	for i := 1; i < 4; i++ {
		got := claim(s, "x2")
		if len(got) != 1 || got[0].ID != fmt.Sprint("d", i) || string(got[0].Payload) != fmt.Sprint("payload ", i) {
			t.Fatalf("claim %d after reopen got %+v, want d%d", i, got, i)
		}
		if err := s.RecordAttempt(ctx, store.DeliveryOutcome{ID: got[0].ID, Owner: "x2", Status: store.DeliveryDelivered, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("RecordAttempt: %v", err)
		}
	}
	if n, err := s.RecoverDeliveries(ctx, store.RecoverFilter{Agent: "agent-a"}); err != nil || n != 1 {
		t.Fatalf("RecoverDeliveries = %d, %v; want 1", n, err)
	}
}

// TestTTLOnDisk checks that Badger itself drops a finished task's records
// once its ExpiresAt has passed on the real clock.
func TestTTLOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a real expiry")
	}
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	mustCreate(t, s, "t-expiring", "chat-1")
	mustCreate(t, s, "t-kept", "chat-2")
	claimIDs(t, s, "w1", 10)
	fin := func(id string, exp time.Time) {
		t.Helper()
		err := s.FinishTask(ctx, store.TaskFinish{
			ID: id, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: exp,
			Result: &store.Result{StatusCode: 200, Body: []byte("result of " + id)},
		})
		if err != nil {
			t.Fatalf("FinishTask(%s): %v", id, err)
		}
	}
	fin("t-expiring", time.Now().Add(time.Second))
	fin("t-kept", time.Now().Add(time.Hour))
	keys := func() []string {
		var out []string
		err := s.DB().View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.DefaultIteratorOptions)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				out = append(out, string(it.Item().KeyCopy(nil)))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("iterating: %v", err)
		}
		return out
	}
	has := func(ks []string, id string) bool {
		for _, k := range ks {
			if strings.HasSuffix(k, "/"+id) {
				return true
			}
		}
		return false
	}
	if ks := keys(); !has(ks, "t-expiring") || !has(ks, "t-kept") {
		t.Fatalf("keys before expiry: %q", ks)
	}
	time.Sleep(2500 * time.Millisecond)
	ks := keys()
	if has(ks, "t-expiring") {
		t.Fatalf("keys of the expired task are still there: %q", ks)
	}
	if !has(ks, "t-kept") {
		t.Fatalf("keys of the kept task are gone: %q", ks)
	}
	if _, err := s.GetTask(ctx, "t-expiring"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask(expired) = %v, want ErrNotFound", err)
	}
	if g, err := s.GetTask(ctx, "t-kept"); err != nil || string(g.Result.Body) != "result of t-kept" {
		t.Fatalf("GetTask(t-kept) = %+v, %v", g, err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	defer s.Close()
	s2, err := Open(Options{Dir: dir, GCInterval: -1})
	if err == nil {
		s2.Close()
		t.Fatalf("a second Open of %s succeeded", dir)
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want an error saying the directory is in use", err)
	}
}

func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatalf("Open without a directory succeeded")
	}
}

func TestClosedStore(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.CreateTask(context.Background(), newTask("t1", "c1")); err == nil {
		t.Fatalf("CreateTask after Close succeeded")
	}
}

// TestGroupCommit creates 500 tasks at once; all of them must be there
// after a reopen, which also proves they were written before the calls
// returned.
func TestGroupCommit(t *testing.T) {
	const n = 500
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, nil)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("task-", i)
			nt := newTask(id, fmt.Sprint("chat-", i%50))
			nt.Task.Request.Body = make([]byte, i*8) // some inline, some in the value log
			nt.Chat = &store.Chat{ID: fmt.Sprint("chat-", i%50), Agent: "agent-a", ExpiresAt: time.Now().Add(time.Hour)}
			if _, err := s.CreateTask(ctx, nt); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, dir, nil)
	defer s.Close()
	for i := range n {
		g, err := s.GetTask(ctx, fmt.Sprint("task-", i))
		if err != nil || g.Status != store.TaskPending || len(g.Request.Body) != i*8 {
			t.Fatalf("task-%d after reopen: %+v, %v", i, g, err)
		}
	}
	if p, _, _ := s.TaskCounts(ctx); p != n {
		t.Fatalf("TaskCounts after reopen: %d pending, want %d", p, n)
	}
	if got := claimIDs(t, s, "w1", 100); len(got) != 50 {
		t.Fatalf("claimed %d tasks, want one per chat (50)", len(got))
	}
}

// TestBigBatch pushes more bytes through the writer than one transaction
// holds, so that batches are split.
func TestBigBatch(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	hdr := strings.Repeat("h", 900)
	for i := range n {
		wg.Go(func() {
			nt := newTask(fmt.Sprint("task-", i), fmt.Sprint("chat-", i))
			nt.Task.Request.Header = map[string][]string{}
			for j := range 16 { // about 16 KiB of headers, the handler's cap
				nt.Task.Request.Header[fmt.Sprint("X-H", j)] = []string{hdr}
			}
			nt.Task.Request.Body = make([]byte, 900) // inline
			if _, err := s.CreateTask(ctx, nt); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	claimed := 0
	for {
		ts, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w1", Limit: 1000, Lease: time.Minute})
		if err != nil {
			t.Fatalf("ClaimTasks: %v", err)
		}
		if len(ts) == 0 {
			break
		}
		claimed += len(ts)
		for _, x := range ts {
			wg.Go(func() {
				err := s.FinishTask(ctx, store.TaskFinish{ID: x.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: time.Now().Add(time.Hour),
					Result: &store.Result{StatusCode: 200, Body: make([]byte, 900)}})
				if err != nil {
					t.Errorf("FinishTask(%s): %v", x.ID, err)
				}
			})
		}
		wg.Wait()
	}
	if claimed != n {
		t.Fatalf("claimed %d tasks, want %d", claimed, n)
	}
}

func BenchmarkCreateTask(b *testing.B) {
	s := open(b, b.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	body := make([]byte, 512)
	var mu sync.Mutex
	n := 0
	b.ReportAllocs()
	b.SetParallelism(16) // 16 requests per CPU waiting on the fsync
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			nt := newTask(fmt.Sprint("task-", i), fmt.Sprint("chat-", i%1000))
			nt.Task.Request.Body = body
			if _, err := s.CreateTask(ctx, nt); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCreateTaskSerial is the same without concurrency: one fsync per
// task, the baseline that group commit improves on.
func BenchmarkCreateTaskSerial(b *testing.B) {
	s := open(b, b.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	body := make([]byte, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		nt := newTask(fmt.Sprint("task-", i), fmt.Sprint("chat-", i%1000))
		nt.Task.Request.Body = body
		if _, err := s.CreateTask(ctx, nt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimFinish(b *testing.B) {
	s := open(b, b.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	for i := range b.N {
		mustCreate(b, s, fmt.Sprint("task-", i), fmt.Sprint("chat-", i%1000))
	}
	var mu sync.Mutex
	w := 0
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		w++
		owner := fmt.Sprint("worker-", w)
		mu.Unlock()
		for pb.Next() {
			ts, _, err := s.ClaimTasks(ctx, store.Claim{Owner: owner, Limit: 1, Lease: time.Minute})
			if err != nil {
				b.Error(err)
				return
			}
			for _, t := range ts {
				err := s.FinishTask(ctx, store.TaskFinish{ID: t.ID, Owner: owner, Status: store.TaskSuccess,
					ExpiresAt: time.Now().Add(time.Hour), Result: &store.Result{StatusCode: 200, Body: []byte("ok")}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}
