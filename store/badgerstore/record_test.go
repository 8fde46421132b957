package badgerstore

import (
	"bytes"
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// rawValue reads a key's value as stored.
func rawValue(t *testing.T, s *Store, k []byte) []byte {
	t.Helper()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v", k, err)
	}
	return v
}

// TestCompactTaskRecords: intake writes a compact record (no id, no
// update or run time, which are the creation time); the store reads the
// task back whole, from the record and, after a restart, from the
// rebuilt queue. A record written before compact records existed reads
// as it always did, and is claimed after a restart.
func TestCompactTaskRecords(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	clock := func() time.Time { return now }
	s := open(t, dir, clock)
	ctx := context.Background()
	created := mustCreate(t, s, "t1", "chat-1")

	meta, body, compact, err := unrecord(rawValue(t, s, key(pTaskActive, "t1")))
	if err != nil || !compact {
		t.Fatalf("intake record: compact %v, err %v", compact, err)
	}
	for _, f := range []string{`"id":`, `"updated_at":`, `"run_after":`} {
		if bytes.Contains(meta, []byte(f)) {
			t.Errorf("the compact record holds %s: %s", f, meta)
		}
	}
	if !bytes.Contains(meta, []byte(`"created_at":"2030-01-02T03:04:05.000000006Z"`)) || string(body) != "body of t1" {
		t.Errorf("the compact record lost the creation time or the body: %s %q", meta, body)
	}
	got, err := s.GetTask(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "t1" || !got.UpdatedAt.Equal(now) || !got.RunAfter.Equal(now) || !got.CreatedAt.Equal(now) || got.ChatID != created.ChatID {
		t.Fatalf("GetTask read %+v", got)
	}

	// A record in the form written before: the full JSON, no flag.
	old := store.Task{
		ID: "t0", Agent: "agent-a", ChatID: "chat-0", Status: store.TaskPending, Seq: 1,
		Request:   store.Request{Method: "POST", Path: "/p"},
		RunAfter:  now.Add(-time.Hour),
		CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour),
	}
	full, err := json.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(pTaskActive, "t0"), record(full, []byte("old body")))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, clock)
	defer s.Close()
	for _, id := range []string{"t0", "t1"} {
		wantBody, wantAt := "body of t1", now
		if id == "t0" {
			wantBody, wantAt = "old body", now.Add(-time.Hour)
		}
		c, err := s.GetTask(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != id || string(c.Request.Body) != wantBody || !c.CreatedAt.Equal(wantAt) || !c.RunAfter.Equal(wantAt) || !c.UpdatedAt.Equal(wantAt) {
			t.Errorf("after a restart GetTask read %s as %+v", id, c)
		}
	}
	// The queue rebuilt from both forms hands both out, with their ids.
	claimed := claimIDs(t, s, "w1", 10)
	if len(claimed) != 2 || claimed["t0"] == nil || claimed["t1"] == nil || claimed["t0"].ID != "t0" || claimed["t1"].ID != "t1" {
		t.Fatalf("after a restart claimed %v, want t0 and t1", claimed)
	}
}

