package storetest

import (
	"fmt"
	"time"

	"github.com/agenthook/agenthook/store"
)

var deliveryTests = []test{
	{"DueNow", testDeliveryDueNow},
	{"DueLater", testDeliveryDueLater},
	{"Skip", testDeliverySkip},
	{"Limit", testDeliveryLimit},
	{"RetryLater", testDeliveryRetryLater},
	{"Delivered", testDeliveryDelivered},
	{"Failed", testDeliveryFailed},
	{"AttemptsAppended", testDeliveryAttempts},
	{"BadStatus", testDeliveryBadStatus},
	{"WrongOwner", testDeliveryWrongOwner},
	{"LeaseValid", testDeliveryLeaseValid},
	{"LeaseExpiry", testDeliveryLeaseExpiry},
	{"Release", testDeliveryRelease},
	{"GetUnknown", testDeliveryGetUnknown},
	{"Expires", testDeliveryExpires},
}

// enqueue inserts deliveries the only way the contract allows: by
// finishing a task that carries them.
func (h *harness) enqueue(ds ...*store.Delivery) {
	h.Helper()
	t := h.started("feeder")
	for _, d := range ds {
		if d.TaskID == "" {
			d.TaskID = t.ID
		}
	}
	h.finish(t.ID, "w1", ds...)
}

// dlv builds and enqueues one delivery.
func (h *harness) dlv(agent, callback, orderKey string) *store.Delivery {
	h.Helper()
	d := h.newDelivery(agent, callback, orderKey, nil)
	id := d.ID
	d.Payload = []byte(`{"id":"` + id + `"}`)
	h.enqueue(d)
	return &store.Delivery{ID: id, Agent: agent, CallbackID: callback, OrderKey: orderKey}
}

func (h *harness) claimDeliveriesNext(owner string, limit int, skip ...string) ([]*store.Delivery, time.Time) {
	h.Helper()
	ds, next, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: owner, Limit: limit, Lease: lease, Skip: skip})
	if err != nil {
		h.Fatalf("ClaimDeliveries(%s): %v", owner, err)
	}
	for _, d := range ds {
		if d.Status != store.DeliveryPending {
			h.Fatalf("claimed delivery %s is %s, want pending", d.ID, d.Status)
		}
	}
	return ds, next
}

func (h *harness) claimDeliveries(owner string, limit int, skip ...string) []*store.Delivery {
	h.Helper()
	ds, _ := h.claimDeliveriesNext(owner, limit, skip...)
	return ds
}

func (h *harness) claimDeliveryIDs(owner string, limit int, skip ...string) []string {
	h.Helper()
	return ids(h.claimDeliveries(owner, limit, skip...))
}

// record records an attempt; final statuses expire in a day.
func (h *harness) record(id, owner string, st store.DeliveryStatus, next time.Time) {
	h.Helper()
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{
		ID: id, Owner: owner, Status: st, NextAttemptAt: next,
		Attempt:   store.Attempt{At: h.now(), StatusCode: 500, Latency: time.Second, Error: "HTTP 500"},
		ExpiresAt: h.now().Add(24 * time.Hour),
	})
	if err != nil {
		h.Fatalf("RecordAttempt(%s, %s, %s): %v", id, owner, st, err)
	}
}

