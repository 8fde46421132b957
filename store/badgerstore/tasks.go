package badgerstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// A task is one record: a 4-byte length, the metadata as JSON, then the
// request body. While the task is unfinished it is ta/<id>; when it
// finishes it moves, without its body, to t/<id>, and its result body
// goes to tr/<id>. So intake writes one task key, and a restart rebuilds
// the queue from ta/ alone, without reading finished tasks.
//
// Claims are not written: one process owns a Badger directory, and a
// crash ends every lease anyway, so a claim (STARTED, the lease, the
// attempt count) lives in the in-memory index, and GetTask shows it from
// there. A retry or a final status writes the record.

// idemRecord is what an Idempotency-Key remembers.
type idemRecord struct {
	Fingerprint string    `json:"f"`
	TaskID      string    `json:"t"`
	ChatID      string    `json:"c"`
	ExpiresAt   time.Time `json:"e"`
}

// record frames metadata and a body in one value.
func record(meta, body []byte) []byte {
	b := make([]byte, 4, 4+len(meta)+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(meta)))
	b = append(b, meta...)
	return append(b, body...)
}

// compactRecord is a bit of a task record's length word: the metadata
// leaves out what the key and the creation time already say. There is no
// "id" (the key holds it), and no "updated_at" or "run_after" where they
// equal "created_at", as they do for every task at intake; decodeTask
// puts them back. With the chat's compact record (compactChat) that is
// 200 of the 1,060 bytes a queued task wrote to the value log, whose
// pages Badger writes through a shared mapping and so stay in the
// process's RSS: at 100k queued tasks the value log went from 103.6 to
// 84.5 MiB, and RssFile down as much. Records without the bit, written
// before it existed, read as they always did; an earlier version cannot
// read records with it.
const compactRecord = 1 << 31

// unrecord splits a value made by record or encodeTask; compact reports
// compactRecord.
func unrecord(b []byte) (meta, body []byte, compact bool, err error) {
	if len(b) < 4 {
		return nil, nil, false, errors.New("short record")
	}
	w := binary.BigEndian.Uint32(b)
	compact = w&compactRecord != 0
	n := int(w &^ compactRecord)
	if 4+n > len(b) {
		return nil, nil, false, errors.New("truncated record")
	}
	return b[4 : 4+n], b[4+n:], compact, nil
}

// encodeTask makes the record of t, stored under t.ID.
func encodeTask(t *store.Task, body []byte) ([]byte, error) {
	// The metadata is written straight after the length, and the length
	// filled in after: one allocation, mostly of the right size.
	b := make([]byte, 4, 4+512+len(body))
	compact := compactable(t)
	b, ok := appendTaskJSON(b, t, compact)
	if !ok {
		compact = false
		meta, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		b = append(b[:4], meta...)
	}
	w := uint32(len(b) - 4)
	if compact {
		w |= compactRecord
	}
	binary.BigEndian.PutUint32(b, w)
	return append(b, body...), nil
}

// compactable reports whether decodeTask can restore every field a
// compact record of t leaves out: it must tell a time left out (equal to
// CreatedAt) from a zero one, so none of the three may be zero.
func compactable(t *store.Task) bool {
	return t.ID != "" && !t.CreatedAt.IsZero() && !t.UpdatedAt.IsZero() && !t.RunAfter.IsZero()
}

// sameTime reports whether a and b are written alike: the same instant
// in the same location.
func sameTime(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() }

// decodeTask reads the task record v, stored under id, into t, and
// returns the request body it holds.
func decodeTask(id string, v []byte, t *store.Task) (body []byte, err error) {
	meta, body, compact, err := unrecord(v)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(meta, t); err != nil {
		return nil, err
	}
	if compact {
		t.ID = id
		if t.UpdatedAt.IsZero() {
			t.UpdatedAt = t.CreatedAt
		}
		if t.RunAfter.IsZero() {
			t.RunAfter = t.CreatedAt
		}
	}
	return body, nil
}

// readTask loads a task record, unfinished or finished; withBody also
// copies the request body.
func readTask(r reader, id string, withBody bool) (*store.Task, error) {
	t, err := readRecord(r, pTaskActive, id, withBody)
	if errors.Is(err, store.ErrNotFound) {
		t, err = readRecord(r, pTask, id, withBody)
	}
	return t, err
}

// readActive loads the record of an unfinished task, with its body. A
// task that is missing, or whose record says it is final, is
// ErrNotFound: it must never be handed out again.
func readActive(r reader, id string) (*store.Task, error) {
	t, err := readRecord(r, pTaskActive, id, true)
	if err == nil && t.Status.Final() {
		return nil, store.ErrNotFound
	}
	return t, err
}

