// Package storetest is the conformance suite of store.Store. Every engine
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, c *storetest.Clock) store.Store {
//			return openEngine(t, c.Now)
//		})
//	}
//
// The suite uses nothing but the store.Store interface. Time is a settable
// Clock shared by the test and the engine, so expiries, leases and
// RunAfter are exercised without sleeping: an engine must read the time
// only through the clock it is given (this includes any cache behind
// TaskCounts, which the suite reads after advancing the clock by more than
// a second). Every sub-test opens a fresh, empty store.
//
// Times are whole seconds and durations whole minutes or seconds, so that
// engines storing microseconds (PostgreSQL) compare equal.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

// Clock is a settable clock shared by the test and the engine. It is safe
// for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until it is advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Open returns a fresh, empty store using clock.Now as its clock. The
// suite closes it when the sub-test ends.
type Open func(t *testing.T, clock *Clock) store.Store

// Start is the time every sub-test's clock starts from.
var Start = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

type test struct {
	name string
	fn   func(h *harness)
}

// Run runs every conformance sub-test, each with t.Run and a store of its
// own.
func Run(t *testing.T, open Open) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Chats", chatTests},
		{"History", historyTests},
		{"CreateTask", createTests},
		{"Claims", claimTests},
		{"Finish", finishTests},
		{"Deliveries", deliveryTests},
		{"DeadLetters", deadLetterTests},
		{"DeliveryOrder", deliveryOrderTests},
		{"Registrations", registrationTests},
		{"ReplayGuard", replayTests},
		{"Concurrency", concurrencyTests},
		{"CallbackStates", callbackStateTests},
		{"PerCallback", perCallbackTests},
		{"Requeue", requeueTests},
		{"WholeWrites", wholeWriteTests},
		{"PerAgent", perAgentTests},
		{"RegistrationLimit", registrationLimitTests},
		{"Loops", loopTests},
		{"Listings", listingTests},
		{"TaskList", taskListTests},
		{"APIKeys", apiKeyTests},
		{"Attempts", attemptTests},
		{"Events", eventTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(newHarness(t, open))
				})
			}
		})
	}
}

// harness bundles a sub-test's store, clock and helpers.
type harness struct {
	*testing.T
	s     store.Store
	clock *Clock
	ctx   context.Context

	mu sync.Mutex
	n  int // id counter
}

func newHarness(t *testing.T, open Open) *harness {
	clock := NewClock(Start)
	s := open(t, clock)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{T: t, s: s, clock: clock, ctx: context.Background()}
}

func (h *harness) now() time.Time { return h.clock.Now() }

// id returns a fresh id with a readable prefix.
func (h *harness) id(prefix string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return fmt.Sprintf("%s-%04d", prefix, h.n)
}

// binary returns n bytes covering every byte value, including invalid
// UTF-8, in a pattern that depends on seed.
func binary(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x) ^ byte(i)
	}
	return b
}

// newTask builds an unsaved task of agent in chat with a small request.
func (h *harness) newTask(agent, chat string) *store.Task {
	id := h.id("task")
	return &store.Task{
		ID:        id,
		Agent:     agent,
		ChatID:    chat,
		Principal: "principal-1",
		Endpoint:  "endpoint-1",
		Request: store.Request{
			Method:   http.MethodPost,
			Path:     "/prompts/" + agent,
			RawQuery: "task=" + id,
			Header:   http.Header{"Content-Type": {"application/json"}},
			Body:     []byte(`{"task":"` + id + `"}`),
		},
	}
}

// newChat builds an unsaved chat of agent that expires in a day.
func (h *harness) newChat(agent string) *store.Chat {
	now := h.now()
	return &store.Chat{
		ID:        h.id("chat"),
		Agent:     agent,
		Principal: "principal-1",
		CreatedAt: now,
		UpdatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
	}
}

// create stores a task and fails the test on error.
func (h *harness) create(t *store.Task) *store.Task {
	h.Helper()
	c, err := h.s.CreateTask(h.ctx, store.NewTask{Task: t})
	if err != nil {
		h.Fatalf("CreateTask(%s): %v", t.ID, err)
	}
	if c.Replayed || c.Task == nil || c.Task.ID != t.ID {
		h.Fatalf("CreateTask(%s) = %+v, want the new task", t.ID, c)
	}
	return c.Task
}

