package storetest

import (
	"time"

	"github.com/agenthook/agenthook/store"
)

// deadLetterTests cover listing, replaying and recovering deliveries.
var deadLetterTests = []test{
	{"ListFailedNewestFirst", testDeliveryListFailed},
	{"ListByAgent", testDeliveryListAgent},
	{"RetryDelivery", testDeliveryRetry},
	{"RetryDeliveryPending", testDeliveryRetryPending},
	{"RetryDeliveryUnknownOrExpired", testDeliveryRetryGone},
	{"Recover", testDeliveryRecover},
	{"ListDefaultLimit", testDeliveryListDefaultLimit},
	{"WakeOnRetry", testDeliveryWake},
}

func testDeliveryListFailed(h *harness) {
	var failed []string
	for range 3 {
		d := h.dlv("agent-a", "cb-1", "")
		h.claimDeliveries("d1", 10)
		h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
		failed = append([]string{d.ID}, failed...)
		h.clock.Advance(time.Minute)
	}
	ok := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(ok.ID, "d1", store.DeliveryDelivered, time.Time{})
	wantOrder(h, "failed list", h.list("agent-a", store.DeliveryFailed, 0), failed...)
	wantOrder(h, "failed list, limit 2", h.list("agent-a", store.DeliveryFailed, 2), failed[:2]...)
	wantOrder(h, "delivered list", h.list("agent-a", store.DeliveryDelivered, 0), ok.ID)
	h.wantDeliveryCounts(0, 3)
}

func testDeliveryListAgent(h *harness) {
	var a, ab []string // newest first
	for i := range 4 {
		a = append([]string{h.dlv("a", "cb-1", "").ID}, a...)
		h.clock.Advance(time.Minute)
		if i%2 == 0 {
			ab = append([]string{h.dlv("ab", "cb-1", "").ID}, ab...)
			h.clock.Advance(time.Minute)
		}
	}
	wantOrder(h, "list of a", h.list("a", "", 0), a...)
	wantOrder(h, "list of ab", h.list("ab", "", 0), ab...)
	wantOrder(h, "list of a, limit 3", h.list("a", "", 3), a[:3]...)
	wantOrder(h, "list of an unknown agent", h.list("nobody", "", 0))
	wantOrder(h, "pending list of a", h.list("a", store.DeliveryPending, 0), a...)
	// Settle the oldest of a; the lists follow.
	for _, d := range h.claimDeliveries("d1", 10) {
		if d.ID == a[3] {
			h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
		} else {
			if err := h.s.ReleaseDelivery(h.ctx, d.ID, "d1"); err != nil {
				h.Fatalf("ReleaseDelivery: %v", err)
			}
		}
	}
	wantOrder(h, "pending list of a", h.list("a", store.DeliveryPending, 0), a[:3]...)
	wantOrder(h, "delivered list of a", h.list("a", store.DeliveryDelivered, 0), a[3])
	wantOrder(h, "list of a", h.list("a", "", 0), a...)
}

func testDeliveryRetry(h *harness) {
	f := h.dlv("agent-a", "cb-1", "")
	ok := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(f.ID, "d1", store.DeliveryFailed, time.Time{})
	h.record(ok.ID, "d1", store.DeliveryDelivered, time.Time{})
	h.wantDeliveryCounts(0, 1)
	h.clock.Advance(time.Hour)
	for _, id := range []string{f.ID, ok.ID} {
		d, err := h.s.RetryDelivery(h.ctx, id)
		if err != nil {
			h.Fatalf("RetryDelivery(%s): %v", id, err)
		}
		if d.ID != id || d.Status != store.DeliveryPending || d.NextAttemptAt.After(h.now()) {
			h.Fatalf("RetryDelivery(%s) = %s due %v, want pending, due now", id, d.Status, d.NextAttemptAt)
		}
		if g := h.getDelivery(id); g.Status != store.DeliveryPending || g.AttemptCount != 1 {
			h.Fatalf("GetDelivery(%s) after retry: %s, %d attempts", id, g.Status, g.AttemptCount)
		}
	}
	h.wantDeliveryCounts(2, 0)
	wantOrder(h, "failed list", h.list("agent-a", store.DeliveryFailed, 0))
	h.wantIDs("claim after retry", h.claimDeliveryIDs("d1", 10), []string{f.ID, ok.ID})
}

