package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/store"
)

var historyTests = []test{
	{"AppendRead", testHistoryAppendRead},
	{"BoundedByCount", testHistoryBoundedByCount},
	{"BoundedByBytes", testHistoryBoundedByBytes},
	{"ExpiresWithChat", testHistoryExpiresWithChat},
	{"Identity", testHistoryIdentity},
	{"ConcurrentAppendsDoNotInterleave", testHistoryConcurrent},
}

var histLimits = history.Limits{MaxTurns: 100, MaxBytes: 1 << 20}

func histKey(c *store.Chat) store.HistoryKey {
	return store.HistoryKey{ChatID: c.ID, Agent: c.Agent, Principal: c.Principal}
}

// exchangeTurns is one exchange: a question and its answer.
func exchangeTurns(h *harness, q, a string) []history.Turn {
	at := h.now()
	return []history.Turn{history.Text(history.RoleUser, q, at), history.Text(history.RoleAssistant, a, at)}
}

func (h *harness) appendHistory(c *store.Chat, lim history.Limits, turns []history.Turn) {
	h.Helper()
	err := h.s.AppendHistory(h.ctx, store.HistoryAppend{HistoryKey: histKey(c), Turns: turns, Limits: lim, ExpiresAt: c.ExpiresAt})
	if err != nil {
		h.Fatalf("AppendHistory(%s): %v", c.ID, err)
	}
}

func (h *harness) history(c *store.Chat) []string {
	h.Helper()
	turns, err := h.s.History(h.ctx, histKey(c))
	if err != nil {
		h.Fatalf("History(%s): %v", c.ID, err)
	}
	out := make([]string, len(turns))
	for i, t := range turns {
		out[i] = t.Role + ":" + string(t.Content)
	}
	return out
}

func (h *harness) wantHistory(c *store.Chat, want ...string) {
	h.Helper()
	got := h.history(c)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.Fatalf("History(%s) = %q, want %q", c.ID, got, want)
	}
}

func testHistoryAppendRead(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	h.wantHistory(c)
	h.appendHistory(c, histLimits, exchangeTurns(h, "q1", "a1"))
	h.appendHistory(c, histLimits, []history.Turn{{Role: history.RoleUser, Content: []byte(`{"event":"x","n":[1,2]}`), At: h.now()}})
	h.wantHistory(c, `user:"q1"`, `assistant:"a1"`, `user:{"event":"x","n":[1,2]}`)
	turns, _ := h.s.History(h.ctx, histKey(c))
	wantTime(h, "turn At", turns[0].At, h.now())
	err := h.s.AppendHistory(h.ctx, store.HistoryAppend{HistoryKey: histKey(c), Turns: []history.Turn{{Role: "system", Content: []byte(`"x"`)}}, Limits: histLimits, ExpiresAt: c.ExpiresAt})
	h.wantErr("AppendHistory(a system turn)", err, store.ErrInvalid)
	err = h.s.AppendHistory(h.ctx, store.HistoryAppend{HistoryKey: histKey(c), Turns: []history.Turn{{Role: "user", Content: []byte(`{`)}}, Limits: histLimits, ExpiresAt: c.ExpiresAt})
	h.wantErr("AppendHistory(content that is not JSON)", err, store.ErrInvalid)
}

func testHistoryBoundedByCount(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	lim := history.Limits{MaxTurns: 4, MaxBytes: 1 << 20}
	for i := range 5 {
		h.appendHistory(c, lim, exchangeTurns(h, fmt.Sprint("q", i), fmt.Sprint("a", i)))
	}
	h.wantHistory(c, `user:"q3"`, `assistant:"a3"`, `user:"q4"`, `assistant:"a4"`)
}

func testHistoryBoundedByBytes(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	turn := history.Text(history.RoleUser, "q0", h.now())
	// Room for a little over three turns of this size.
	lim := history.Limits{MaxTurns: 100, MaxBytes: 3*turn.Size() + 10}
	for i := range 4 {
		h.appendHistory(c, lim, exchangeTurns(h, fmt.Sprint("q", i), fmt.Sprint("a", i)))
	}
	// Three turns fit; the oldest of them is an answer, dropped too.
	h.wantHistory(c, `user:"q3"`, `assistant:"a3"`)
	if n := history.Size(nil); n != 0 {
		h.Fatalf("size of nothing %d", n)
	}
}