// add creates a task of agent in chat.
func (h *harness) add(agent, chat string) *store.Task {
	h.Helper()
	return h.create(h.newTask(agent, chat))
}

const lease = 5 * time.Minute

// claim claims up to limit tasks for owner with a five-minute lease.
func (h *harness) claim(owner string, limit int, agents ...string) []*store.Task {
	h.Helper()
	ts, _ := h.claimNext(owner, limit, agents...)
	return ts
}

func (h *harness) claimNext(owner string, limit int, agents ...string) ([]*store.Task, time.Time) {
	h.Helper()
	ts, next, err := h.s.ClaimTasks(h.ctx, store.Claim{Owner: owner, Agents: agents, Limit: limit, Lease: lease})
	if err != nil {
		h.Fatalf("ClaimTasks(%s): %v", owner, err)
	}
	for _, t := range ts {
		if t.Status != store.TaskStarted || t.LeaseOwner != owner {
			h.Fatalf("claimed task %s: status %s, owner %q; want STARTED, %q", t.ID, t.Status, t.LeaseOwner, owner)
		}
	}
	return ts, next
}

// claimIDs claims and returns the sorted ids.
func (h *harness) claimIDs(owner string, limit int, agents ...string) []string {
	h.Helper()
	return ids(h.claim(owner, limit, agents...))
}

// finish records SUCCESS for a task held by owner.
func (h *harness) finish(id, owner string, ds ...*store.Delivery) {
	h.Helper()
	err := h.s.FinishTask(h.ctx, store.TaskFinish{
		ID: id, Owner: owner, Status: store.TaskSuccess,
		Result:     &store.Result{StatusCode: 200, ContentType: "text/plain", Body: []byte("ok " + id)},
		ExpiresAt:  h.now().Add(24 * time.Hour),
		Deliveries: ds,
	})
	if err != nil {
		h.Fatalf("FinishTask(%s, %s): %v", id, owner, err)
	}
}

// get reads a task and fails the test on error.
func (h *harness) get(id string) *store.Task {
	h.Helper()
	t, err := h.s.GetTask(h.ctx, id)
	if err != nil {
		h.Fatalf("GetTask(%s): %v", id, err)
	}
	return t
}

// taskCounts reads TaskCounts after letting more than a second pass, since
// engines may answer from a cache up to a second old.
func (h *harness) taskCounts() (pending, started int) {
	h.Helper()
	h.clock.Advance(1100 * time.Millisecond)
	p, s, err := h.s.TaskCounts(h.ctx)
	if err != nil {
		h.Fatalf("TaskCounts: %v", err)
	}
	return p, s
}

func (h *harness) wantTaskCounts(pending, started int) {
	h.Helper()
	if p, s := h.taskCounts(); p != pending || s != started {
		h.Fatalf("TaskCounts = %d pending, %d started; want %d, %d", p, s, pending, started)
	}
}

func (h *harness) wantErr(what string, err, want error) {
	h.Helper()
	if !errors.Is(err, want) {
		h.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// ids returns the sorted ids of tasks or deliveries.
func ids[T interface{ *store.Task | *store.Delivery }](xs []T) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		switch v := any(x).(type) {
		case *store.Task:
			out = append(out, v.ID)
		case *store.Delivery:
			out = append(out, v.ID)
		}
	}
	slices.Sort(out)
	return out
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func (h *harness) wantIDs(what string, got, want []string) {
	h.Helper()
	if !slices.Equal(got, sorted(want...)) {
		h.Fatalf("%s: got %v, want %v", what, got, sorted(want...))
	}
}

func wantTime(h *harness, what string, got, want time.Time) {
	h.Helper()
	if !got.Equal(want) {
		h.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func wantBytes(h *harness, what string, got, want []byte) {
	h.Helper()
	if !bytes.Equal(got, want) {
		h.Fatalf("%s: got %d bytes %.32q..., want %d bytes %.32q...", what, len(got), got, len(want), want)
	}
}

// drain empties a wake channel, so that the next receive is caused by
// what the test does next.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// woken reports whether ch receives within a second.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(time.Second):
		return false
	}
}
