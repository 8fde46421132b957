package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

var claimTests = []test{
	{"Basic", testClaimBasic},
	{"Limit", testClaimLimit},
	{"Agents", testClaimAgents},
	{"ChatOrder", testClaimChatOrder},
	{"ChatOrderMany", testClaimChatOrderMany},
	{"ChatAcrossAgents", testClaimChatAcrossAgents},
	{"RunAfter", testClaimRunAfter},
	{"RunAfterBlocksChat", testClaimRunAfterBlocksChat},
	{"NextSkipsOtherAgents", testClaimNextAgents},
	{"LeaseValid", testClaimLeaseValid},
	{"LeaseExpiry", testClaimLeaseExpiry},
	{"LeaseExpiryKeepsChatOrder", testClaimLeaseExpiryOrder},
	{"Retry", testClaimRetry},
	{"RetryNotHeld", testClaimRetryNotHeld},
	{"Release", testClaimRelease},
	{"Counts", testClaimCounts},
}

func testClaimBasic(h *harness) {
	t := h.add("agent-a", "chat-1")
	ts, _, err := h.s.ClaimTasks(h.ctx, store.Claim{Owner: "w1", Limit: 10, Lease: time.Minute})
	if err != nil {
		h.Fatalf("ClaimTasks: %v", err)
	}
	if len(ts) != 1 || ts[0].ID != t.ID {
		h.Fatalf("claimed %v, want [%s]", ids(ts), t.ID)
	}
	c := ts[0]
	if c.Status != store.TaskStarted || c.Attempts != 1 || c.LeaseOwner != "w1" {
		h.Fatalf("claimed task: status %s, attempts %d, owner %q; want STARTED, 1, w1", c.Status, c.Attempts, c.LeaseOwner)
	}
	wantTime(h, "claimed LeaseUntil", c.LeaseUntil, h.now().Add(time.Minute))
	if c.Agent != t.Agent || c.ChatID != t.ChatID || c.Request.Path != t.Request.Path {
		h.Fatalf("claimed task %+v, want the fields of %+v", c, t)
	}
	wantBytes(h, "claimed request body", c.Request.Body, t.Request.Body)
	g := h.get(t.ID)
	if g.Status != store.TaskStarted || g.Attempts != 1 || g.LeaseOwner != "w1" {
		h.Fatalf("GetTask after claim: status %s, attempts %d, owner %q; want STARTED, 1, w1", g.Status, g.Attempts, g.LeaseOwner)
	}
	if got := h.claim("w2", 10); len(got) != 0 {
		h.Fatalf("second claim got %v, want nothing", ids(got))
	}
}

func testClaimLimit(h *harness) {
	for i := range 5 {
		h.add("agent-a", fmt.Sprint("chat-", i))
	}
	if got := h.claim("w1", 0); len(got) != 0 {
		h.Fatalf("claim with Limit 0 got %v", ids(got))
	}
	if got := h.claim("w1", 2); len(got) != 2 {
		h.Fatalf("claim with Limit 2 got %d tasks", len(got))
	}
	if got := h.claim("w1", 10); len(got) != 3 {
		h.Fatalf("claim with Limit 10 got %d tasks, want the 3 left", len(got))
	}
	if got := h.claim("w1", 10); len(got) != 0 {
		h.Fatalf("claim got %v, want nothing", ids(got))
	}
}

func testClaimAgents(h *harness) {
	a1 := h.add("agent-a", "chat-a1")
	a2 := h.add("agent-a", "chat-a2")
	b1 := h.add("agent-b", "chat-b1")
	c1 := h.add("agent-c", "chat-c1")
	h.wantIDs("claim for agent-b", h.claimIDs("w1", 10, "agent-b"), []string{b1.ID})
	h.wantIDs("claim for agent-x", h.claimIDs("w1", 10, "agent-x"), nil)
	h.wantIDs("claim for agent-a,agent-x", h.claimIDs("w1", 10, "agent-x", "agent-a"), []string{a1.ID, a2.ID})
	h.wantIDs("claim for any agent", h.claimIDs("w1", 10), []string{c1.ID})
}

