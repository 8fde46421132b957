package badgerstore

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestWritebackKeepsTheSyncMark: writeback only starts writing files out,
// so it must not move the mark below which value-log files count as
// synced; a sync does.
func TestWritebackKeepsTheSyncMark(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("syncFiles calls Badger's own Sync elsewhere")
	}
	dir := t.TempDir()
	for _, name := range []string{"000001.vlog", "000002.vlog", "00005.mem", "000003.sst", "MANIFEST"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var st dirSyncState
	if err := startWriteback(dir, &st); err != nil {
		t.Fatalf("writeback: %v", err)
	}
	if st.vlog != 0 {
		t.Fatalf("writeback moved the sync mark to %d", st.vlog)
	}
	var seen []string
	top, err := eachLog(dir, &st, func(path string) error {
		seen = append(seen, filepath.Base(path))
		return nil
	})
	if err != nil || top != 2 || len(seen) != 3 {
		t.Fatalf("eachLog saw %v, top %d, err %v; want both value logs and the memtable log, top 2", seen, top, err)
	}
	if err := syncFiles(nil, dir, &st); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if st.vlog != 2 {
		t.Fatalf("sync mark %d after a sync, want 2", st.vlog)
	}
	// A file vanishing between the listing and the open (flushed or
	// collected by Badger) is not an error.
	if err := writebackPath(filepath.Join(dir, "000009.vlog")); err != nil {
		t.Fatalf("writeback of a vanished file: %v", err)
	}
}

// TestCheckpointerWritesBack: between checkpoints the checkpointer starts
// the writeback of Badger's logs after writes, and leaves an idle store
// alone.
func TestCheckpointerWritesBack(t *testing.T) {
	s := open(t, t.TempDir(), time.Now)
	defer s.Close()
	var calls atomic.Int32
	s.w.writeback = func() error { calls.Add(1); return nil }
	if _, err := s.CreateTask(context.Background(), newTask("a", "chat-a")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no writeback after a write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Give an unrelated batch in flight (none is expected) one tick to
	// land, then nothing more may happen while nothing is written.
	time.Sleep(2 * writebackEvery)
	before := calls.Load()
	time.Sleep(3 * writebackEvery)
	if after := calls.Load(); after != before {
		t.Fatalf("writeback ran %d times on an idle store", after-before)
	}
}
