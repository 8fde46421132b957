package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/agenthook/agenthook/store"
)

var concurrencyTests = []test{
	{"CreateTask", testConcCreate},
	{"IdempotentCreate", testConcIdem},
	{"TaskClaimers", testConcClaimers},
	{"DeliveryClaimers", testConcDeliveryClaimers},
}

// testConcCreate creates 200 tasks at once, in distinct and shared chats,
// while one goroutine creates tasks of its own chat one after the other.
func testConcCreate(h *harness) {
	const n, nShared, nSeq = 200, 5, 20
	type made struct {
		chat string
		seq  int64
	}
	var mu sync.Mutex
	created := map[string]made{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			chat := fmt.Sprint("solo-", i)
			if i%4 == 0 {
				chat = fmt.Sprint("shared-", i%nShared)
			}
			t := h.newTask(fmt.Sprint("agent-", i%3), chat)
			t.Request.Body = binary(64+i*16, byte(i))
			c, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t})
			if err != nil || c.Replayed || c.Task == nil || c.Task.ID != t.ID {
				h.Errorf("CreateTask(%s) = %+v, %v", t.ID, c, err)
				return
			}
			mu.Lock()
			created[t.ID] = made{chat, c.Task.Seq}
			mu.Unlock()
		})
	}
	var seqIDs []string
	wg.Go(func() {
		var last int64
		for i := range nSeq {
			t := h.newTask("agent-0", "sequential")
			c, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t})
			if err != nil {
				h.Errorf("CreateTask(%s): %v", t.ID, err)
				return
			}
			if i > 0 && c.Task.Seq <= last {
				h.Errorf("sequential task %d: seq %d after %d", i, c.Task.Seq, last)
			}
			last = c.Task.Seq
			seqIDs = append(seqIDs, t.ID)
			mu.Lock()
			created[t.ID] = made{"sequential", c.Task.Seq}
			mu.Unlock()
		}
	})
	wg.Wait()
	if h.Failed() {
		h.FailNow()
	}
	if len(created) != n+nSeq {
		h.Fatalf("%d tasks created, want %d", len(created), n+nSeq)
	}
	seqs := map[string]map[int64]bool{}
	for id, m := range created {
		g := h.get(id)
		if g.ChatID != m.chat || g.Seq != m.seq || g.Status != store.TaskPending {
			h.Fatalf("GetTask(%s): chat %s seq %d %s; want chat %s seq %d PENDING", id, g.ChatID, g.Seq, g.Status, m.chat, m.seq)
		}
		if seqs[m.chat] == nil {
			seqs[m.chat] = map[int64]bool{}
		}
		if seqs[m.chat][m.seq] {
			h.Fatalf("two tasks of chat %s have seq %d", m.chat, m.seq)
		}
		seqs[m.chat][m.seq] = true
	}
	h.wantTaskCounts(n+nSeq, 0)

	// Draining the queue visits each chat's tasks in seq order, and the
	// sequential chat in the order its tasks were created.
	last := map[string]int64{}
	var seqOrder []string
	for done := 0; done < n+nSeq; {
		got := h.claim("w1", 50)
		if len(got) == 0 {
			h.Fatalf("nothing claimable with %d of %d tasks done", done, n+nSeq)
		}
		for _, t := range got {
			if t.Seq <= last[t.ChatID] {
				h.Fatalf("claimed %s of chat %s with seq %d after %d", t.ID, t.ChatID, t.Seq, last[t.ChatID])
			}
			last[t.ChatID] = t.Seq
			if t.ChatID == "sequential" {
				seqOrder = append(seqOrder, t.ID)
			}
			h.finish(t.ID, "w1")
			done++
		}
	}
	wantOrder(h, "sequential chat", seqOrder, seqIDs...)
}

func testConcIdem(h *harness) {
	const n = 20
	exp := h.now().Add(time.Hour)
	var mu sync.Mutex
	fresh := 0
	first := map[string]bool{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := h.createIdem(h.newTask("agent-a", h.id("chat")), nil, "same-key", "fp", exp)
			if err != nil {
				h.Errorf("CreateTask: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !c.Replayed {
				fresh++
			}
			first[c.Task.ID] = true
		})
	}
	wg.Wait()
	if fresh != 1 || len(first) != 1 {
		h.Fatalf("%d concurrent creates with one key made %d tasks and returned %d ids; want 1 and 1", n, fresh, len(first))
	}
	h.wantTaskCounts(1, 0)
}

