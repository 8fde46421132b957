package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// inOneBatch runs fns as ops of one batch: it holds the writer with an op
// that blocks until every fn is queued behind it. It returns their errors.
func inOneBatch(t *testing.T, s *Store, fns ...func(tx *wtxn) error) []error {
	t.Helper()
	ctx := context.Background()
	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = s.w.do(ctx, false, 0, func(*wtxn) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = s.w.do(ctx, false, 0, fn) })
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.w.ops) < len(fns); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d ops queued", len(s.w.ops), len(fns))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	return errs
}

func has(t *testing.T, s *Store, k string) bool {
	t.Helper()
	err := s.db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte(k)); return err })
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestFailedOpLeavesNothing: an op that fails after staging writes, or
// whose writes Badger would refuse, leaves none of them behind, and the
// ops sharing its transaction commit.
func TestFailedOpLeavesNothing(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	secret := bytes.Repeat([]byte("s3cr3t!"), 10_000)
	applied := false
	errs := inOneBatch(t, s,
		func(tx *wtxn) error {
			tx.set([]byte("x/before"), []byte("v"), time.Time{})
			return nil
		},
		func(tx *wtxn) error {
			tx.set([]byte("x/a1"), []byte("v"), time.Time{})
			tx.set([]byte("x/a2"), bytes.Repeat([]byte("v"), 100_000), time.Time{})
			tx.onApply(func() { applied = true })
			return errors.New("failed after its writes")
		},
		func(tx *wtxn) error {
			tx.set([]byte("x/b1"), []byte("v"), time.Time{})
			tx.set(secret, []byte("a key Badger refuses"), time.Time{})
			tx.onApply(func() { applied = true })
			return nil
		},
		func(tx *wtxn) error {
			tx.set([]byte("x/c1"), []byte("v"), time.Time{})
			tx.set([]byte("x/c2"), make([]byte, 17<<20), time.Time{}) // over a value-log file
			return nil
		},
		func(tx *wtxn) error {
			tx.set([]byte("x/after"), []byte("v"), time.Time{})
			return nil
		},
	)
	if errs[0] != nil || errs[4] != nil {
		t.Fatalf("the ops beside the failed ones failed: %v, %v", errs[0], errs[4])
	}
	if errs[1] == nil || !errors.Is(errs[2], store.ErrTooLarge) || !errors.Is(errs[3], store.ErrTooLarge) {
		t.Fatalf("errors %v; want the failed op's, then ErrTooLarge twice", errs[1:4])
	}
	if strings.Contains(errs[2].Error(), "s3cr3t") || strings.Contains(errs[2].Error(), "7333") {
		t.Fatalf("the error quotes the key: %q", errs[2])
	}
	if applied {
		t.Fatalf("a failed op changed the indexes")
	}
	for k, want := range map[string]bool{"x/before": true, "x/after": true, "x/a1": false, "x/a2": false, "x/b1": false, "x/c1": false} {
		if got := has(t, s, k); got != want {
			t.Errorf("%s stored: %v, want %v", k, got, want)
		}
	}
}

// TestBatchSplitsWhenEstimatesAreWrong: ops that declare no size but
// together outgrow one transaction are committed in several, all of them.
func TestBatchSplitsWhenEstimatesAreWrong(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	perOp := int(s.w.maxCount / 3) // three ops fill a transaction
	var fns []func(*wtxn) error
	for i := range 5 {
		fns = append(fns, func(tx *wtxn) error {
			for j := range perOp {
				tx.set(fmt.Appendf(nil, "x/%d/%06d", i, j), nil, time.Time{})
			}
			return nil
		})
	}
	before := s.w.commits.Load()
	for i, err := range inOneBatch(t, s, fns...) {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if n := s.w.commits.Load() - before; n < 2 {
		t.Fatalf("the batch took %d transaction(s); the test did not split it", n)
	}
	for i := range 5 {
		for _, j := range []int{0, perOp - 1} {
			if k := fmt.Sprintf("x/%d/%06d", i, j); !has(t, s, k) {
				t.Fatalf("%s is missing", k)
			}
		}
	}
}

// TestOpOverOneTransaction: an op bigger than any transaction fails alone,
// with ErrTooLarge, and writes nothing.
func TestOpOverOneTransaction(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	n := int(s.w.maxCount) + 10
	errs := inOneBatch(t, s,
		func(tx *wtxn) error { tx.set([]byte("x/small"), nil, time.Time{}); return nil },
		func(tx *wtxn) error {
			for j := range n {
				tx.set(fmt.Appendf(nil, "x/big/%07d", j), nil, time.Time{})
			}
			return nil
		},
		func(tx *wtxn) error { tx.set([]byte("x/small2"), nil, time.Time{}); return nil },
	)
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], store.ErrTooLarge) {
		t.Fatalf("errors %v; want nil, ErrTooLarge, nil", errs)
	}
	if !has(t, s, "x/small") || !has(t, s, "x/small2") || has(t, s, "x/big/0000000") {
		t.Fatalf("the batch did not keep exactly the small ops")
	}
}