func testClaimChatOrder(h *harness) {
	a1 := h.add("agent-a", "chat-a")
	a2 := h.add("agent-a", "chat-a")
	b1 := h.add("agent-a", "chat-b")
	a3 := h.add("agent-a", "chat-a")
	h.wantIDs("first claim", h.claimIDs("w1", 10), []string{a1.ID, b1.ID})
	h.wantIDs("claim while a1 runs", h.claimIDs("w1", 10), nil)
	h.finish(b1.ID, "w1")
	h.wantIDs("claim after b1", h.claimIDs("w1", 10), nil)
	h.finish(a1.ID, "w1")
	h.wantIDs("claim after a1", h.claimIDs("w1", 10), []string{a2.ID})
	h.wantIDs("claim while a2 runs", h.claimIDs("w1", 10), nil)
	h.finish(a2.ID, "w1")
	h.wantIDs("claim after a2", h.claimIDs("w1", 10), []string{a3.ID})
}

// testClaimChatOrderMany runs 50 tasks spread over 5 chats through random
// claims, finishes, retries and releases, and checks that each chat's
// tasks start in creation order, one at a time.
func testClaimChatOrderMany(h *harness) {
	const nChats, nTasks = 5, 50
	queue := map[string][]string{} // chat -> ids not yet finished, in order
	for i := range nTasks {
		chat := fmt.Sprint("chat-", (i*7)%nChats)
		t := h.add("agent-a", chat)
		queue[chat] = append(queue[chat], t.ID)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	running := map[string]string{} // chat -> id of its STARTED task
	finished := 0
	for round := 0; finished < nTasks; round++ {
		if round > 10*nTasks {
			h.Fatalf("no progress after %d rounds: %d finished, running %v", round, finished, running)
		}
		for _, t := range h.claim("w1", 1+rng.IntN(4)) {
			if r, ok := running[t.ChatID]; ok {
				h.Fatalf("claimed %s while %s of chat %s runs", t.ID, r, t.ChatID)
			}
			if want := queue[t.ChatID][0]; t.ID != want {
				h.Fatalf("claimed %s in chat %s, want %s first", t.ID, t.ChatID, want)
			}
			running[t.ChatID] = t.ID
		}
		for _, chat := range slices.Sorted(maps.Keys(running)) {
			id := running[chat]
			switch rng.IntN(4) {
			case 0: // keep running
			case 1: // retry, due at once
				if err := h.s.RetryTask(h.ctx, id, "w1", h.now(), "again"); err != nil {
					h.Fatalf("RetryTask(%s): %v", id, err)
				}
				delete(running, chat)
			case 2:
				if err := h.s.ReleaseTask(h.ctx, id, "w1"); err != nil {
					h.Fatalf("ReleaseTask(%s): %v", id, err)
				}
				delete(running, chat)
			default:
				h.finish(id, "w1")
				queue[chat] = queue[chat][1:]
				delete(running, chat)
				finished++
			}
		}
	}
	h.wantTaskCounts(0, 0)
}

func testClaimRunAfter(h *harness) {
	due := h.now().Add(10 * time.Minute)
	t := h.newTask("agent-a", "chat-1")
	t.RunAfter = due
	h.create(t)
	got, next := h.claimNext("w1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v before RunAfter", ids(got))
	}
	wantTime(h, "next", next, due)
	h.clock.Advance(9 * time.Minute)
	if got := h.claim("w1", 10); len(got) != 0 {
		h.Fatalf("claimed %v a minute before RunAfter", ids(got))
	}
	h.clock.Advance(time.Minute)
	h.wantIDs("claim at RunAfter", h.claimIDs("w1", 10), []string{t.ID})
}

func testClaimRunAfterBlocksChat(h *harness) {
	t1 := h.newTask("agent-a", "chat-1")
	t1.RunAfter = h.now().Add(10 * time.Minute)
	h.create(t1)
	t2 := h.add("agent-a", "chat-1")
	h.wantIDs("claim while the chat's first task waits", h.claimIDs("w1", 10), nil)
	h.clock.Advance(10 * time.Minute)
	h.wantIDs("claim when the first task is due", h.claimIDs("w1", 10), []string{t1.ID})
	h.finish(t1.ID, "w1")
	h.wantIDs("claim after the first task", h.claimIDs("w1", 10), []string{t2.ID})
}

func testClaimNextAgents(h *harness) {
	x := h.newTask("agent-x", "chat-x")
	x.RunAfter = h.now().Add(time.Minute)
	h.create(x)
	y := h.newTask("agent-y", "chat-y")
	y.RunAfter = h.now().Add(5 * time.Minute)
	h.create(y)
	got, next := h.claimNext("w1", 10, "agent-y")
	if len(got) != 0 {
		h.Fatalf("claimed %v early", ids(got))
	}
	wantTime(h, "next for agent-y", next, y.RunAfter)
	got, next = h.claimNext("w1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v early", ids(got))
	}
	wantTime(h, "next for any agent", next, x.RunAfter)
}