// testConcClaimers lets four workers claim and finish 120 tasks at once.
// No task may be handed out twice while leases are valid, and no chat may
// run two tasks at once.
func testConcClaimers(h *harness) {
	const nChats, n, workers = 12, 120, 4
	order := map[string][]string{}
	for i := range n {
		chat := fmt.Sprint("chat-", i%nChats)
		if i%10 == 9 {
			chat = fmt.Sprint("solo-", i)
		}
		t := h.add("agent-a", chat)
		order[chat] = append(order[chat], t.ID)
	}
	var mu sync.Mutex
	running := map[string]string{} // chat -> task
	claimed := map[string]string{} // task -> owner
	started := map[string][]string{}
	done := 0
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for idle := 0; idle < 5000; {
				mu.Lock()
				finished := done == n
				mu.Unlock()
				if finished || h.Failed() {
					return
				}
				ts, _, err := h.s.ClaimTasks(h.ctx, store.Claim{Owner: owner, Limit: 3, Lease: time.Hour})
				if err != nil {
					h.Errorf("ClaimTasks: %v", err)
					return
				}
				if len(ts) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, t := range ts {
					if o, dup := claimed[t.ID]; dup {
						h.Errorf("%s claimed %s, already claimed by %s", owner, t.ID, o)
					}
					if r, busy := running[t.ChatID]; busy {
						h.Errorf("%s claimed %s while %s runs in chat %s", owner, t.ID, r, t.ChatID)
					}
					claimed[t.ID] = owner
					running[t.ChatID] = t.ID
					started[t.ChatID] = append(started[t.ChatID], t.ID)
				}
				mu.Unlock()
				for _, t := range ts {
					// Free the chat before finishing: its next task cannot
					// be claimed until FinishTask has committed.
					mu.Lock()
					delete(running, t.ChatID)
					mu.Unlock()
					err := h.s.FinishTask(h.ctx, store.TaskFinish{
						ID: t.ID, Owner: owner, Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour),
					})
					if err != nil {
						h.Errorf("FinishTask(%s, %s): %v", t.ID, owner, err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
			h.Errorf("%s gave up waiting for work", owner)
		})
	}
	wg.Wait()
	if h.Failed() {
		h.FailNow()
	}
	for chat, want := range order {
		wantOrder(h, "tasks started in "+chat, started[chat], want...)
	}
	h.wantTaskCounts(0, 0)
}

// testConcDeliveryClaimers lets four dispatchers deliver 80 deliveries at
// once, some sharing order keys.
func testConcDeliveryClaimers(h *harness) {
	const n, nKeys, workers = 80, 6, 4
	order := map[string][]string{}
	keyOf := map[string]string{}
	for i := 0; i < n; i += 8 {
		var ds []*store.Delivery
		for j := i; j < i+8; j++ {
			k := ""
			if j%4 != 0 {
				k = fmt.Sprint("key-", j%nKeys)
			}
			d := h.newDelivery("agent-a", fmt.Sprint("cb-", j%3), k, binary(100, byte(j)))
			ds = append(ds, d)
			keyOf[d.ID] = k
			if k != "" {
				order[k] = append(order[k], d.ID)
			}
		}
		h.enqueue(ds...)
	}
	var mu sync.Mutex
	running := map[string]string{}
	claimed := map[string]string{}
	started := map[string][]string{}
	done := 0
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprint("dispatcher-", w)
		wg.Go(func() {
			for idle := 0; idle < 5000; {
				mu.Lock()
				finished := done == n
				mu.Unlock()
				if finished || h.Failed() {
					return
				}
				ds, _, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: owner, Limit: 3, Lease: time.Hour})
				if err != nil {
					h.Errorf("ClaimDeliveries: %v", err)
					return
				}
				if len(ds) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, d := range ds {
					if o, dup := claimed[d.ID]; dup {
						h.Errorf("%s claimed %s, already claimed by %s", owner, d.ID, o)
					}
					claimed[d.ID] = owner
					if k := keyOf[d.ID]; k != "" {
						if r, busy := running[k]; busy {
							h.Errorf("%s claimed %s while %s of key %s runs", owner, d.ID, r, k)
						}
						running[k] = d.ID
						started[k] = append(started[k], d.ID)
					}
				}
				mu.Unlock()
				for _, d := range ds {
					mu.Lock()
					delete(running, keyOf[d.ID])
					mu.Unlock()
					err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{
						ID: d.ID, Owner: owner, Status: store.DeliveryDelivered,
						Attempt: store.Attempt{At: h.now(), StatusCode: 200}, ExpiresAt: h.now().Add(time.Hour),
					})
					if err != nil {
						h.Errorf("RecordAttempt(%s, %s): %v", d.ID, owner, err)
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
			h.Errorf("%s gave up waiting for work", owner)
		})
	}
	wg.Wait()
	if h.Failed() {
		h.FailNow()
	}
	for k, want := range order {
		wantOrder(h, "deliveries started for "+k, started[k], want...)
	}
	h.wantDeliveryCounts(0, 0)
}