// TestOpReadsItsOwnWrites: within an op, reads see its staged writes,
// deletes included.
func TestOpReadsItsOwnWrites(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	if err := s.w.do(ctx, false, 0, func(tx *wtxn) error { tx.set([]byte("x/k"), []byte("old"), time.Time{}); return nil }); err != nil {
		t.Fatal(err)
	}
	err := s.w.do(ctx, false, 0, func(tx *wtxn) error {
		if b, _ := getBytes(tx, []byte("x/k")); string(b) != "old" {
			return fmt.Errorf("read %q before writing, want old", b)
		}
		tx.set([]byte("x/k"), []byte("new"), time.Time{})
		if b, _ := getBytes(tx, []byte("x/k")); string(b) != "new" {
			return fmt.Errorf("read %q after writing, want new", b)
		}
		tx.delete([]byte("x/k"))
		if b, _ := getBytes(tx, []byte("x/k")); b != nil {
			return fmt.Errorf("read %q after deleting", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if has(t, s, "x/k") {
		t.Fatalf("the deleted key is stored")
	}
}

// TestStaleIndexNeverHandsOutAFinalTask: whatever the index says, a task
// whose record is final is not claimed, and is dropped from the index.
func TestStaleIndexNeverHandsOutAFinalTask(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	ctx := context.Background()
	mustCreate(t, s, "t1", "chat-1")
	// Make the index stale: finish the task behind the index's back, as a
	// half-committed finish once could.
	err := s.w.do(ctx, false, 0, func(tx *wtxn) error {
		v, err := encodeTask(&store.Task{ID: "t1", Agent: "agent-a", ChatID: "chat-1", Status: store.TaskSuccess}, nil)
		tx.set(key(pTaskActive, "t1"), v, time.Time{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, s, "w1", 10); len(got) != 0 {
		t.Fatalf("claimed %v: a final task", got)
	}
	if s.tasks.has("t1") {
		t.Fatalf("the stale index entry was kept")
	}
}

// TestStageLastWriteWins checks that a key staged again replaces its
// write, whether staged writes are found by a scan or, past
// linearWrites, by the map, and that reads see the last one.
func TestStageLastWriteWins(t *testing.T) {
	for _, n := range []int{3, linearWrites, linearWrites + 1, 3 * linearWrites} {
		tx := newWtxn(nil)
		for i := range n {
			tx.set(fmt.Appendf(nil, "k/%d", i), []byte("first"), time.Time{})
		}
		for i := 0; i < n; i += 2 {
			tx.set(fmt.Appendf(nil, "k/%d", i), []byte("second"), time.Time{})
		}
		tx.delete([]byte("k/1"))
		if len(tx.writes) != n {
			t.Fatalf("n=%d: %d writes staged", n, len(tx.writes))
		}
		for i := range n {
			var got string
			err := tx.value(fmt.Appendf(nil, "k/%d", i), func(v []byte) error { got = string(v); return nil })
			want := "first"
			if i%2 == 0 {
				want = "second"
			}
			if i == 1 {
				if !errors.Is(err, badger.ErrKeyNotFound) {
					t.Errorf("n=%d: deleted k/1 reads %q, %v", n, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("n=%d: k/%d = %q, %v; want %q", n, i, got, err, want)
			}
		}
	}
}
