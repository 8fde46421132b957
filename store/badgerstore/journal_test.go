package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

func TestJournalRecordRoundTrip(t *testing.T) {
	exp := time.Unix(1900000000, 123)
	in := []journalEntry{{key: []byte("t/a"), value: []byte("value a")}, {key: []byte("c/b"), value: nil, expiresAt: exp}}
	b := append(encodeJournal(in), encodeJournal(in[:1])...)
	recs := decodeJournal(b)
	if len(recs) != 2 || len(recs[0]) != 2 || len(recs[1]) != 1 {
		t.Fatalf("decoded %d records", len(recs))
	}
	if !bytes.Equal(recs[0][0].value, []byte("value a")) || !recs[0][1].expiresAt.Equal(exp) || len(recs[0][1].value) != 0 {
		t.Fatalf("decoded %+v", recs[0])
	}
	// A torn tail is dropped, the records before it kept.
	for cut := 1; cut < len(encodeJournal(in[:1])); cut++ {
		if got := decodeJournal(b[:len(b)-cut]); len(got) != 1 {
			t.Fatalf("cut %d: %d records, want 1", cut, len(got))
		}
	}
	// A flipped bit is caught by the checksum.
	bad := append([]byte(nil), b...)
	bad[12] ^= 1
	if got := decodeJournal(bad); len(got) != 0 {
		t.Fatalf("corrupt record accepted: %d", len(got))
	}
}

// TestJournalRestoresLostIntake: a task whose Badger write was lost (as
// an OS crash before Badger synced would lose it) comes back from the
// journal when the store opens, and records Badger kept are left alone.
func TestJournalRestoresLostIntake(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	dir := t.TempDir()
	s := open(t, dir, clock.Now)
	ctx := context.Background()
	now := clock.Now()
	mk := func(id string) store.NewTask {
		return store.NewTask{
			Task: &store.Task{ID: id, Agent: "a", ChatID: "chat-" + id, Request: store.Request{Method: "POST", Path: "/", Body: []byte("body " + id)}},
			Chat: &store.Chat{ID: "chat-" + id, Agent: "a", Principal: "p", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)},
		}
	}
	if _, err := s.CreateTask(ctx, mk("kept")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, mk("lost")); err != nil {
		t.Fatal(err)
	}
	// Keep a copy of the journal as a crash would have left it, then make
	// Badger lose "lost" and change "kept".
	segs, _, err := segments(filepath.Join(dir, journalDir))
	if err != nil || len(segs) == 0 {
		t.Fatalf("journal segments %v, %v", segs, err)
	}
	saved, err := os.ReadFile(segs[len(segs)-1])
	if err != nil || len(saved) == 0 {
		t.Fatalf("journal empty: %v", err)
	}
	if err := s.db.DropPrefix(key(pTask, "lost"), key(pTaskActive, "lost"), key(pChat, "chat-lost")); err != nil {
		t.Fatal(err)
	}
	claimIDs(t, s, "w", 10)
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "kept", Owner: "w", Status: store.TaskSuccess, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, journalDir, segmentName(1)), saved, 0o600); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, clock.Now)
	defer s.Close()
	lost, err := s.GetTask(ctx, "lost")
	if err != nil || lost.Status != store.TaskPending || string(lost.Request.Body) != "body lost" {
		t.Fatalf("the lost task was not restored: %+v, %v", lost, err)
	}
	if _, err := s.GetChat(ctx, "chat-lost"); err != nil {
		t.Fatalf("the lost task's chat was not restored: %v", err)
	}
	kept, err := s.GetTask(ctx, "kept")
	if err != nil || kept.Status != store.TaskSuccess {
		t.Fatalf("replay overwrote a record Badger kept: %+v, %v", kept, err)
	}
	if got := claimIDs(t, s, "w2", 10); got["lost"] == nil || len(got) != 1 {
		t.Fatalf("claimed %v after the restore, want the lost task", got)
	}
	if segs, _, _ := segments(filepath.Join(dir, journalDir)); len(segs) != 1 {
		t.Fatalf("replayed segments were not removed: %v", segs)
	}
}

