package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// TestGroupCommit starts many CreateTask calls at once: all succeed, with
// distinct seqs, in fewer transactions than calls.
func TestGroupCommit(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	const n = 100
	start := make(chan struct{})
	seqs := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := s.CreateTask(context.Background(), newTask(fmt.Sprint("t-", i), fmt.Sprint("chat-", i%7)))
			if err != nil {
				t.Errorf("CreateTask: %v", err)
				return
			}
			seqs[i] = c.Task.Seq
		})
	}
	before := s.batch.batches.Load()
	close(start)
	wg.Wait()
	batches := s.batch.batches.Load() - before
	t.Logf("%d creates in %d transactions", n, batches)
	if batches >= n {
		t.Errorf("%d creates took %d transactions; want them grouped", n, batches)
	}
	seen := map[int64]bool{}
	for i, seq := range seqs {
		if seq == 0 || seen[seq] {
			t.Fatalf("task %d has seq %d, want a distinct non-zero seq", i, seq)
		}
		seen[seq] = true
	}
	if p, _, err := s.TaskCounts(context.Background()); err != nil || p != n {
		t.Fatalf("TaskCounts = %d, %v; want %d pending", p, err, n)
	}
}

func req(ctx context.Context, n store.NewTask) *createReq {
	t := *n.Task
	r := &createReq{ctx: ctx, task: &t, done: make(chan error, 1)}
	if err := r.encode(); err != nil {
		panic(err)
	}
	if n.Chat != nil {
		c := *n.Chat
		r.chat = &c
	}
	return r
}

// TestBatchIsolatesFailures writes a batch in which one request reuses a
// task id and one has given up: the others are committed all the same.
func TestBatchIsolatesFailures(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	mustCreate(t, s, "taken", "chat-0")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	day := s.clock().AddDate(0, 0, 1)
	c1, c2 := newTask("a", "chat-1"), newTask("b", "chat-1")
	// Two requests of one batch replace the same chat; the later wins.
	c1.Chat = &store.Chat{ID: "chat-1", Agent: "agent-a", ConversationID: "first", ExpiresAt: day}
	c2.Chat = &store.Chat{ID: "chat-1", Agent: "agent-a", ConversationID: "second", ExpiresAt: day}
	batch := []*createReq{req(ctx, c1), req(ctx, newTask("taken", "chat-2")), req(canceled, newTask("gave-up", "chat-3")), req(ctx, c2)}
	s.batch.write(batch)
	for i, want := range []error{nil, errors.New("duplicate"), context.Canceled, nil} {
		err := <-batch[i].done
		switch {
		case want == nil && err != nil:
			t.Errorf("request %d: %v, want success", i, err)
		case want != nil && err == nil:
			t.Errorf("request %d succeeded, want an error", i)
		case errors.Is(want, context.Canceled) && !errors.Is(err, context.Canceled):
			t.Errorf("request %d: %v, want context.Canceled", i, err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.GetTask(ctx, id); err != nil {
			t.Errorf("GetTask(%s): %v", id, err)
		}
	}
	if _, err := s.GetTask(ctx, "gave-up"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTask(gave-up) = %v, want ErrNotFound", err)
	}
	if g, _ := s.GetTask(ctx, "taken"); g == nil || g.ChatID != "chat-0" {
		t.Errorf("the first task with the reused id was changed: %+v", g)
	}
	if c, err := s.GetChat(ctx, "chat-1"); err != nil || c.ConversationID != "second" {
		t.Errorf("GetChat(chat-1) = %+v, %v; want the later request's chat", c, err)
	}
}

// TestCreateAfterClose fails with ErrUnavailable rather than hang.
func TestCreateAfterClose(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := s.CreateTask(context.Background(), newTask("late", "chat-1"))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateTask after Close = %v, want ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestOddStrings stores the strings PostgreSQL text refuses (NUL, invalid
// UTF-8) where callers control them, and answers lookups of such ids with
// ErrNotFound.
func TestOddStrings(t *testing.T) {
	s := open(t, testkit.Postgres(t), nil)
	ctx := context.Background()
	odd := "a\x00b\xff"
	n := newTask("t1", "chat-1")
	n.Task.Principal = odd
	n.Chat = &store.Chat{ID: "chat-1", Agent: "agent-a", Principal: odd, ConversationID: odd, ExpiresAt: s.clock().AddDate(0, 0, 1)}
	n.Idempotency = &store.Idempotency{Key: odd, Fingerprint: odd, ExpiresAt: s.clock().AddDate(0, 0, 1)}
	if _, err := s.CreateTask(ctx, n); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	if g, err := s.GetTask(ctx, "t1"); err != nil || g.Principal != odd {
		t.Fatalf("GetTask = %+v, %v; want the principal kept byte for byte", g, err)
	}
	if c, err := s.GetChat(ctx, "chat-1"); err != nil || c.Principal != odd || c.ConversationID != odd {
		t.Fatalf("GetChat = %+v, %v; want principal and conversation kept byte for byte", c, err)
	}
	if fresh, err := s.Remember(ctx, odd, 0); err != nil || !fresh {
		t.Fatalf("Remember(odd) = %v, %v", fresh, err)
	}
	for name, err := range map[string]error{
		"GetTask":  func() error { _, err := s.GetTask(ctx, odd); return err }(),
		"GetChat":  func() error { _, err := s.GetChat(ctx, odd); return err }(),
		"GetDeliv": func() error { _, err := s.GetDelivery(ctx, odd); return err }(),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(odd id) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.CreateTask(ctx, newTask(odd, "chat-1")); err == nil {
		t.Errorf("CreateTask with an id PostgreSQL cannot store succeeded")
	}
}
