package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// callbackStateTests cover the health records of callbacks.
var callbackStateTests = []test{
	{"Empty", testCBStateEmpty},
	{"SaveList", testCBStateSaveList},
	{"Replace", testCBStateReplace},
	{"Delete", testCBStateDelete},
	{"DeleteUnknown", testCBStateDeleteUnknown},
	{"Copied", testCBStateCopied},
	{"Many", testCBStateMany},
}

func (h *harness) saveState(s *store.CallbackState) {
	h.Helper()
	if err := h.s.SaveCallbackState(h.ctx, s); err != nil {
		h.Fatalf("SaveCallbackState(%s): %v", s.ID, err)
	}
}

// states lists the stored states by id.
func (h *harness) states() map[string]*store.CallbackState {
	h.Helper()
	list, err := h.s.ListCallbackStates(h.ctx)
	if err != nil {
		h.Fatalf("ListCallbackStates: %v", err)
	}
	m := make(map[string]*store.CallbackState, len(list))
	for _, s := range list {
		if s == nil {
			h.Fatalf("ListCallbackStates returned a nil state")
		}
		if _, dup := m[s.ID]; dup {
			h.Fatalf("ListCallbackStates returned %s twice", s.ID)
		}
		m[s.ID] = s
	}
	return m
}

func (h *harness) wantState(want *store.CallbackState) {
	h.Helper()
	got := h.states()[want.ID]
	if got == nil {
		h.Fatalf("state %s is missing", want.ID)
	}
	if got.Agent != want.Agent || got.Disabled != want.Disabled || got.Reason != want.Reason ||
		!got.FailingSince.Equal(want.FailingSince) || !got.DisabledAt.Equal(want.DisabledAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		h.Fatalf("state %s = %+v, want %+v", want.ID, got, want)
	}
}

func (h *harness) wantStateIDs(want ...string) {
	h.Helper()
	var got []string
	for id := range h.states() {
		got = append(got, id)
	}
	slices.Sort(got)
	h.wantIDs("callback states", got, want)
}

func testCBStateEmpty(h *harness) {
	h.wantStateIDs()
}

func testCBStateSaveList(h *harness) {
	now := h.now()
	failing := &store.CallbackState{ID: "cfg-agent-a-0", Agent: "agent-a", FailingSince: now.Add(-time.Hour), UpdatedAt: now}
	disabled := &store.CallbackState{
		ID: "wh_0001", Agent: "agent-b", FailingSince: now.Add(-48 * time.Hour),
		Disabled: true, DisabledAt: now, Reason: "the receiver answered 410 Gone — ünïcode", UpdatedAt: now,
	}
	h.saveState(failing)
	h.saveState(disabled)
	h.wantStateIDs(failing.ID, disabled.ID)
	h.wantState(failing)
	h.wantState(disabled)
	if s := h.states()[failing.ID]; !s.DisabledAt.IsZero() || s.Reason != "" {
		h.Fatalf("a state saved without DisabledAt and Reason reads %+v", s)
	}
}

func testCBStateReplace(h *harness) {
	t0 := h.now()
	s := &store.CallbackState{ID: "cb-1", Agent: "agent-a", FailingSince: t0, UpdatedAt: t0}
	h.saveState(s)
	h.clock.Advance(time.Hour)
	t1 := h.now()
	disabled := &store.CallbackState{ID: "cb-1", Agent: "agent-a", FailingSince: t0, Disabled: true, DisabledAt: t1, Reason: "failing since then", UpdatedAt: t1}
	h.saveState(disabled)
	h.wantStateIDs("cb-1")
	h.wantState(disabled)
	// Enabled again, failing afresh: every field is replaced, none merged.
	h.clock.Advance(time.Hour)
	fresh := &store.CallbackState{ID: "cb-1", Agent: "agent-a", FailingSince: h.now(), UpdatedAt: h.now()}
	h.saveState(fresh)
	h.wantState(fresh)
}

func testCBStateDelete(h *harness) {
	for i := range 3 {
		h.saveState(&store.CallbackState{ID: fmt.Sprint("cb-", i), Agent: "agent-a", FailingSince: h.now(), UpdatedAt: h.now()})
	}
	if err := h.s.DeleteCallbackState(h.ctx, "cb-1"); err != nil {
		h.Fatalf("DeleteCallbackState: %v", err)
	}
	h.wantStateIDs("cb-0", "cb-2")
	if err := h.s.DeleteCallbackState(h.ctx, "cb-1"); err != nil {
		h.Fatalf("DeleteCallbackState twice: %v", err)
	}
	// Saved again after a delete, it is back.
	again := &store.CallbackState{ID: "cb-1", Agent: "agent-a", Disabled: true, DisabledAt: h.now(), Reason: "r", UpdatedAt: h.now()}
	h.saveState(again)
	h.wantStateIDs("cb-0", "cb-1", "cb-2")
	h.wantState(again)
}