func testClaimLeaseValid(h *harness) {
	t := h.add("agent-a", "chat-1")
	h.claim("w1", 1)
	h.clock.Advance(lease - time.Second)
	if got := h.claim("w2", 10); len(got) != 0 {
		h.Fatalf("w2 claimed %v while w1's lease runs", ids(got))
	}
	h.finish(t.ID, "w1")
}

func testClaimLeaseExpiry(h *harness) {
	t := h.add("agent-a", "chat-1")
	if _, _, err := h.s.ClaimTasks(h.ctx, store.Claim{Owner: "w1", Limit: 1, Lease: time.Minute}); err != nil {
		h.Fatalf("ClaimTasks: %v", err)
	}
	h.clock.Advance(2 * time.Minute)
	got := h.claim("w2", 10)
	if len(got) != 1 || got[0].ID != t.ID || got[0].Attempts != 2 || got[0].LeaseOwner != "w2" {
		h.Fatalf("w2 claimed %v, want %s with 2 attempts", ids(got), t.ID)
	}
	err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskSuccess, ExpiresAt: h.now().Add(time.Hour)})
	h.wantErr("FinishTask by the old owner", err, store.ErrLeaseLost)
	err = h.s.RetryTask(h.ctx, t.ID, "w1", h.now(), "late")
	h.wantErr("RetryTask by the old owner", err, store.ErrLeaseLost)
	err = h.s.ReleaseTask(h.ctx, t.ID, "w1")
	h.wantErr("ReleaseTask by the old owner", err, store.ErrLeaseLost)
	if g := h.get(t.ID); g.Status != store.TaskStarted || g.LeaseOwner != "w2" || g.Error != "" {
		h.Fatalf("task after the old owner's calls: %s owned by %q, error %q", g.Status, g.LeaseOwner, g.Error)
	}
	h.finish(t.ID, "w2")
	if g := h.get(t.ID); g.Status != store.TaskSuccess || g.Attempts != 2 {
		h.Fatalf("task: %s after %d attempts, want SUCCESS after 2", g.Status, g.Attempts)
	}
}

func testClaimLeaseExpiryOrder(h *harness) {
	t1 := h.add("agent-a", "chat-1")
	t2 := h.add("agent-a", "chat-1")
	h.wantIDs("first claim", h.claimIDs("w1", 10), []string{t1.ID})
	h.clock.Advance(lease + time.Minute)
	h.wantIDs("claim after the lease", h.claimIDs("w2", 10), []string{t1.ID})
	h.finish(t1.ID, "w2")
	h.wantIDs("claim after finish", h.claimIDs("w2", 10), []string{t2.ID})
}

func testClaimRetry(h *harness) {
	t1 := h.add("agent-a", "chat-1")
	t2 := h.add("agent-a", "chat-1")
	h.claim("w1", 10)
	due := h.now().Add(5 * time.Minute)
	if err := h.s.RetryTask(h.ctx, t1.ID, "w1", due, "backend said 503"); err != nil {
		h.Fatalf("RetryTask: %v", err)
	}
	g := h.get(t1.ID)
	if g.Status != store.TaskPending || g.Error != "backend said 503" || g.Attempts != 1 || g.LeaseOwner != "" {
		h.Fatalf("task after retry: %s, error %q, attempts %d, owner %q; want PENDING, the error, 1, none", g.Status, g.Error, g.Attempts, g.LeaseOwner)
	}
	wantTime(h, "RunAfter after retry", g.RunAfter, due)
	h.wantTaskCounts(2, 0)
	got, next := h.claimNext("w1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v before the retry is due", ids(got))
	}
	wantTime(h, "next", next, due)
	h.clock.Advance(5 * time.Minute)
	got = h.claim("w2", 10)
	if len(got) != 1 || got[0].ID != t1.ID || got[0].Attempts != 2 {
		h.Fatalf("claimed %v, want %s with 2 attempts", ids(got), t1.ID)
	}
	if got[0].Error != "backend said 503" {
		h.Fatalf("retried task error %q, want the last error kept", got[0].Error)
	}
	h.finish(t1.ID, "w2")
	h.wantIDs("claim after finish", h.claimIDs("w2", 10), []string{t2.ID})
}

