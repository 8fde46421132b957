package badgerstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/storetest"
)

// TestTaskIndexBackfill opens a database written before tasks had a
// creation-time index: the index is filled once, at open, with the
// expiry of finished tasks.
func TestTaskIndexBackfill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := storetest.NewClock(storetest.Start)
	s := open(t, dir, clock.Now)
	mustCreate(t, s, "a1", "chat-a")
	clock.Advance(time.Second)
	mustCreate(t, s, "b1", "chat-b")
	claimIDs(t, s, "w1", 1)
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "a1", Owner: "w1", Status: store.TaskSuccess, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("FinishTask: %v", err)
	}
	// Back to how an older version left the database: no index, no mark.
	err := s.DB().DropPrefix([]byte(pTaskTime), taskIndexKey)
	if err != nil {
		t.Fatal(err)
	}
	list := func(s *Store) []string {
		t.Helper()
		ts, err := s.ListTasks(ctx, store.TaskFilter{})
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		var ids []string
		for _, x := range ts {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if got := list(s); len(got) != 0 {
		t.Fatalf("listed %v without the index", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, clock.Now)
	if got := list(s); len(got) != 2 || got[0] != "b1" || got[1] != "a1" {
		t.Fatalf("listed %v after the backfill, want [b1 a1]", got)
	}
	var exp uint64
	err = s.DB().View(func(txn *badger.Txn) error {
		it, err := txn.Get(key(pTaskTime, stamp(storetest.Start), "a1"))
		if err == nil {
			exp = it.ExpiresAt()
		}
		return err
	})
	if err != nil || exp == 0 {
		t.Fatalf("the finished task's index entry: expiry %d, %v; want its task's", exp, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEncodeTaskTimeIsMarshal checks the hand-made tc/ value against
// json.Marshal, which wrote it before.
func TestEncodeTaskTimeIsMarshal(t *testing.T) {
	for _, c := range [][2]string{{"agent-a", "chat-1"}, {"", ""}, {"a\"b\\c", "<x>&y\u2028\x01é\xff"}} {
		want, err := json.Marshal(taskTime{Agent: c[0], Chat: c[1]})
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeTaskTime(c[0], c[1])
		if err != nil || string(got) != string(want) {
			t.Errorf("encodeTaskTime(%q, %q) = %s, %v; want %s", c[0], c[1], got, err, want)
		}
	}
}

// TestStampIsSprintf checks stamp against the fmt.Sprintf it replaces:
// stamps are in keys, and sort as they did.
func TestStampIsSprintf(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 0), time.Unix(0, 1), time.Now(), time.Unix(1<<33, 999), time.Unix(-5, 0), {}} {
		if got, want := stamp(at), fmt.Sprintf("%016x", at.UnixNano()); got != want {
			t.Errorf("stamp(%v) = %s, want %s", at, got, want)
		}
	}
}
