package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// listingTests cover the delivery log: filters, time ranges and paging
// that stays stable while deliveries are added, and recovering with a
// range, a callback and a dry run.
var listingTests = []test{
	{"PagesStable", testListPagesStable},
	{"PagesFailed", testListPagesFailed},
	{"Filters", testListFilters},
	{"TimeRange", testListTimeRange},
	{"RecoverUntil", testRecoverUntil},
	{"RecoverCallback", testRecoverCallback},
	{"RecoverDryRun", testRecoverDryRun},
}

// listF lists with a filter and checks what every engine must: the agent,
// the filter, no payloads, newest first.
func (h *harness) listF(f store.DeliveryFilter) []*store.Delivery {
	h.Helper()
	ds, err := h.s.ListDeliveries(h.ctx, f)
	if err != nil {
		h.Fatalf("ListDeliveries(%+v): %v", f, err)
	}
	for i, d := range ds {
		if !f.Matches(d) {
			h.Fatalf("ListDeliveries(%+v) returned %s, which the filter does not select: %+v", f, d.ID, d)
		}
		if len(d.Payload) != 0 {
			h.Fatalf("ListDeliveries returned %s with its payload", d.ID)
		}
		if i > 0 && store.NewerFirst(f.ListTime(ds[i-1]), ds[i-1].ID, f.ListTime(d), d.ID) >= 0 {
			h.Fatalf("ListDeliveries: %s before %s is not newest first", ds[i-1].ID, d.ID)
		}
	}
	return ds
}