func testClaimRetryNotHeld(h *harness) {
	t := h.add("agent-a", "chat-1")
	err := h.s.RetryTask(h.ctx, t.ID, "w1", h.now(), "x")
	h.wantErr("RetryTask of a PENDING task", err, store.ErrLeaseLost)
	err = h.s.ReleaseTask(h.ctx, t.ID, "w1")
	h.wantErr("ReleaseTask of a PENDING task", err, store.ErrLeaseLost)
	err = h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w1", Status: store.TaskSuccess})
	h.wantErr("FinishTask of a PENDING task", err, store.ErrLeaseLost)
	h.claim("w1", 1)
	err = h.s.RetryTask(h.ctx, t.ID, "w2", h.now(), "x")
	h.wantErr("RetryTask by another owner", err, store.ErrLeaseLost)
	err = h.s.ReleaseTask(h.ctx, t.ID, "w2")
	h.wantErr("ReleaseTask by another owner", err, store.ErrLeaseLost)
	err = h.s.FinishTask(h.ctx, store.TaskFinish{ID: t.ID, Owner: "w2", Status: store.TaskSuccess})
	h.wantErr("FinishTask by another owner", err, store.ErrLeaseLost)
	if g := h.get(t.ID); g.Status != store.TaskStarted || g.LeaseOwner != "w1" || g.Error != "" {
		h.Fatalf("task: %s owned by %q, error %q; want untouched", g.Status, g.LeaseOwner, g.Error)
	}
	if err := h.s.RetryTask(h.ctx, "no-such-task", "w1", h.now(), "x"); err == nil {
		h.Fatalf("RetryTask of an unknown task succeeded")
	}
}

func testClaimRelease(h *harness) {
	t1 := h.add("agent-a", "chat-1")
	t2 := h.add("agent-a", "chat-1")
	h.claim("w1", 10)
	if err := h.s.ReleaseTask(h.ctx, t1.ID, "w1"); err != nil {
		h.Fatalf("ReleaseTask: %v", err)
	}
	g := h.get(t1.ID)
	if g.Status != store.TaskPending || g.Attempts != 0 || g.LeaseOwner != "" {
		h.Fatalf("task after release: %s, attempts %d, owner %q; want PENDING, 0, none", g.Status, g.Attempts, g.LeaseOwner)
	}
	h.wantTaskCounts(2, 0)
	got := h.claim("w2", 10)
	if len(got) != 1 || got[0].ID != t1.ID || got[0].Attempts != 1 {
		h.Fatalf("claim after release got %v, want %s with 1 attempt", ids(got), t1.ID)
	}
	err := h.s.FinishTask(h.ctx, store.TaskFinish{ID: t1.ID, Owner: "w1", Status: store.TaskSuccess})
	h.wantErr("FinishTask by the releasing owner", err, store.ErrLeaseLost)
	h.finish(t1.ID, "w2")
	h.wantIDs("claim after finish", h.claimIDs("w2", 10), []string{t2.ID})
}

func testClaimCounts(h *harness) {
	h.wantTaskCounts(0, 0)
	a := h.add("agent-a", "chat-1")
	h.add("agent-a", "chat-1")
	h.add("agent-b", "chat-2")
	h.wantTaskCounts(3, 0)
	h.claim("w1", 10)
	h.wantTaskCounts(1, 2)
	h.finish(a.ID, "w1")
	h.wantTaskCounts(1, 1)
	h.claim("w1", 10)
	h.wantTaskCounts(0, 2)
}

// testClaimChatAcrossAgents checks that the Agents filter applies to each
// task's own agent, also when tasks of several agents share a chat id.
func testClaimChatAcrossAgents(h *harness) {
	t1 := h.add("agent-a", "chat-1")
	t2 := h.add("agent-b", "chat-1")
	h.wantIDs("claim for agent-b", h.claimIDs("w1", 10, "agent-b"), nil)
	h.wantIDs("claim for agent-a", h.claimIDs("w1", 10, "agent-a"), []string{t1.ID})
	h.finish(t1.ID, "w1")
	h.wantIDs("claim for agent-a", h.claimIDs("w1", 10, "agent-a"), nil)
	h.wantIDs("claim for agent-b", h.claimIDs("w1", 10, "agent-b"), []string{t2.ID})
}