func readRecord(r reader, prefix, id string, withBody bool) (*store.Task, error) {
	var t store.Task
	err := r.value(key(prefix, id), func(b []byte) error {
		body, err := decodeTask(id, b, &t)
		if err != nil {
			return err
		}
		if withBody {
			t.Request.Body = append([]byte(nil), body...)
		}
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// metaSize bounds a task's record, for the writer's budget.
func metaSize(t *store.Task) int {
	n := 512 + len(t.ID) + len(t.Agent) + len(t.ChatID) + len(t.Principal) + len(t.Error) + len(t.Request.Path) + len(t.Request.RawQuery)
	for k, vs := range t.Request.Header {
		n += len(k) + 8
		for _, v := range vs {
			n += len(v) + 4
		}
	}
	for k, v := range t.Meta {
		n += len(k) + len(v) + 8
	}
	return n
}

// valueSize bounds what a value costs in a transaction: values above the
// value threshold (64 B) stay in the value log and cost a pointer. It
// counts up to 1 KiB, so it stays an upper bound should the threshold
// be raised.
func valueSize(n int) int { return min(n, 1<<10) + 64 }

// CreateTask implements store.Tasks.
func (s *Store) CreateTask(ctx context.Context, n store.NewTask) (store.Created, error) {
	if n.Task == nil || n.Task.ID == "" || n.Task.Agent == "" || n.Task.ChatID == "" {
		return store.Created{}, store.Invalid("a task needs an id, an agent and a chat id")
	}
	if err := store.CheckSize("a task", n.Task.RecordBytes()); err != nil {
		return store.Created{}, err
	}
	if c := n.Chat; c != nil {
		if c.ID == "" {
			return store.Created{}, store.Invalid("a chat needs an id")
		}
		if err := store.CheckSize("a chat", c.RecordBytes()); err != nil {
			return store.Created{}, err
		}
	}
	t := *n.Task
	body := t.Request.Body
	t.Request.Body = nil
	var out store.Created
	size := valueSize(metaSize(&t)+len(body)) + 1024
	err := s.writeJournaled(ctx, size, func(tx *wtxn) error {
		now := s.now()
		out = store.Created{}
		if idem := n.Idempotency; idem != nil {
			var rec idemRecord
			err := getJSON(tx, key(pIdem, idem.Key), &rec)
			if err == nil && rec.ExpiresAt.After(now) {
				if rec.Fingerprint != idem.Fingerprint {
					return store.ErrIdempotencyMismatch
				}
				first, err := readTask(tx, rec.TaskID, false)
				if errors.Is(err, store.ErrNotFound) {
					first, err = &store.Task{ID: rec.TaskID, ChatID: rec.ChatID}, nil
				}
				if err != nil {
					return err
				}
				out = store.Created{Task: first, Replayed: true}
				return nil
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		s.mu.Lock()
		t.Seq = s.nextSeq(now)
		s.mu.Unlock()
		t.Status = store.TaskPending
		t.CreatedAt, t.UpdatedAt = now, now
		if t.RunAfter.IsZero() {
			t.RunAfter = now
		}
		t.Attempts, t.LeaseOwner, t.LeaseUntil = 0, "", time.Time{}
		v, err := encodeTask(&t, body)
		if err != nil {
			return err
		}
		// The task's key comes first: the journal replays a record only
		// if the store lost it (see replayJournal).
		tx.set(key(pTaskActive, t.ID), v, time.Time{})
		if err := putTaskTime(tx, &t, time.Time{}); err != nil {
			return err
		}
		if c := n.Chat; c != nil {
			if err := tx.putChat(c); err != nil {
				return err
			}
		}
		if idem := n.Idempotency; idem != nil {
			if err := tx.setJSON(key(pIdem, idem.Key), idemRecord{idem.Fingerprint, t.ID, t.ChatID, idem.ExpiresAt}, idem.ExpiresAt); err != nil {
				return err
			}
		}
		tx.onApply(func() {
			s.mu.Lock()
			s.tasks.add(t.ID, t.ChatID, t.Agent, t.Seq, t.RunAfter)
			s.mu.Unlock()
		})
		created := t
		created.Request.Body = body
		out = store.Created{Task: &created}
		return nil
	})
	if err != nil {
		return store.Created{}, store.Safe("creating task", err)
	}
	if !out.Replayed {
		wake(s.taskWake)
	}
	return out, nil
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var t *store.Task
	err := s.db.View(func(txn *badger.Txn) (err error) {
		if t, err = readTask(view{txn}, id, true); err != nil {
			return err
		}
		if expired(t.ExpiresAt, s.now()) {
			return store.ErrNotFound
		}
		if t.Result != nil {
			t.Result.Body, err = getBytes(view{txn}, key(pTaskResult, id))
		}
		return err
	})
	if err != nil {
		return nil, store.Safe("reading task", err)
	}
	s.overlay(t)
	return t, nil
}

// overlay applies the in-memory claim state of an unfinished task.
func (s *Store) overlay(t *store.Task) {
	if t.Status.Final() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.tasks.items[t.ID]
	if it == nil {
		return
	}
	c := it.claimed()
	t.Attempts = max(t.Attempts, c.attempts)
	if !c.leaseUntil.IsZero() {
		t.Status = store.TaskStarted
		t.LeaseOwner, t.LeaseUntil = c.owner, c.leaseUntil
		t.UpdatedAt = c.startedAt
	}
}

// ClaimTasks implements store.Tasks.
func (s *Store) ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if err := s.usable(); err != nil {
		return nil, time.Time{}, err
	}
	var skip func(string) bool
	if c.Agents != nil {
		skip = func(agent string) bool { return !slices.Contains(c.Agents, agent) }
	}
	var ids []string
	var next, now time.Time
	// The claim runs in the writer so that it sees only committed tasks:
	// the writer adds to the index before its commit.
	err := s.w.do(ctx, false, 0, func(*wtxn) error {
		now = s.now()
		s.mu.Lock()
		ids, next = s.tasks.claim(now, c.Limit, c.Lease, c.Owner, skip)
		s.mu.Unlock()
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, next, store.Safe("claiming tasks", err)
	}
	claimed := make([]*store.Task, 0, len(ids))
	var gone []string
	err = s.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			// Only the record of an unfinished task is ever handed out:
			// it is the one with the request body, and a final task
			// must not run again, whatever the index says.
			t, err := readActive(view{txn}, id)
			if errors.Is(err, store.ErrNotFound) {
				gone = append(gone, id)
				continue
			}
			if err != nil {
				return err
			}
			claimed = append(claimed, t)
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range gone {
		// The index outlived its record; drop it rather than stall the
		// chat behind it.
		s.tasks.remove(id)
	}
	if err != nil {
		for _, id := range ids {
			s.tasks.unclaim(id)
		}
		return nil, time.Time{}, store.Safe("claiming tasks", err)
	}
	for _, t := range claimed {
		it := s.tasks.items[t.ID]
		if it == nil || it.c == nil || it.c.owner != c.Owner {
			continue
		}
		ic := it.c
		ic.attempts = max(ic.attempts, t.Attempts) + 1
		ic.startedAt = now
		t.Status, t.Attempts = store.TaskStarted, ic.attempts
		t.LeaseOwner, t.LeaseUntil, t.UpdatedAt = c.Owner, now.Add(c.Lease), now
		meta := *t
		meta.Request.Body = nil
		ic.task = &meta
	}
	return claimed, next, nil
}

// heldTask returns the task owner holds, as its claim left it. Callers
// hold s.mu.
func (s *Store) heldTask(id, owner string) (*item, *store.Task, error) {
	it := s.tasks.items[id]
	if it == nil || !it.heldBy(owner) {
		return nil, nil, store.ErrLeaseLost
	}
	t, ok := it.c.task.(*store.Task)
	if !ok {
		return nil, nil, store.ErrLeaseLost
	}
	cp := *t
	return it, &cp, nil
}

// RetryTask implements store.Tasks.
func (s *Store) RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error {
	err := s.write(ctx, false, 4096+len(lastError), func(tx *wtxn) error {
		now := s.now()
		s.mu.Lock()
		it, held, err := s.heldTask(id, owner)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		// The body is only in the record; read it to write it back.
		t, err := readActive(tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrLeaseLost
		}
		if err != nil {
			return err
		}
		if runAfter.IsZero() {
			runAfter = now
		}
		body := t.Request.Body
		t = held
		t.Status = store.TaskPending
		t.LeaseOwner, t.LeaseUntil = "", time.Time{}
		t.RunAfter, t.UpdatedAt = runAfter, now
		if lastError != "" {
			t.Error = lastError
		}
		if err := store.CheckSize("the task", t.RecordBytes()+len(body)); err != nil {
			return err
		}
		v, err := encodeTask(t, body)
		if err != nil {
			return err
		}
		tx.set(key(pTaskActive, id), v, time.Time{})
		tx.onApply(func() {
			s.mu.Lock()
			it.claim().attempts = t.Attempts
			s.tasks.release(id, runAfter)
			s.mu.Unlock()
		})
		return nil
	})
	if err == nil {
		wake(s.taskWake)
	}
	return store.Safe("retrying task", err)
}

// ReleaseTask implements store.Tasks. Nothing was written for the claim,
// so nothing is written to undo it.
func (s *Store) ReleaseTask(ctx context.Context, id, owner string) error {
	err := s.write(ctx, false, 0, func(tx *wtxn) error {
		s.mu.Lock()
		it, _, err := s.heldTask(id, owner)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		tx.onApply(func() {
			s.mu.Lock()
			it.claim().attempts--
			s.tasks.release(id, s.now())
			s.mu.Unlock()
		})
		return nil
	})
	if err == nil {
		wake(s.taskWake)
	}
	return store.Safe("releasing task", err)
}

// TaskCounts implements store.Tasks.
func (s *Store) TaskCounts(ctx context.Context) (pending, started int, err error) {
	if err := s.usable(); err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	total, leased := s.tasks.len()
	s.mu.Unlock()
	return total - leased, leased, nil
}