// TestCompactRecordRetry: a retry writes the run time it sets, which
// is not the creation time, and the update time; both read back.
func TestCompactRecordRetry(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	// The store's writer goroutine reads the clock; the test moves it.
	var tick atomic.Int64
	s := open(t, t.TempDir(), func() time.Time { return start.Add(time.Duration(tick.Load())) })
	defer s.Close()
	ctx := context.Background()
	mustCreate(t, s, "t1", "chat-1")
	claimIDs(t, s, "w1", 1)
	tick.Store(int64(time.Second))
	now := start.Add(time.Second)
	later := now.Add(time.Minute)
	if err := s.RetryTask(ctx, "t1", "w1", later, "backend down"); err != nil {
		t.Fatal(err)
	}
	meta, _, compact, err := unrecord(rawValue(t, s, key(pTaskActive, "t1")))
	if err != nil || !compact || !bytes.Contains(meta, []byte(`"run_after":`)) || !bytes.Contains(meta, []byte(`"updated_at":`)) {
		t.Fatalf("retried record (compact %v, err %v): %s", compact, err, meta)
	}
	got, err := s.GetTask(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "t1" || !got.RunAfter.Equal(later) || !got.UpdatedAt.Equal(now) || got.Error != "backend down" {
		t.Fatalf("GetTask read %+v", got)
	}
}

// checkChatRecord: the record encodeChat writes reads back as the chat
// json.Marshal writes reads back.
func checkChatRecord(t *testing.T, c *store.Chat) {
	t.Helper()
	want, ok := jsonReadBack(t, c)
	if !ok {
		return
	}
	b, err := encodeChat(c)
	if err != nil {
		t.Fatalf("encodeChat: %v", err)
	}
	compact := len(b) > 0 && b[0] == compactChat
	if wantCompact := c.ID != "" && !c.CreatedAt.IsZero() && !c.UpdatedAt.IsZero(); compact != wantCompact {
		t.Fatalf("compact %v, want %v: %q", compact, wantCompact, b)
	}
	if compact && bytes.Contains(b, []byte(`"id":`)) {
		t.Fatalf("a compact chat names its id: %s", b)
	}
	var back store.Chat
	if err := decodeChat(c.ID, b, &back); err != nil {
		t.Fatalf("decodeChat %q: %v", b, err)
	}
	got, _ := json.Marshal(&back)
	if !bytes.Equal(got, want) {
		t.Fatalf("the chat reads back otherwise:\n got %s\nwant %s\nrecord %q", got, want, b)
	}
}

// FuzzChatRecord: any chat reads back from its record as from its JSON.
func FuzzChatRecord(f *testing.F) {
	f.Add("c1", "agent", "p", "conv", int64(1893456000123456789), int64(0), 0)
	f.Add("", "", "", "", int64(0), int64(5), 3600)
	f.Fuzz(func(t *testing.T, id, agent, principal, conv string, at, later int64, zone int) {
		var when time.Time
		if at != 0 {
			when = time.Unix(0, at).In(time.FixedZone("", zone%(26*3600)))
		}
		upd := when.Add(time.Duration(later))
		if later < 0 {
			upd = time.Time{}
		}
		checkChatRecord(t, &store.Chat{ID: id, Agent: agent, Principal: principal, ConversationID: conv, CreatedAt: when, UpdatedAt: upd, ExpiresAt: when.Add(time.Hour)})
	})
}

// TestCompactChatRecords: a chat made at intake is written compact and
// reads back whole; a chat saved later keeps its update time; a chat in
// the form written before compact records reads as it always did.
func TestCompactChatRecords(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := open(t, t.TempDir(), func() time.Time { return now })
	defer s.Close()
	ctx := context.Background()
	chat := &store.Chat{ID: "chat-1", Agent: "agent-a", Principal: "p#1", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	n := newTask("t1", "chat-1")
	n.Chat = chat
	if _, err := s.CreateTask(ctx, n); err != nil {
		t.Fatal(err)
	}
	raw := rawValue(t, s, key(pChat, "chat-1"))
	if raw[0] != compactChat || bytes.Contains(raw, []byte(`"id":`)) || bytes.Contains(raw, []byte(`"updated_at":`)) {
		t.Fatalf("the chat made at intake is stored as %q", raw)
	}
	got, err := s.GetChat(ctx, "chat-1")
	if err != nil || *got != *chat {
		t.Fatalf("GetChat = %+v, %v; want %+v", got, err, chat)
	}

	saved := *chat
	saved.ConversationID, saved.UpdatedAt = "conv-9", now.Add(time.Minute)
	if err := s.SaveChat(ctx, &saved); err != nil {
		t.Fatal(err)
	}
	if raw := rawValue(t, s, key(pChat, "chat-1")); !bytes.Contains(raw, []byte(`"updated_at":"2030-01-02T03:05:05Z"`)) {
		t.Fatalf("the saved chat is stored as %q", raw)
	}
	if got, err := s.GetChat(ctx, "chat-1"); err != nil || *got != saved {
		t.Fatalf("GetChat = %+v, %v; want %+v", got, err, saved)
	}

	old := store.Chat{ID: "chat-0", Agent: "agent-a", Principal: "p#0", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	full, _ := json.Marshal(&old)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key(pChat, "chat-0"), full) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetChat(ctx, "chat-0"); err != nil || *got != old {
		t.Fatalf("GetChat of a record in the old form = %+v, %v; want %+v", got, err, old)
	}
}
