package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// writeRecords writes n records of about size bytes each, one write per
// record, and returns what was written.
func writeRecords(t *testing.T, j *journal, n, size int, tag string) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		rec := encodeJournal([]journalEntry{{key: fmt.Appendf(nil, "ta/%s-%d", tag, i), value: bytes.Repeat([]byte{'v'}, size)}})
		if err := j.write([][]byte{rec}); err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// TestJournalPreallocates: a segment that grows past preallocAfter gets
// durable zeros ahead of its records, its records land over them, and
// the whole file still decodes to exactly the records written. The next
// segment after a loaded one starts its zeros at once.
func TestJournalPreallocates(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recs := writeRecords(t, j, 100, 500, "small")
	if fi, _ := j.f.Stat(); fi.Size() != j.size || j.ext != nil {
		t.Fatalf("a small segment was preallocated: file %d bytes, records %d", fi.Size(), j.size)
	}
	recs = append(recs, writeRecords(t, j, 3000, 1000, "big")...) // about 3 MiB
	j.waitExtension()
	fi, err := j.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if j.alloc <= j.size || fi.Size() != j.alloc {
		t.Fatalf("records end at %d, zeros at %d, file at %d: want zeros written ahead", j.size, j.alloc, fi.Size())
	}
	b, err := os.ReadFile(j.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:j.size], bytes.Join(recs, nil)) {
		t.Fatal("the records in the file differ from those written")
	}
	if bytes.ContainsFunc(b[j.size:], func(r rune) bool { return r != 0 }) {
		t.Fatal("the preallocated tail is not all zeros")
	}
	if got := decodeJournal(b); len(got) != len(recs) {
		t.Fatalf("decoded %d records from a preallocated segment, want %d", len(got), len(recs))
	}

	// A rotation after a loaded segment starts zeros in the new one, past
	// its first records.
	if _, err := j.rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	if j.ext == nil || j.ext.from != preallocFirst {
		t.Fatalf("no extension in the segment after a loaded one: %+v", j.ext)
	}
	first := writeRecords(t, j, 10, 100, "next")
	j.waitExtension()
	b, err = os.ReadFile(j.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != preallocFirst+preallocAhead || len(decodeJournal(b)) != len(first) {
		t.Fatalf("new segment: %d bytes, %d records; want %d bytes, %d records", len(b), len(decodeJournal(b)), preallocFirst+preallocAhead, len(first))
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
}

// TestJournalPreallocatedRestore: tasks journaled into a preallocated
// segment, then lost by Badger (as a crash before a checkpoint loses
// them), all come back at the next open; the zeros after them end the
// segment without harm.
func TestJournalPreallocatedRestore(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	dir := t.TempDir()
	s := open(t, dir, clock.Now)
	ctx := context.Background()
	const n = 3000 // each record is about 700 bytes: about 2 MiB in all
	body := bytes.Repeat([]byte{'b'}, 400)
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		nt := newTask(id, "chat-"+id)
		nt.Task.Request.Body = body
		if _, err := s.CreateTask(ctx, nt); err != nil {
			t.Fatal(err)
		}
	}
	jdir := filepath.Join(dir, journalDir)
	segs, _, _ := segments(jdir)
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	saved, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := len(decodeJournal(saved)); got != n {
		t.Fatalf("the segment decodes to %d records, want %d", got, n)
	}
	if !bytes.HasSuffix(saved, make([]byte, 64<<10)) {
		t.Fatal("the segment was not preallocated")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Badger loses everything: a fresh Badger directory, the saved
	// segment put back in its journal.
	dir2 := t.TempDir()
	s2 := open(t, dir2, clock.Now)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, journalDir, segmentName(1)), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 = open(t, dir2, clock.Now)
	defer s2.Close()
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		got, err := s2.GetTask(ctx, id)
		if err != nil {
			t.Fatalf("task %s was not restored: %v", id, err)
		}
		if got.Status != store.TaskPending {
			t.Fatalf("task %s restored as %s", id, got.Status)
		}
	}
}
