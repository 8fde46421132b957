package storetest

import (
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// taskListTests cover ListTasks: filters, time ranges, paging and what a
// listed task leaves out.
var taskListTests = []test{
	{"NewestFirst", testTaskListOrder},
	{"Filters", testTaskListFilters},
	{"Pages", testTaskListPages},
	{"NoBodies", testTaskListNoBodies},
	{"Expired", testTaskListExpired},
}

func (h *harness) listTasks(f store.TaskFilter) []string {
	h.Helper()
	ts, err := h.s.ListTasks(h.ctx, f)
	if err != nil {
		h.Fatalf("ListTasks(%+v): %v", f, err)
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		if !f.Matches(t) {
			h.Fatalf("ListTasks(%+v) returned %s, which the filter does not select: %+v", f, t.ID, t)
		}
		if i > 0 && store.NewerFirst(ts[i-1].CreatedAt, ts[i-1].ID, t.CreatedAt, t.ID) >= 0 {
			h.Fatalf("ListTasks: %s before %s is not newest first", ts[i-1].ID, t.ID)
		}
		out[i] = t.ID
	}
	return out
}

func testTaskListOrder(h *harness) {
	var want []string
	for i := range 5 {
		want = append([]string{h.add("agent-a", h.id("chat")).ID}, want...)
		if i%2 == 1 {
			h.clock.Advance(time.Second)
		}
	}
	// Tasks created at one instant are ordered by id.
	got := h.listTasks(store.TaskFilter{})
	if len(got) != 5 {
		h.Fatalf("listed %v, want 5 tasks", got)
	}
	wantOrder(h, "limit 2", h.listTasks(store.TaskFilter{Limit: 2}), got[:2]...)
	if got[0] != want[0] {
		h.Fatalf("newest is %s, want %s", got[0], want[0])
	}
}

func testTaskListFilters(h *harness) {
	chat := h.id("chat")
	a1 := h.add("agent-a", chat)
	h.clock.Advance(time.Minute)
	a2 := h.add("agent-a", chat)
	h.clock.Advance(time.Minute)
	b1 := h.add("agent-b", h.id("chat"))
	h.clock.Advance(time.Minute)
	c1 := h.add("agent-c", h.id("chat"))
	// a1 runs and finishes, b1 runs.
	h.wantIDs("claim", h.claimIDs("w1", 10, "agent-a", "agent-b"), []string{a1.ID, b1.ID})
	h.finish(a1.ID, "w1")
	for _, tc := range []struct {
		name string
		f    store.TaskFilter
		want []string
	}{
		{"every task", store.TaskFilter{}, []string{c1.ID, b1.ID, a2.ID, a1.ID}},
		{"one agent", store.TaskFilter{Agents: []string{"agent-a"}}, []string{a2.ID, a1.ID}},
		{"two agents", store.TaskFilter{Agents: []string{"agent-b", "agent-c"}}, []string{c1.ID, b1.ID}},
		{"unknown agent", store.TaskFilter{Agents: []string{"nobody"}}, nil},
		{"chat", store.TaskFilter{ChatID: chat}, []string{a2.ID, a1.ID}},
		{"SUCCESS", store.TaskFilter{Status: store.TaskSuccess}, []string{a1.ID}},
		{"STARTED", store.TaskFilter{Status: store.TaskStarted}, []string{b1.ID}},
		{"PENDING", store.TaskFilter{Status: store.TaskPending}, []string{c1.ID, a2.ID}},
		{"PENDING of agent-a", store.TaskFilter{Status: store.TaskPending, Agents: []string{"agent-a"}}, []string{a2.ID}},
		{"since", store.TaskFilter{Since: b1.CreatedAt}, []string{c1.ID, b1.ID}},
		{"until (excluded)", store.TaskFilter{Until: b1.CreatedAt}, []string{a2.ID, a1.ID}},
		{"range", store.TaskFilter{Since: a2.CreatedAt, Until: c1.CreatedAt}, []string{b1.ID, a2.ID}},
	} {
		wantOrder(h, tc.name, h.listTasks(tc.f), tc.want...)
	}
}

func testTaskListPages(h *harness) {
	for i := range 7 {
		h.add("agent-a", h.id("chat"))
		if i%3 == 0 {
			h.clock.Advance(time.Second)
		}
	}
	ts, err := h.s.ListTasks(h.ctx, store.TaskFilter{})
	if err != nil {
		h.Fatalf("ListTasks: %v", err)
	}
	var full []string
	for _, t := range ts {
		full = append(full, t.ID)
	}
	f := store.TaskFilter{Limit: 3}
	var got []string
	for range 10 {
		page, err := h.s.ListTasks(h.ctx, f)
		if err != nil {
			h.Fatalf("ListTasks: %v", err)
		}
		for _, t := range page {
			got = append(got, t.ID)
		}
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After = &store.Position{At: last.CreatedAt, ID: last.ID}
		// A task created between pages is newer than every page.
		h.add("agent-a", h.id("chat"))
	}
	wantOrder(h, "pages while tasks arrive", got, full...)
}

func testTaskListNoBodies(h *harness) {
	t := h.started("agent-a")
	h.finish(t.ID, "w1")
	p := h.add("agent-a", h.id("chat"))
	ts, err := h.s.ListTasks(h.ctx, store.TaskFilter{})
	if err != nil {
		h.Fatalf("ListTasks: %v", err)
	}
	if len(ts) != 2 {
		h.Fatalf("listed %d tasks, want 2", len(ts))
	}
	for _, got := range ts {
		if len(got.Request.Body) != 0 {
			h.Fatalf("ListTasks returned %s with its request body", got.ID)
		}
		if got.Agent != "agent-a" || got.ChatID == "" || got.CreatedAt.IsZero() || got.Request.Path == "" {
			h.Fatalf("listed task %+v lacks its metadata", got)
		}
		switch got.ID {
		case t.ID:
			if got.Status != store.TaskSuccess || got.Result == nil || got.Result.StatusCode != 200 || len(got.Result.Body) != 0 {
				h.Fatalf("listed finished task %+v, want SUCCESS with its status code and no result body", got)
			}
		case p.ID:
			if got.Status != store.TaskPending || got.Result != nil {
				h.Fatalf("listed pending task %+v", got)
			}
		}
	}
}

func testTaskListExpired(h *harness) {
	t := h.started("agent-a") // finished below, kept for a day
	h.finish(t.ID, "w1")
	live := h.add("agent-a", h.id("chat"))
	h.clock.Advance(25 * time.Hour)
	got := h.listTasks(store.TaskFilter{})
	if slices.Contains(got, t.ID) || !slices.Contains(got, live.ID) {
		h.Fatalf("after expiry, listed %v; want %s and not %s", got, live.ID, t.ID)
	}
}