func (h *harness) getDelivery(id string) *store.Delivery {
	h.Helper()
	d, err := h.s.GetDelivery(h.ctx, id)
	if err != nil {
		h.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func (h *harness) wantDeliveryCounts(pending, failed int) {
	h.Helper()
	p, f, err := h.s.DeliveryCounts(h.ctx)
	if err != nil {
		h.Fatalf("DeliveryCounts: %v", err)
	}
	if p != pending || f != failed {
		h.Fatalf("DeliveryCounts = %d pending, %d failed; want %d, %d", p, f, pending, failed)
	}
}

func (h *harness) list(agent string, st store.DeliveryStatus, limit int) []string {
	h.Helper()
	ds, err := h.s.ListDeliveries(h.ctx, store.DeliveryFilter{Agent: agent, Status: st, Limit: limit})
	if err != nil {
		h.Fatalf("ListDeliveries(%s, %q): %v", agent, st, err)
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		if d.Agent != agent || (st != "" && d.Status != st) {
			h.Fatalf("ListDeliveries(%s, %q) returned %s of %s, %s", agent, st, d.ID, d.Agent, d.Status)
		}
		if len(d.Payload) != 0 {
			h.Fatalf("ListDeliveries returned %s with its payload", d.ID)
		}
		out[i] = d.ID
	}
	return out
}

func wantOrder(h *harness, what string, got []string, want ...string) {
	h.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func testDeliveryDueNow(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	got := h.claimDeliveries("d1", 10)
	if len(got) != 1 || got[0].ID != d.ID || got[0].AttemptCount != 0 {
		h.Fatalf("claimed %v, want %s with no attempts yet", ids(got), d.ID)
	}
	if got[0].LeaseOwner != "d1" {
		h.Fatalf("claimed delivery owner %q, want d1", got[0].LeaseOwner)
	}
	wantTime(h, "claimed LeaseUntil", got[0].LeaseUntil, h.now().Add(lease))
	if g := h.getDelivery(d.ID); g.Status != store.DeliveryPending || g.CallbackID != "cb-1" || g.CreatedAt.IsZero() {
		h.Fatalf("GetDelivery = %+v, want pending to cb-1 with CreatedAt", g)
	}
	if got := h.claimDeliveries("d2", 10); len(got) != 0 {
		h.Fatalf("second claim got %v", ids(got))
	}
}

func testDeliveryDueLater(h *harness) {
	due := h.now().Add(10 * time.Minute)
	d := h.newDelivery("agent-a", "cb-1", "", []byte("later"))
	d.NextAttemptAt = due
	h.enqueue(d)
	now := h.dlv("agent-a", "cb-1", "")
	got, _ := h.claimDeliveriesNext("d1", 10)
	h.wantIDs("claim", ids(got), []string{now.ID})
	h.record(now.ID, "d1", store.DeliveryDelivered, time.Time{})
	got, next := h.claimDeliveriesNext("d1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v before NextAttemptAt", ids(got))
	}
	wantTime(h, "next", next, due)
	h.clock.Advance(10 * time.Minute)
	h.wantIDs("claim when due", h.claimDeliveryIDs("d1", 10), []string{d.ID})
}

func testDeliverySkip(h *harness) {
	a := h.dlv("agent-a", "cb-1", "")
	b := h.dlv("agent-a", "cb-2", "")
	c := h.dlv("agent-a", "cb-3", "")
	h.wantIDs("claim skipping cb-1, cb-3", h.claimDeliveryIDs("d1", 10, "cb-1", "cb-3"), []string{b.ID})
	h.wantIDs("claim skipping cb-3", h.claimDeliveryIDs("d1", 10, "cb-3"), []string{a.ID})
	h.wantIDs("claim skipping nothing", h.claimDeliveryIDs("d1", 10), []string{c.ID})
}

func testDeliveryLimit(h *harness) {
	for range 5 {
		h.dlv("agent-a", "cb-1", "")
	}
	if got := h.claimDeliveries("d1", 0); len(got) != 0 {
		h.Fatalf("claim with Limit 0 got %v", ids(got))
	}
	if got := h.claimDeliveries("d1", 3); len(got) != 3 {
		h.Fatalf("claim with Limit 3 got %d", len(got))
	}
	if got := h.claimDeliveries("d1", 10); len(got) != 2 {
		h.Fatalf("claim with Limit 10 got %d, want the 2 left", len(got))
	}
}

func testDeliveryRetryLater(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	due := h.now().Add(5 * time.Minute)
	h.record(d.ID, "d1", store.DeliveryPending, due)
	g := h.getDelivery(d.ID)
	if g.Status != store.DeliveryPending || g.AttemptCount != 1 || len(g.Attempts) != 1 || g.LastError != "HTTP 500" {
		h.Fatalf("delivery after a failed attempt: %+v", g)
	}
	wantTime(h, "NextAttemptAt", g.NextAttemptAt, due)
	h.wantDeliveryCounts(1, 0)
	got, next := h.claimDeliveriesNext("d1", 10)
	if len(got) != 0 {
		h.Fatalf("claimed %v before NextAttemptAt", ids(got))
	}
	wantTime(h, "next", next, due)
	h.clock.Advance(4 * time.Minute)
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("claimed %v a minute early", ids(got))
	}
	h.clock.Advance(time.Minute)
	got = h.claimDeliveries("d2", 10)
	if len(got) != 1 || got[0].ID != d.ID || got[0].AttemptCount != 1 {
		h.Fatalf("claimed %v when due, want %s after 1 attempt", ids(got), d.ID)
	}
}

func testDeliveryDelivered(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
	g := h.getDelivery(d.ID)
	if g.Status != store.DeliveryDelivered || g.AttemptCount != 1 || len(g.Attempts) != 1 {
		h.Fatalf("delivered: %+v", g)
	}
	wantTime(h, "ExpiresAt", g.ExpiresAt, h.now().Add(24*time.Hour))
	h.wantDeliveryCounts(0, 0)
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("claimed %v after delivery", ids(got))
	}
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: store.DeliveryFailed})
	h.wantErr("RecordAttempt after the final one", err, store.ErrLeaseLost)
	if g := h.getDelivery(d.ID); g.Status != store.DeliveryDelivered || g.AttemptCount != 1 {
		h.Fatalf("delivery changed by a refused attempt: %+v", g)
	}
}