func testCBStateDeleteUnknown(h *harness) {
	if err := h.s.DeleteCallbackState(h.ctx, "never-saved"); err != nil {
		h.Fatalf("DeleteCallbackState(unknown) = %v, want nil", err)
	}
	h.saveState(&store.CallbackState{ID: "cb-1", Agent: "agent-a", UpdatedAt: h.now()})
	if err := h.s.DeleteCallbackState(h.ctx, "cb-2"); err != nil {
		h.Fatalf("DeleteCallbackState(unknown) = %v, want nil", err)
	}
	h.wantStateIDs("cb-1")
}

// testCBStateCopied: the store keeps what was saved, not the caller's
// struct, and hands out states the caller may change.
func testCBStateCopied(h *harness) {
	s := &store.CallbackState{ID: "cb-1", Agent: "agent-a", FailingSince: h.now(), UpdatedAt: h.now()}
	h.saveState(s)
	want := *s
	s.Disabled, s.Reason = true, "changed after Save"
	h.wantState(&want)
	got := h.states()["cb-1"]
	got.Reason = "changed after List"
	h.wantState(&want)
}

func testCBStateMany(h *harness) {
	var want []string
	for i := range 150 {
		id := fmt.Sprintf("cb-%03d", i)
		want = append(want, id)
		h.saveState(&store.CallbackState{ID: id, Agent: fmt.Sprint("agent-", i%3), FailingSince: h.now(), UpdatedAt: h.now()})
	}
	h.wantStateIDs(want...)
}

// perCallbackTests cover DeliveryClaim.PerCallback.
var perCallbackTests = []test{
	{"Cap", testPerCallbackCap},
	{"OthersStillServed", testPerCallbackOthersServed},
	{"WithLimit", testPerCallbackWithLimit},
	{"Zero", testPerCallbackZero},
	{"WithSkip", testPerCallbackWithSkip},
	{"PerClaim", testPerCallbackPerClaim},
}

// claimPer claims with a PerCallback cap and returns the count per callback.
func (h *harness) claimPer(owner string, limit, per int, skip ...string) ([]*store.Delivery, map[string]int) {
	h.Helper()
	ds, _, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: owner, Limit: limit, Lease: lease, Skip: skip, PerCallback: per})
	if err != nil {
		h.Fatalf("ClaimDeliveries(%s): %v", owner, err)
	}
	n := map[string]int{}
	for _, d := range ds {
		if d.Status != store.DeliveryPending || d.LeaseOwner != owner {
			h.Fatalf("claimed delivery %s: %s, owner %q", d.ID, d.Status, d.LeaseOwner)
		}
		n[d.CallbackID]++
	}
	if len(ds) > limit {
		h.Fatalf("claim %s returned %d deliveries, over its limit of %d", owner, len(ds), limit)
	}
	return ds, n
}

// dlvs enqueues n deliveries to callback in one finished task.
func (h *harness) dlvs(agent, callback string, n int) []string {
	h.Helper()
	var ds []*store.Delivery
	var out []string
	for range n {
		d := h.newDelivery(agent, callback, "", []byte(`{}`))
		ds = append(ds, d)
		out = append(out, d.ID)
	}
	h.enqueue(ds...)
	return out
}

func wantCounts(h *harness, what string, got map[string]int, want map[string]int) {
	h.Helper()
	for k, v := range want {
		if got[k] != v {
			h.Fatalf("%s: per callback %v, want %v", what, got, want)
		}
	}
	for k, v := range got {
		if want[k] != v {
			h.Fatalf("%s: per callback %v, want %v", what, got, want)
		}
	}
}

func testPerCallbackCap(h *harness) {
	h.dlvs("agent-a", "cb-1", 5)
	h.dlvs("agent-a", "cb-2", 3)
	h.dlvs("agent-a", "cb-3", 1)
	_, n := h.claimPer("d1", 100, 2)
	wantCounts(h, "first claim", n, map[string]int{"cb-1": 2, "cb-2": 2, "cb-3": 1})
	_, n = h.claimPer("d2", 100, 2)
	wantCounts(h, "second claim", n, map[string]int{"cb-1": 2, "cb-2": 1})
	_, n = h.claimPer("d3", 100, 2)
	wantCounts(h, "third claim", n, map[string]int{"cb-1": 1})
	_, n = h.claimPer("d4", 100, 2)
	wantCounts(h, "fourth claim", n, map[string]int{})
}