func idsInOrder(ds []*store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// pages reads every page of f, pageSize at a time, calling between after
// each page; it returns the ids in the order read.
func (h *harness) pages(f store.DeliveryFilter, pageSize int, between func(page int)) []string {
	h.Helper()
	f.Limit = pageSize
	var all []string
	for page := 0; page < 1000; page++ {
		ds := h.listF(f)
		all = append(all, idsInOrder(ds)...)
		if len(ds) < pageSize {
			return all
		}
		last := ds[len(ds)-1]
		f.After = &store.Position{At: f.ListTime(last), ID: last.ID}
		if between != nil {
			between(page)
		}
	}
	h.Fatal("paging did not end")
	return nil
}

func testListPagesStable(h *harness) {
	// Eleven deliveries over four instants: several share a creation
	// time, which the id then orders.
	var want []string
	for i := range 4 {
		var batch []*store.Delivery
		for range 1 + i%3 {
			batch = append(batch, h.newDelivery("agent-a", "cb-1", "", []byte("x")))
		}
		h.enqueue(batch...)
		for _, d := range batch {
			want = append(want, d.ID)
		}
		h.clock.Advance(time.Second)
	}
	full := idsInOrder(h.listF(store.DeliveryFilter{Agent: "agent-a", Limit: 1000}))
	if len(full) != len(want) {
		h.Fatalf("listed %d deliveries, want %d", len(full), len(want))
	}
	for _, size := range []int{1, 2, 3, len(want)} {
		wantOrder(h, fmt.Sprintf("pages of %d", size), h.pages(store.DeliveryFilter{Agent: "agent-a"}, size, nil), full...)
	}
	// New deliveries between pages come before the first page: the pages
	// still hold exactly the deliveries there were, once each.
	var added []string
	got := h.pages(store.DeliveryFilter{Agent: "agent-a"}, 2, func(int) {
		d := h.newDelivery("agent-a", "cb-1", "", []byte("new"))
		h.enqueue(d)
		added = append(added, d.ID)
	})
	wantOrder(h, "pages while deliveries arrive", got, full...)
	if n := len(h.listF(store.DeliveryFilter{Agent: "agent-a", Limit: 1000})); n != len(full)+len(added) {
		h.Fatalf("after paging, %d deliveries listed, want %d", n, len(full)+len(added))
	}
}

func testListPagesFailed(h *harness) {
	// Dead letters go by the time they failed, not by creation: the
	// first created fails last.
	ds := []*store.Delivery{h.dlv("agent-a", "cb-1", ""), h.dlv("agent-a", "cb-1", ""), h.dlv("agent-a", "cb-1", "")}
	h.claimDeliveries("d1", 10)
	var want []string
	for _, i := range []int{1, 2, 0} {
		h.clock.Advance(time.Second)
		h.record(ds[i].ID, "d1", store.DeliveryFailed, time.Time{})
		want = append([]string{ds[i].ID}, want...)
	}
	f := store.DeliveryFilter{Agent: "agent-a", Status: store.DeliveryFailed}
	wantOrder(h, "dead letters", h.pages(f, 1, nil), want...)
	// A failure that is retried and fails again moves to the front.
	if _, err := h.s.RetryDelivery(h.ctx, ds[1].ID); err != nil {
		h.Fatalf("RetryDelivery: %v", err)
	}
	h.clock.Advance(time.Second)
	h.claimDeliveries("d1", 10)
	h.record(ds[1].ID, "d1", store.DeliveryFailed, time.Time{})
	wantOrder(h, "dead letters after a new failure", h.pages(f, 2, nil), ds[1].ID, ds[0].ID, ds[2].ID)
}

func testListFilters(h *harness) {
	t1, t2 := h.started("agent-a"), h.started("agent-a")
	mk := func(task *store.Task, cb, event string) *store.Delivery {
		d := h.newDelivery("agent-a", cb, "", []byte("x"))
		d.TaskID, d.ChatID, d.EventType = task.ID, task.ChatID, event
		return d
	}
	a := mk(t1, "cb-1", "task.succeeded")
	b := mk(t1, "cb-2", "task.succeeded")
	h.finish(t1.ID, "w1", a, b)
	c := mk(t2, "cb-1", "task.failed")
	h.finish(t2.ID, "w1", c)
	other := h.newDelivery("agent-b", "cb-1", "", []byte("x"))
	h.enqueue(other)
	h.claimDeliveries("d1", 10)
	h.record(b.ID, "d1", store.DeliveryFailed, time.Time{})
	h.record(c.ID, "d1", store.DeliveryDelivered, time.Time{})

	for _, tc := range []struct {
		name string
		f    store.DeliveryFilter
		want []string
	}{
		{"callback", store.DeliveryFilter{CallbackID: "cb-1"}, []string{a.ID, c.ID}},
		{"task", store.DeliveryFilter{TaskID: t1.ID}, []string{a.ID, b.ID}},
		{"chat", store.DeliveryFilter{ChatID: t2.ChatID}, []string{c.ID}},
		{"event type", store.DeliveryFilter{EventType: "task.failed"}, []string{c.ID}},
		{"status", store.DeliveryFilter{Status: store.DeliveryPending}, []string{a.ID}},
		{"status and callback", store.DeliveryFilter{Status: store.DeliveryFailed, CallbackID: "cb-2"}, []string{b.ID}},
		{"callback and task", store.DeliveryFilter{CallbackID: "cb-1", TaskID: t1.ID}, []string{a.ID}},
		{"no match", store.DeliveryFilter{CallbackID: "cb-3"}, nil},
		{"other agent's task", store.DeliveryFilter{TaskID: other.TaskID}, nil},
	} {
		tc.f.Agent = "agent-a"
		got := idsInOrder(h.listF(tc.f))
		slices.Sort(got)
		h.wantIDs(tc.name, got, tc.want)
	}
}

func testListTimeRange(h *harness) {
	var ds []string // oldest first, one a minute
	var at []time.Time
	for range 4 {
		at = append(at, h.now())
		ds = append(ds, h.dlv("agent-a", "cb-1", "").ID)
		h.clock.Advance(time.Minute)
	}
	list := func(since, until time.Time) []string {
		return idsInOrder(h.listF(store.DeliveryFilter{Agent: "agent-a", Since: since, Until: until}))
	}
	wantOrder(h, "since the second", list(at[1], time.Time{}), ds[3], ds[2], ds[1])
	wantOrder(h, "until the third (excluded)", list(time.Time{}, at[2]), ds[1], ds[0])
	wantOrder(h, "from the second until the fourth", list(at[1], at[3]), ds[2], ds[1])
	wantOrder(h, "an empty range", list(at[2], at[2]))
	// Paging within a range.
	f := store.DeliveryFilter{Agent: "agent-a", Since: at[1], Until: at[3].Add(time.Second)}
	wantOrder(h, "pages of a range", h.pages(f, 1, nil), ds[3], ds[2], ds[1])
	// Dead letters: the range is on the time they failed.
	h.claimDeliveries("d1", 10)
	h.record(ds[0], "d1", store.DeliveryFailed, time.Time{})
	failedAt := h.now()
	failed := h.listF(store.DeliveryFilter{Agent: "agent-a", Status: store.DeliveryFailed, Since: failedAt})
	wantOrder(h, "dead letters since they failed", idsInOrder(failed), ds[0])
}

// failAt dead-letters a new delivery of agent to callback and moves the
// clock on by a minute; it returns the delivery id and when it failed.
func (h *harness) failAt(agent, callback string) (string, time.Time) {
	h.Helper()
	d := h.dlv(agent, callback, "")
	got := h.claimDeliveries("d1", 10)
	if len(got) != 1 {
		h.Fatalf("claimed %v, want one", ids(got))
	}
	at := h.now()
	h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
	h.clock.Advance(time.Minute)
	return d.ID, at
}

func (h *harness) recoverN(f store.RecoverFilter) int {
	h.Helper()
	n, err := h.s.RecoverDeliveries(h.ctx, f)
	if err != nil {
		h.Fatalf("RecoverDeliveries(%+v): %v", f, err)
	}
	return n
}

func testRecoverUntil(h *harness) {
	a, atA := h.failAt("agent-a", "cb-1")
	b, _ := h.failAt("agent-a", "cb-1")
	c, atC := h.failAt("agent-a", "cb-1")
	if n := h.recoverN(store.RecoverFilter{Agent: "agent-a", Since: atA, Until: atC}); n != 2 {
		h.Fatalf("recovered %d in [a, c), want 2", n)
	}
	wantOrder(h, "still failed", h.list("agent-a", store.DeliveryFailed, 0), c)
	h.wantIDs("claimed after recovery", h.claimDeliveryIDs("d1", 10), []string{a, b})
}

func testRecoverCallback(h *harness) {
	a, _ := h.failAt("agent-a", "cb-1")
	b, _ := h.failAt("agent-a", "cb-2")
	other, _ := h.failAt("agent-b", "cb-1")
	if n := h.recoverN(store.RecoverFilter{Agent: "agent-a", CallbackID: "cb-1"}); n != 1 {
		h.Fatalf("recovered %d of cb-1, want 1", n)
	}
	wantOrder(h, "still failed of agent-a", h.list("agent-a", store.DeliveryFailed, 0), b)
	wantOrder(h, "still failed of agent-b", h.list("agent-b", store.DeliveryFailed, 0), other)
	h.wantIDs("claimed after recovery", h.claimDeliveryIDs("d1", 10), []string{a})
}

func testRecoverDryRun(h *harness) {
	a, since := h.failAt("agent-a", "cb-1")
	b, _ := h.failAt("agent-a", "cb-1")
	h.failAt("agent-a", "cb-2")
	drain(h.s.DeliveryWake())
	if n := h.recoverN(store.RecoverFilter{Agent: "agent-a", Since: since, CallbackID: "cb-1", DryRun: true}); n != 2 {
		h.Fatalf("dry run counted %d, want 2", n)
	}
	if n := h.recoverN(store.RecoverFilter{Agent: "agent-a", DryRun: true}); n != 3 {
		h.Fatalf("dry run of every callback counted %d, want 3", n)
	}
	h.wantDeliveryCounts(0, 3)
	if got := h.claimDeliveries("d1", 10); len(got) != 0 {
		h.Fatalf("a dry run queued %v", ids(got))
	}
	if d := h.getDelivery(a); d.Status != store.DeliveryFailed || !d.RequeuedAt.IsZero() {
		h.Fatalf("after a dry run %s is %s, requeued at %v", a, d.Status, d.RequeuedAt)
	}
	if n := h.recoverN(store.RecoverFilter{Agent: "agent-a", Since: since, CallbackID: "cb-1"}); n != 2 {
		h.Fatalf("recovered %d, want the 2 the dry run counted", n)
	}
	h.wantIDs("claimed after recovery", h.claimDeliveryIDs("d1", 10), []string{a, b})
}