func testDeliveryFailed(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	other := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
	h.record(other.ID, "d1", store.DeliveryDelivered, time.Time{})
	if g := h.getDelivery(d.ID); g.Status != store.DeliveryFailed || g.AttemptCount != 1 || g.LastError != "HTTP 500" {
		h.Fatalf("failed: %+v", g)
	}
	h.wantDeliveryCounts(0, 1)
	wantOrder(h, "failed list", h.list("agent-a", store.DeliveryFailed, 0), d.ID)
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("claimed %v after failure", ids(got))
	}
}

func testDeliveryAttempts(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	attempts := []store.Attempt{
		{StatusCode: 503, Latency: 150 * time.Millisecond, Error: "HTTP 503", Response: `{"busy":true}`},
		{Latency: 15 * time.Second, Error: "timeout"},
		{StatusCode: 200, Latency: 20 * time.Millisecond, Response: "ok"},
	}
	statuses := []store.DeliveryStatus{store.DeliveryPending, store.DeliveryPending, store.DeliveryDelivered}
	for i, a := range attempts {
		h.claimDeliveries("d1", 10)
		a.At = h.now()
		attempts[i].At = a.At
		err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{
			ID: d.ID, Owner: "d1", Attempt: a, Status: statuses[i],
			NextAttemptAt: h.now().Add(time.Minute), ExpiresAt: h.now().Add(time.Hour),
		})
		if err != nil {
			h.Fatalf("RecordAttempt %d: %v", i, err)
		}
		h.clock.Advance(time.Minute)
	}
	g := h.getDelivery(d.ID)
	if g.AttemptCount != 3 || len(g.Attempts) != 3 || g.Status != store.DeliveryDelivered {
		h.Fatalf("delivery: %d attempts (%d kept), %s; want 3, delivered", g.AttemptCount, len(g.Attempts), g.Status)
	}
	for i, a := range g.Attempts {
		w := attempts[i]
		if !a.At.Equal(w.At) || a.StatusCode != w.StatusCode || a.Latency != w.Latency || a.Error != w.Error || a.Response != w.Response {
			h.Fatalf("attempt %d = %+v, want %+v", i, a, w)
		}
	}
}