// testPerCallbackOthersServed: the oldest deliveries all belong to one
// busy callback; a claim capped per callback still reaches the others.
func testPerCallbackOthersServed(h *harness) {
	h.dlvs("agent-a", "busy", 20)
	h.clock.Advance(time.Second)
	quiet := h.dlvs("agent-a", "quiet", 2)
	h.clock.Advance(time.Second)
	other := h.dlvs("agent-b", "other", 1)
	ds, n := h.claimPer("d1", 5, 2)
	wantCounts(h, "claim", n, map[string]int{"busy": 2, "quiet": 2, "other": 1})
	got := ids(ds)
	for _, id := range append(quiet, other...) {
		if !slices.Contains(got, id) {
			h.Fatalf("claim %v misses %s", got, id)
		}
	}
}

func testPerCallbackWithLimit(h *harness) {
	h.dlvs("agent-a", "cb-1", 5)
	h.dlvs("agent-a", "cb-2", 5)
	total := 0
	for i := range 4 {
		ds, n := h.claimPer(fmt.Sprint("d", i), 3, 2)
		if len(ds) != 3 || n["cb-1"] > 2 || n["cb-2"] > 2 {
			h.Fatalf("claim %d: %v (%d), want 3 with at most 2 per callback", i, n, len(ds))
		}
		total += len(ds)
		if total >= 9 {
			break
		}
	}
	ds, _ := h.claimPer("last", 10, 2)
	if total+len(ds) != 10 {
		h.Fatalf("claimed %d in all, want 10", total+len(ds))
	}
}

func testPerCallbackZero(h *harness) {
	h.dlvs("agent-a", "cb-1", 7)
	h.dlvs("agent-a", "cb-2", 2)
	_, n := h.claimPer("d1", 100, 0)
	wantCounts(h, "uncapped claim", n, map[string]int{"cb-1": 7, "cb-2": 2})
}

func testPerCallbackWithSkip(h *harness) {
	h.dlvs("agent-a", "cb-1", 3)
	h.dlvs("agent-a", "cb-2", 3)
	h.dlvs("agent-a", "cb-3", 3)
	_, n := h.claimPer("d1", 100, 1, "cb-2")
	wantCounts(h, "claim skipping cb-2", n, map[string]int{"cb-1": 1, "cb-3": 1})
	_, n = h.claimPer("d2", 100, 2)
	wantCounts(h, "claim", n, map[string]int{"cb-1": 2, "cb-2": 2, "cb-3": 2})
}

// testPerCallbackPerClaim: the cap counts what one claim returns, and a
// delivery given back is claimable again under the cap.
func testPerCallbackPerClaim(h *harness) {
	h.dlvs("agent-a", "cb-1", 4)
	ds, n := h.claimPer("d1", 100, 1)
	wantCounts(h, "first", n, map[string]int{"cb-1": 1})
	if err := h.s.ReleaseDelivery(h.ctx, ds[0].ID, "d1"); err != nil {
		h.Fatalf("ReleaseDelivery: %v", err)
	}
	seen := map[string]bool{}
	for i := range 4 {
		ds, n := h.claimPer(fmt.Sprint("d", i+2), 100, 1)
		wantCounts(h, fmt.Sprint("claim ", i+2), n, map[string]int{"cb-1": 1})
		if seen[ds[0].ID] {
			h.Fatalf("%s claimed twice while leased", ds[0].ID)
		}
		seen[ds[0].ID] = true
	}
	if _, n := h.claimPer("d9", 100, 1); len(n) != 0 {
		h.Fatalf("a fifth claim got %v", n)
	}
}

// requeueTests cover Delivery.RequeuedAt.
var requeueTests = []test{
	{"NewIsZero", testRequeueNew},
	{"RetryFailed", testRequeueRetryFailed},
	{"RetryDelivered", testRequeueRetryDelivered},
	{"RetryPendingUnchanged", testRequeueRetryPending},
	{"KeptByAttempts", testRequeueKept},
	{"Recover", testRequeueRecover},
}

// failOnce claims a fresh delivery and dead-letters it.
func (h *harness) failOnce(agent string) string {
	h.Helper()
	d := h.dlv(agent, "cb-1", "")
	got := h.claimDeliveries("d1", 10)
	if len(got) != 1 || got[0].ID != d.ID {
		h.Fatalf("claimed %v, want %s", ids(got), d.ID)
	}
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
	return d.ID
}