func testDeliveryRetryPending(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	got, err := h.s.RetryDelivery(h.ctx, d.ID)
	if err != nil || got.Status != store.DeliveryPending || got.ID != d.ID {
		h.Fatalf("RetryDelivery(pending) = %+v, %v", got, err)
	}
	h.wantDeliveryCounts(1, 0)
	h.wantIDs("claim", h.claimDeliveryIDs("d1", 10), []string{d.ID})
	h.wantIDs("second claim", h.claimDeliveryIDs("d2", 10), nil)
}

func testDeliveryRetryGone(h *harness) {
	_, err := h.s.RetryDelivery(h.ctx, "no-such-delivery")
	h.wantErr("RetryDelivery(unknown)", err, store.ErrNotFound)
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{}) // expires in a day
	h.clock.Advance(25 * time.Hour)
	_, err = h.s.RetryDelivery(h.ctx, d.ID)
	h.wantErr("RetryDelivery(expired)", err, store.ErrNotFound)
	if n, err := h.s.RecoverDeliveries(h.ctx, store.RecoverFilter{Agent: "agent-a", Since: Start}); err != nil || n != 0 {
		h.Fatalf("RecoverDeliveries after expiry = %d, %v; want 0", n, err)
	}
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("claimed expired deliveries %v", ids(got))
	}
}

func testDeliveryRecover(h *harness) {
	fail := func(agent string) string {
		d := h.dlv(agent, "cb-1", "")
		got := h.claimDeliveries("d1", 10)
		if len(got) != 1 {
			h.Fatalf("claimed %v, want one", ids(got))
		}
		h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
		h.clock.Advance(time.Minute)
		return d.ID
	}
	old := fail("agent-a")
	since := h.now()
	a1 := fail("agent-a")
	b1 := fail("agent-b")
	a2 := fail("agent-a")
	h.wantDeliveryCounts(0, 4)
	n, err := h.s.RecoverDeliveries(h.ctx, store.RecoverFilter{Agent: "agent-a", Since: since})
	if err != nil || n != 2 {
		h.Fatalf("RecoverDeliveries = %d, %v; want 2", n, err)
	}
	h.wantDeliveryCounts(2, 2)
	wantOrder(h, "failed list of agent-a", h.list("agent-a", store.DeliveryFailed, 0), old)
	wantOrder(h, "failed list of agent-b", h.list("agent-b", store.DeliveryFailed, 0), b1)
	h.wantIDs("claim after recovery", h.claimDeliveryIDs("d1", 10), []string{a1, a2})
	if n, err := h.s.RecoverDeliveries(h.ctx, store.RecoverFilter{Agent: "agent-a", Since: since}); err != nil || n != 0 {
		h.Fatalf("second RecoverDeliveries = %d, %v; want 0", n, err)
	}
	if n, err := h.s.RecoverDeliveries(h.ctx, store.RecoverFilter{Agent: "agent-a", Since: Start}); err != nil || n != 1 {
		h.Fatalf("RecoverDeliveries since the start = %d, %v; want 1", n, err)
	}
}

func testDeliveryWake(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
	drain(h.s.DeliveryWake())
	if _, err := h.s.RetryDelivery(h.ctx, d.ID); err != nil {
		h.Fatalf("RetryDelivery: %v", err)
	}
	if !woken(h.s.DeliveryWake()) {
		h.Fatalf("DeliveryWake did not receive after RetryDelivery")
	}
}

func testDeliveryListDefaultLimit(h *harness) {
	var ds []*store.Delivery
	for range 105 {
		ds = append(ds, h.newDelivery("agent-a", "cb-1", "", []byte("x")))
	}
	h.enqueue(ds...)
	if got := h.list("agent-a", "", 0); len(got) != 100 {
		h.Fatalf("ListDeliveries without a limit returned %d, want the default of 100", len(got))
	}
	if got := h.list("agent-a", "", 200); len(got) != 105 {
		h.Fatalf("ListDeliveries with limit 200 returned %d, want 105", len(got))
	}
}