func testDeliveryBadStatus(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: "bounced"})
	if err == nil {
		h.Fatalf("RecordAttempt with an unknown status succeeded")
	}
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
}

func testDeliveryWrongOwner(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d2", Status: store.DeliveryDelivered})
	h.wantErr("RecordAttempt by another owner", err, store.ErrLeaseLost)
	err = h.s.ReleaseDelivery(h.ctx, d.ID, "d2")
	h.wantErr("ReleaseDelivery by another owner", err, store.ErrLeaseLost)
	err = h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: "no-such-delivery", Owner: "d1", Status: store.DeliveryDelivered})
	if err == nil {
		h.Fatalf("RecordAttempt of an unknown delivery succeeded")
	}
	if g := h.getDelivery(d.ID); g.AttemptCount != 0 || g.Status != store.DeliveryPending {
		h.Fatalf("delivery changed by refused calls: %+v", g)
	}
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})
}

func testDeliveryLeaseValid(h *harness) {
	h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	h.clock.Advance(lease - time.Second)
	if got := h.claimDeliveries("d2", 10); len(got) != 0 {
		h.Fatalf("d2 claimed %v while d1's lease runs", ids(got))
	}
}

func testDeliveryLeaseExpiry(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	if _, _, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: "d1", Limit: 1, Lease: time.Minute}); err != nil {
		h.Fatalf("ClaimDeliveries: %v", err)
	}
	h.clock.Advance(2 * time.Minute)
	h.wantIDs("claim after the lease", h.claimDeliveryIDs("d2", 10), []string{d.ID})
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: store.DeliveryDelivered})
	h.wantErr("RecordAttempt by the old owner", err, store.ErrLeaseLost)
	err = h.s.ReleaseDelivery(h.ctx, d.ID, "d1")
	h.wantErr("ReleaseDelivery by the old owner", err, store.ErrLeaseLost)
	h.record(d.ID, "d2", store.DeliveryDelivered, time.Time{})
	if g := h.getDelivery(d.ID); g.AttemptCount != 1 || g.Status != store.DeliveryDelivered {
		h.Fatalf("delivery: %+v", g)
	}
}

func testDeliveryRelease(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	if err := h.s.ReleaseDelivery(h.ctx, d.ID, "d1"); err != nil {
		h.Fatalf("ReleaseDelivery: %v", err)
	}
	got := h.claimDeliveries("d2", 10)
	if len(got) != 1 || got[0].ID != d.ID || got[0].AttemptCount != 0 {
		h.Fatalf("claim after release got %v, want %s with no attempts", ids(got), d.ID)
	}
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: store.DeliveryDelivered})
	h.wantErr("RecordAttempt by the releasing owner", err, store.ErrLeaseLost)
	h.record(d.ID, "d2", store.DeliveryDelivered, time.Time{})
}

func testDeliveryGetUnknown(h *harness) {
	_, err := h.s.GetDelivery(h.ctx, "no-such-delivery")
	h.wantErr("GetDelivery(unknown)", err, store.ErrNotFound)
}

func testDeliveryExpires(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{
		ID: d.ID, Owner: "d1", Status: store.DeliveryDelivered,
		Attempt: store.Attempt{At: h.now(), StatusCode: 200}, ExpiresAt: h.now().Add(time.Hour),
	})
	if err != nil {
		h.Fatalf("RecordAttempt: %v", err)
	}
	h.clock.Advance(59 * time.Minute)
	h.getDelivery(d.ID)
	wantOrder(h, "list before expiry", h.list("agent-a", "", 0), d.ID)
	h.clock.Advance(2 * time.Minute)
	_, err = h.s.GetDelivery(h.ctx, d.ID)
	h.wantErr("GetDelivery(expired)", err, store.ErrNotFound)
	wantOrder(h, "list after expiry", h.list("agent-a", "", 0))
}