func testRequeueNew(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	if g := h.getDelivery(d.ID); !g.RequeuedAt.IsZero() {
		h.Fatalf("a new delivery has RequeuedAt %v", g.RequeuedAt)
	}
	got := h.claimDeliveries("d1", 10)
	if len(got) != 1 || !got[0].RequeuedAt.IsZero() {
		h.Fatalf("claimed %v with RequeuedAt set", ids(got))
	}
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
	if g := h.getDelivery(d.ID); !g.RequeuedAt.IsZero() {
		h.Fatalf("a dead letter has RequeuedAt %v", g.RequeuedAt)
	}
}

func testRequeueRetryFailed(h *harness) {
	id := h.failOnce("agent-a")
	h.clock.Advance(time.Hour)
	t1 := h.now()
	d, err := h.s.RetryDelivery(h.ctx, id)
	if err != nil {
		h.Fatalf("RetryDelivery: %v", err)
	}
	wantTime(h, "returned RequeuedAt", d.RequeuedAt, t1)
	wantTime(h, "stored RequeuedAt", h.getDelivery(id).RequeuedAt, t1)
	got := h.claimDeliveries("d2", 10)
	if len(got) != 1 {
		h.Fatalf("claimed %v after the retry", ids(got))
	}
	wantTime(h, "claimed RequeuedAt", got[0].RequeuedAt, t1)
	if len(got[0].Attempts) != 1 || got[0].AttemptCount != 1 {
		h.Fatalf("the retry dropped the attempt log: %d kept of %d", len(got[0].Attempts), got[0].AttemptCount)
	}
	// A later retry moves it.
	h.record(id, "d2", store.DeliveryFailed, time.Time{})
	h.clock.Advance(time.Hour)
	if _, err := h.s.RetryDelivery(h.ctx, id); err != nil {
		h.Fatalf("second RetryDelivery: %v", err)
	}
	wantTime(h, "RequeuedAt after a second retry", h.getDelivery(id).RequeuedAt, h.now())
}

func testRequeueRetryDelivered(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.clock.Advance(time.Minute)
	got, err := h.s.RetryDelivery(h.ctx, d.ID)
	if err != nil {
		h.Fatalf("RetryDelivery: %v", err)
	}
	wantTime(h, "RequeuedAt", got.RequeuedAt, h.now())
	wantTime(h, "stored RequeuedAt", h.getDelivery(d.ID).RequeuedAt, h.now())
}

func testRequeueRetryPending(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.clock.Advance(time.Minute)
	got, err := h.s.RetryDelivery(h.ctx, d.ID)
	if err != nil {
		h.Fatalf("RetryDelivery(pending): %v", err)
	}
	if !got.RequeuedAt.IsZero() || !h.getDelivery(d.ID).RequeuedAt.IsZero() {
		h.Fatalf("RetryDelivery of a pending delivery set RequeuedAt")
	}
}

// testRequeueKept: attempts after a retry do not clear RequeuedAt, which
// is what lets the dispatcher count the attempts of the new round.
func testRequeueKept(h *harness) {
	id := h.failOnce("agent-a")
	h.clock.Advance(time.Hour)
	t1 := h.now()
	if _, err := h.s.RetryDelivery(h.ctx, id); err != nil {
		h.Fatalf("RetryDelivery: %v", err)
	}
	for i := range 3 {
		h.clock.Advance(time.Minute)
		if got := h.claimDeliveries("d2", 10); len(got) != 1 {
			h.Fatalf("round %d: claimed %v", i, ids(got))
		}
		h.record(id, "d2", store.DeliveryPending, h.now())
	}
	g := h.getDelivery(id)
	wantTime(h, "RequeuedAt after attempts", g.RequeuedAt, t1)
	since := 0
	for _, a := range g.Attempts {
		if !a.At.Before(g.RequeuedAt) {
			since++
		}
	}
	if g.AttemptCount != 4 || since != 3 {
		h.Fatalf("%d attempts, %d since the retry; want 4 and 3", g.AttemptCount, since)
	}
}

func testRequeueRecover(h *harness) {
	old := h.failOnce("agent-a")
	h.clock.Advance(time.Minute)
	since := h.now()
	a := h.failOnce("agent-a")
	b := h.failOnce("agent-b")
	h.clock.Advance(time.Hour)
	t1 := h.now()
	n, err := h.s.RecoverDeliveries(h.ctx, store.RecoverFilter{Agent: "agent-a", Since: since})
	if err != nil || n != 1 {
		h.Fatalf("RecoverDeliveries = %d, %v; want 1", n, err)
	}
	wantTime(h, "recovered RequeuedAt", h.getDelivery(a).RequeuedAt, t1)
	for _, id := range []string{old, b} {
		if g := h.getDelivery(id); !g.RequeuedAt.IsZero() || g.Status != store.DeliveryFailed {
			h.Fatalf("delivery %s not recovered: %s, RequeuedAt %v", id, g.Status, g.RequeuedAt)
		}
	}
}
