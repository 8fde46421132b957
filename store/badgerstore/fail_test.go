package badgerstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// corrupt writes a value the store cannot decode, behind its back.
func corrupt(t *testing.T, s *Store, k []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, []byte("\x00\x00\x00\x09{not json")) }); err != nil {
		t.Fatal(err)
	}
}

// wantUnavailable checks that every kind of call fails with
// ErrUnavailable, and says why.
func wantUnavailable(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	_, err := s.CreateTask(ctx, newTask("t-new", "chat-new"))
	_, _, cerr := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 1})
	_, gerr := s.GetTask(ctx, "t1")
	_, _, derr := s.DeliveryCounts(ctx)
	for _, err := range []error{err, cerr, gerr, derr} {
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "rebuild") {
			t.Fatalf("a call on a broken store: %v; want ErrUnavailable saying why", err)
		}
	}
}

// TestOpenWithRecordsItCannotRead: a record the index rebuild cannot
// decode does not stop the process, nor open a store serving a wrong
// queue: the store opens unavailable, and closes cleanly.
func TestOpenWithRecordsItCannotRead(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	mustCreate(t, s, "t1", "chat-1")
	corrupt(t, s, key(pTaskActive, "t0"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	wantUnavailable(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close of a broken store: %v", err)
	}
	// Once repaired, it opens and serves.
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(key(pTaskActive, "t0")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, dir, nil)
	defer s.Close()
	if got := claimIDs(t, s, "w1", 10); got["t1"] == nil {
		t.Fatalf("claimed %v after the repair, want t1", got)
	}
}

// TestRebuildFailsLater: when the rebuild after a failed commit fails, the
// store becomes unavailable instead of panicking.
func TestRebuildFailsLater(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	defer s.Close()
	mustCreate(t, s, "t1", "chat-1")
	corrupt(t, s, key(pDelivAct, "d0"))
	s.w.onFail(errors.New("a commit failed")) // what the writer calls then
	wantUnavailable(t, s)
}

// openFiles lists the files of this process under dir.
func openFiles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	var out []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir) {
			out = append(out, target)
		}
	}
	return out
}

// TestFailedOpenClosesWhatItOpened: an Open that fails after opening the
// database and the journal closes both, so the directory can be opened
// again at once.
func TestFailedOpenClosesWhatItOpened(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, nil)
	corrupt(t, s, key(pFanout, "t1", "00000000"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, GCInterval: -1})
	if err == nil {
		t.Fatalf("Open with saved deliveries it cannot read succeeded")
	}
	if strings.Contains(err.Error(), "not json") {
		t.Fatalf("the error quotes the record: %v", err)
	}
	if files := openFiles(t, dir); len(files) > 0 {
		t.Fatalf("a failed Open left files open: %v", files)
	}
	// The lock is released too.
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("the directory is still locked: %v", err)
	}
	db.Close()
}