// TestCheckpointBesideIntake: a checkpoint syncs Badger's files in its
// own goroutine. While that sync is slow, intake goes on and is
// journaled in the next segment; the closed segment is removed only
// after the sync succeeds, and a failed sync keeps it for the next one.
func TestCheckpointBesideIntake(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	dir := t.TempDir()
	s := open(t, dir, clock.Now)
	ctx := context.Background()
	entered := make(chan struct{}, 8)
	results := make(chan error)
	var slow atomic.Bool
	slow.Store(true)
	s.w.syncBadger = func() error {
		if !slow.Load() {
			return nil
		}
		entered <- struct{}{}
		return <-results
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			slow.Store(false)
			close(results) // frees a sync the test left waiting
			s.Close()
		}
	})
	jdir := filepath.Join(dir, journalDir)
	create := func(id string) {
		t.Helper()
		if _, err := s.CreateTask(ctx, newTask(id, "chat-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	create("a")
	clock.Advance(2 * checkpointEvery)
	create("b") // due: the segment holding a and b is handed over
	<-entered
	create("c") // the checkpoint is still syncing
	segs, _, _ := segments(jdir)
	if len(segs) != 2 {
		t.Fatalf("segments during the checkpoint: %v, want the closed one and the current one", segs)
	}
	results <- errors.New("disk trouble")
	// The failed checkpoint's segment stays; the next one takes it along.
	clock.Advance(2 * checkpointEvery)
	create("d")
	<-entered
	if segs, _, _ := segments(jdir); len(segs) != 3 {
		t.Fatalf("segments after a failed checkpoint: %v, want 3", segs)
	}
	results <- nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		segs, _, _ := segments(jdir)
		if len(segs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments after a good checkpoint: %v, want only the current one", segs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Close syncs once more and leaves no journal behind.
	slow.Store(false)
	closed = true
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _, _ := segments(jdir); len(segs) != 0 {
		t.Fatalf("segments after close: %v", segs)
	}
}

// FuzzDecodeJournal: a segment left by a crash may hold anything at its
// tail. Decoding never panics, never reads past its input, and whatever
// it accepts encodes back to the same bytes.
func FuzzDecodeJournal(f *testing.F) {
	rec := encodeJournal([]journalEntry{{key: []byte("ta/x"), value: []byte("v")}, {key: []byte("c/y"), expiresAt: time.Unix(2000000000, 0)}})
	f.Add(rec)
	f.Add(append(append([]byte(nil), rec...), rec[:9]...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		for _, r := range decodeJournal(b) {
			if len(r) == 0 {
				t.Fatal("decoded an empty record")
			}
			again = append(again, encodeJournal(r)...)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatalf("re-encoding differs from the input it came from")
		}
	})
}

// TestJournalAbortRecord: records voided by a later abort record (their
// commit failed after they were appended) are not replayed; the others
// are.
func TestJournalAbortRecord(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	dir := t.TempDir()
	s := open(t, dir, clock.Now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	task := func(id string) []byte {
		v, err := encodeTask(&store.Task{ID: id, Agent: "a", ChatID: "c-" + id, Status: store.TaskPending, Seq: 1}, []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		return encodeJournal([]journalEntry{{key: key(pTaskActive, id), value: v}, {key: key(pChat, "c-"+id), value: []byte(`{"id":"c-` + id + `"}`)}})
	}
	var seg1, seg2 []byte
	seg1 = append(seg1, task("good")...)
	seg1 = append(seg1, task("void")...)
	// The abort record may land in the next segment (a rotation in
	// between).
	seg2 = append(seg2, encodeJournal([]journalEntry{{key: []byte(abortKey)}, {key: key(pTaskActive, "void")}})...)
	jdir := filepath.Join(dir, journalDir)
	if err := os.WriteFile(filepath.Join(jdir, segmentName(1)), seg1, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jdir, segmentName(2)), seg2, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, clock.Now)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.GetTask(ctx, "good"); err != nil {
		t.Fatalf("the journaled task was not restored: %v", err)
	}
	if _, err := s.GetTask(ctx, "void"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a voided record was restored: %v", err)
	}
	if _, err := s.GetChat(ctx, "c-void"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a voided record's chat was restored: %v", err)
	}
}