func testHistoryExpiresWithChat(h *harness) {
	c := h.newChat("agent-a")
	c.ExpiresAt = h.now().Add(time.Hour)
	h.saveChat(c)
	h.appendHistory(c, histLimits, exchangeTurns(h, "q", "a"))
	h.clock.Advance(59 * time.Minute)
	h.wantHistory(c, `user:"q"`, `assistant:"a"`)
	h.clock.Advance(2 * time.Minute)
	_, err := h.s.History(h.ctx, histKey(c))
	h.wantErr("History(expired chat)", err, store.ErrNotFound)
	err = h.s.AppendHistory(h.ctx, store.HistoryAppend{HistoryKey: histKey(c), Turns: exchangeTurns(h, "q", "a"), Limits: histLimits, ExpiresAt: h.now().Add(time.Hour)})
	h.wantErr("AppendHistory(expired chat)", err, store.ErrNotFound)
	// The same id made again (a caller's session ids give the same chat
	// id) starts with no history.
	again := *c
	again.CreatedAt, again.UpdatedAt, again.ExpiresAt = h.now(), h.now(), h.now().Add(time.Hour)
	h.saveChat(&again)
	h.wantHistory(&again)
	h.appendHistory(&again, histLimits, exchangeTurns(h, "new q", "new a"))
	h.wantHistory(&again, `user:"new q"`, `assistant:"new a"`)
}

func testHistoryIdentity(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	h.appendHistory(c, histLimits, exchangeTurns(h, "mine", "yes"))
	for _, k := range []store.HistoryKey{
		{ChatID: c.ID, Agent: "agent-b", Principal: c.Principal},
		{ChatID: c.ID, Agent: c.Agent, Principal: "someone-else"},
		{ChatID: "no-such-chat", Agent: c.Agent, Principal: c.Principal},
	} {
		_, err := h.s.History(h.ctx, k)
		h.wantErr(fmt.Sprintf("History(%+v)", k), err, store.ErrNotFound)
		err = h.s.AppendHistory(h.ctx, store.HistoryAppend{HistoryKey: k, Turns: exchangeTurns(h, "theirs", "no"), Limits: histLimits, ExpiresAt: c.ExpiresAt})
		h.wantErr(fmt.Sprintf("AppendHistory(%+v)", k), err, store.ErrNotFound)
	}
	h.wantHistory(c, `user:"mine"`, `assistant:"yes"`)
}

// testHistoryConcurrent appends exchanges to one chat from many
// goroutines: every question is followed by its own answer.
func testHistoryConcurrent(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	ConcurrentAppends(h.T, []store.Store{h.s}, c, 16)
}

// ConcurrentAppends appends n exchanges to chat c at once, spread over
// stores (instances of one database), and checks that all arrived and
// that no two interleave. Engines with several instances call it with
// more than one store.
func ConcurrentAppends(t *testing.T, stores []store.Store, c *store.Chat, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			at := time.Unix(0, 0).UTC()
			turns := []history.Turn{history.Text(history.RoleUser, fmt.Sprint("q", i), at), history.Text(history.RoleAssistant, fmt.Sprint("a", i), at)}
			err := s.AppendHistory(t.Context(), store.HistoryAppend{HistoryKey: histKey(c), Turns: turns, Limits: history.Limits{MaxTurns: 4 * n, MaxBytes: 1 << 20}, ExpiresAt: c.ExpiresAt})
			if err != nil {
				t.Errorf("AppendHistory: %v", err)
			}
		})
	}
	wg.Wait()
	turns, err := stores[0].History(t.Context(), histKey(c))
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(turns) != 2*n {
		t.Fatalf("%d turns, want %d", len(turns), 2*n)
	}
	seen := map[string]bool{}
	for i := 0; i < len(turns); i += 2 {
		q, a := string(turns[i].Content), string(turns[i+1].Content)
		if turns[i].Role != history.RoleUser || turns[i+1].Role != history.RoleAssistant || "\"a"+q[2:] != a || seen[q] {
			t.Fatalf("turns %d and %d are %s %s and %s %s: interleaved", i, i+1, turns[i].Role, q, turns[i+1].Role, a)
		}
		seen[q] = true
	}
}
