package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// TestUnavailable stops the database under two open stores: calls fail
// promptly with store.ErrUnavailable, and once the database is back the
// same stores work again, their listeners reconnected.
func TestUnavailable(t *testing.T) {
	srv := testkit.StartPostgres(t)
	dsn := srv.NewDatabase(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	mustCreate(t, a, "before", "chat-1")

	for round, down := range []func() error{srv.Stop, srv.Kill9} {
		if err := down(); err != nil {
			t.Fatalf("round %d: stopping the server: %v", round, err)
		}
		wantUnavailable(t, fmt.Sprint("round ", round), a)
		if err := srv.Start(); err != nil {
			t.Fatalf("round %d: starting the server again: %v", round, err)
		}
		// Connections from before the outage fail once each; the pool
		// replaces them. Within a few seconds, calls succeed again.
		id := fmt.Sprint("after-", round)
		eventually(t, 10*time.Second, func() error {
			_, err := a.CreateTask(context.Background(), newTask(id, "chat-2"))
			if err != nil && !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("CreateTask after the restart: %v, want success or ErrUnavailable", err)
			}
			return err
		})
		// b's listener reconnected: it wakes once on reconnecting, and
		// then hears a's notifications again.
		eventually(t, 10*time.Second, func() error {
			drain(b.TaskWake())
			_, err := a.CreateTask(context.Background(), newTask(fmt.Sprint(id, "-", time.Now().UnixNano()), "chat-3"))
			if err != nil {
				return err
			}
			if !woken(b.TaskWake(), 500*time.Millisecond) {
				return errors.New("b was not woken")
			}
			return nil
		})
	}
	if _, err := b.GetTask(context.Background(), "before"); err != nil {
		t.Fatalf("GetTask of a task from before the outages: %v", err)
	}
}

// wantUnavailable checks that calls on s fail with ErrUnavailable within
// about three seconds each, with a context that never ends.
func wantUnavailable(t *testing.T, what string, s *Store) {
	t.Helper()
	ctx := context.Background()
	calls := map[string]func() error{
		"CreateTask": func() error {
			_, err := s.CreateTask(ctx, newTask(fmt.Sprint("down-", time.Now().UnixNano()), "chat-x"))
			return err
		},
		"CreateTask with a key": func() error {
			n := newTask(fmt.Sprint("down-idem-", time.Now().UnixNano()), "chat-x")
			n.Idempotency = &store.Idempotency{Key: "k", Fingerprint: "f", ExpiresAt: time.Now().Add(time.Hour)}
			_, err := s.CreateTask(ctx, n)
			return err
		},
		"GetTask": func() error { _, err := s.GetTask(ctx, "before"); return err },
		"ClaimTasks": func() error {
			_, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 1, Lease: time.Minute})
			return err
		},
		"TaskCounts": func() error {
			s.counts.mu.Lock()
			s.counts.valid = false
			s.counts.mu.Unlock()
			_, _, err := s.TaskCounts(ctx)
			return err
		},
		"Remember": func() error { _, err := s.Remember(ctx, "k", time.Minute); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %s with the database down: %v, want ErrUnavailable", what, name, err)
		}
		if took > 3500*time.Millisecond {
			t.Errorf("%s: %s took %v to fail, want about 3s at most", what, name, took)
		}
	}
}

// eventually retries fn until it succeeds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
