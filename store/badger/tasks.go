package badger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// activeTask is the index entry of an unfinished task, enough to rebuild
// the scheduler without reading task records.
type activeTask struct {
	Agent    string    `json:"a"`
	Chat     string    `json:"c"`
	Seq      int64     `json:"s"`
	RunAfter time.Time `json:"r"`
}

// idemRecord is what an Idempotency-Key remembers.
type idemRecord struct {
	Fingerprint string    `json:"f"`
	TaskID      string    `json:"t"`
	ChatID      string    `json:"c"`
	ExpiresAt   time.Time `json:"e"`
}

// metaSize bounds a task's metadata record, for the writer's budget.
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

// metaCap is the largest task metadata record the handler produces
// (headers are capped at 16 KiB), kept free in a claim's budget.
const metaCap = 24 << 10

// valueSize is what a value costs in a transaction: bodies above the
// value threshold stay in the value log and cost a pointer.
func valueSize(b []byte) int { return min(len(b), 1<<10) + 64 }

// CreateTask implements store.Tasks.
func (s *Store) CreateTask(ctx context.Context, n store.NewTask) (store.Created, error) {
	if n.Task == nil || n.Task.ID == "" || n.Task.Agent == "" || n.Task.ChatID == "" {
		return store.Created{}, errors.New("a task needs an id, an agent and a chat id")
	}
	t := *n.Task
	var out store.Created
	size := metaSize(&t) + valueSize(t.Request.Body) + 1024
	err := s.w.do(ctx, true, size, func(txn *badger.Txn) error {
		now := s.now()
		out = store.Created{}
		if idem := n.Idempotency; idem != nil {
			var rec idemRecord
			err := getJSON(txn, key(pIdem, idem.Key), &rec)
			if err == nil && rec.ExpiresAt.After(now) {
				if rec.Fingerprint != idem.Fingerprint {
					return store.ErrIdempotencyMismatch
				}
				first := &store.Task{ID: rec.TaskID, ChatID: rec.ChatID}
				if err := getJSON(txn, key(pTask, rec.TaskID), first); err != nil && !errors.Is(err, store.ErrNotFound) {
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
		if err := setJSON(txn, key(pTask, t.ID), &t, time.Time{}, now); err != nil {
			return err
		}
		if err := setEntry(txn, key(pTaskBody, t.ID), t.Request.Body, time.Time{}, now); err != nil {
			return err
		}
		if err := setJSON(txn, key(pTaskActive, t.ID), activeTask{t.Agent, t.ChatID, t.Seq, t.RunAfter}, time.Time{}, now); err != nil {
			return err
		}
		if c := n.Chat; c != nil {
			if err := setJSON(txn, key(pChat, c.ID), c, c.ExpiresAt, now); err != nil {
				return err
			}
		}
		if idem := n.Idempotency; idem != nil {
			rec := idemRecord{idem.Fingerprint, t.ID, t.ChatID, idem.ExpiresAt}
			if err := setJSON(txn, key(pIdem, idem.Key), rec, idem.ExpiresAt, now); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.tasks.add(t.ID, t.ChatID, t.Agent, t.Seq, t.RunAfter)
		s.mu.Unlock()
		created := t
		out = store.Created{Task: &created}
		return nil
	})
	if err != nil {
		return store.Created{}, err
	}
	if !out.Replayed {
		wake(s.taskWake)
	}
	return out, nil
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	var t store.Task
	err := s.db.View(func(txn *badger.Txn) error {
		if err := getJSON(txn, key(pTask, id), &t); err != nil {
			return err
		}
		if expired(t.ExpiresAt, s.now()) {
			return store.ErrNotFound
		}
		return loadBodies(txn, &t)
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func loadBodies(txn *badger.Txn, t *store.Task) error {
	body, err := getBytes(txn, key(pTaskBody, t.ID))
	if err != nil {
		return err
	}
	t.Request.Body = body
	if t.Result != nil {
		if t.Result.Body, err = getBytes(txn, key(pTaskResult, t.ID)); err != nil {
			return err
		}
	}
	return nil
}

// ClaimTasks implements store.Tasks.
func (s *Store) ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	var skip func(string) bool
	if c.Agents != nil {
		skip = func(agent string) bool { return !slices.Contains(c.Agents, agent) }
	}
	var claimed []*store.Task
	var next time.Time
	// About 4 KiB per task, plus room for one at the cap: the loop below
	// keeps metaCap free before each task after the first.
	budget := min(min(c.Limit, s.w.budget/4096)*4096+metaCap, s.w.budget)
	err := s.w.do(ctx, false, budget, func(txn *badger.Txn) error {
		now := s.now()
		s.mu.Lock()
		ids, nx := s.tasks.claim(now, c.Limit, c.Lease, c.Owner, skip)
		s.mu.Unlock()
		next = nx
		claimed = claimed[:0]
		written := 0
		for i, id := range ids {
			if i > 0 && written+metaCap > budget {
				// Stay inside the transaction: give the rest back.
				s.mu.Lock()
				for _, rest := range ids[i:] {
					s.tasks.unclaim(rest)
				}
				s.mu.Unlock()
				next = now
				break
			}
			var t store.Task
			if err := getJSON(txn, key(pTask, id), &t); err != nil {
				// The index outlived its record; drop it rather than stall
				// the chat behind it.
				s.mu.Lock()
				s.tasks.remove(id)
				s.mu.Unlock()
				continue
			}
			t.Status = store.TaskStarted
			t.Attempts++
			t.LeaseOwner, t.LeaseUntil = c.Owner, now.Add(c.Lease)
			t.UpdatedAt = now
			b, err := json.Marshal(&t)
			if err != nil {
				return err
			}
			if err := txn.Set(key(pTask, id), b); err != nil {
				return err
			}
			written += len(b) + 64
			claimed = append(claimed, &t)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(claimed) > 0 {
		// Bodies are read outside the writer, which only needed metadata.
		err = s.db.View(func(txn *badger.Txn) error {
			for _, t := range claimed {
				if err := loadBodies(txn, t); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return claimed, next, err
}

// heldTask loads a task that owner must hold, STARTED.
func (s *Store) heldTask(txn *badger.Txn, id, owner string) (*store.Task, error) {
	var t store.Task
	if err := getJSON(txn, key(pTask, id), &t); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.ErrLeaseLost
		}
		return nil, err
	}
	if t.Status != store.TaskStarted || t.LeaseOwner != owner {
		return nil, store.ErrLeaseLost
	}
	return &t, nil
}

// RetryTask implements store.Tasks.
func (s *Store) RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error {
	return s.requeue(ctx, id, owner, runAfter, lastError, false)
}

// ReleaseTask implements store.Tasks.
func (s *Store) ReleaseTask(ctx context.Context, id, owner string) error {
	return s.requeue(ctx, id, owner, time.Time{}, "", true)
}

func (s *Store) requeue(ctx context.Context, id, owner string, runAfter time.Time, lastError string, uncount bool) error {
	err := s.w.do(ctx, false, 4096+len(lastError), func(txn *badger.Txn) error {
		now := s.now()
		t, err := s.heldTask(txn, id, owner)
		if err != nil {
			return err
		}
		if runAfter.IsZero() {
			runAfter = now
		}
		t.Status = store.TaskPending
		t.LeaseOwner, t.LeaseUntil = "", time.Time{}
		t.RunAfter, t.UpdatedAt = runAfter, now
		if uncount && t.Attempts > 0 {
			t.Attempts--
		}
		if lastError != "" {
			t.Error = lastError
		}
		if err := setJSON(txn, key(pTask, id), t, time.Time{}, now); err != nil {
			return err
		}
		if err := setJSON(txn, key(pTaskActive, id), activeTask{t.Agent, t.ChatID, t.Seq, t.RunAfter}, time.Time{}, now); err != nil {
			return err
		}
		s.mu.Lock()
		s.tasks.release(id, runAfter)
		s.mu.Unlock()
		return nil
	})
	if err == nil {
		wake(s.taskWake)
	}
	return err
}

// FinishTask implements store.Tasks.
func (s *Store) FinishTask(ctx context.Context, f store.TaskFinish) error {
	if !f.Status.Final() {
		return fmt.Errorf("finishing a task needs a final status, not %q", f.Status)
	}
	size := 8192 + len(f.Error)
	if f.Result != nil {
		size += valueSize(f.Result.Body)
	}
	for _, d := range f.Deliveries {
		size += 1024 + valueSize(d.Payload)
	}
	err := s.w.do(ctx, true, size, func(txn *badger.Txn) error {
		now := s.now()
		t, err := s.heldTask(txn, f.ID, f.Owner)
		if err != nil {
			return err
		}
		var chat store.Chat
		chatErr := store.ErrNotFound
		if f.ConversationID != "" || !f.ChatExpiresAt.IsZero() {
			chatErr = getJSON(txn, key(pChat, t.ChatID), &chat)
			if chatErr != nil && !errors.Is(chatErr, store.ErrNotFound) {
				return chatErr
			}
		}
		for _, d := range f.Deliveries {
			if d.ID == "" || d.CallbackID == "" {
				return errors.New("a delivery needs an id and a callback id")
			}
		}
		// Checks are done; from here on, only writes.
		t.Status, t.Error = f.Status, f.Error
		t.LeaseOwner, t.LeaseUntil = "", time.Time{}
		t.UpdatedAt, t.FinishedAt, t.ExpiresAt = now, now, f.ExpiresAt
		var resultBody []byte
		if f.Result != nil {
			r := *f.Result
			resultBody, r.Body = r.Body, nil
			t.Result = &r
		}
		if err := setJSON(txn, key(pTask, t.ID), t, f.ExpiresAt, now); err != nil {
			return err
		}
		// The request body is not needed once the task is final.
		if err := txn.Delete(key(pTaskBody, t.ID)); err != nil {
			return err
		}
		if t.Result != nil {
			if err := setEntry(txn, key(pTaskResult, t.ID), resultBody, f.ExpiresAt, now); err != nil {
				return err
			}
		}
		if err := txn.Delete(key(pTaskActive, t.ID)); err != nil {
			return err
		}
		if chatErr == nil {
			if f.ConversationID != "" {
				chat.ConversationID = f.ConversationID
			}
			if !f.ChatExpiresAt.IsZero() {
				chat.ExpiresAt = f.ChatExpiresAt
			}
			chat.UpdatedAt = now
			if err := setJSON(txn, key(pChat, chat.ID), &chat, chat.ExpiresAt, now); err != nil {
				return err
			}
		}
		for _, d := range f.Deliveries {
			if err := s.insertDelivery(txn, d, now); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.tasks.remove(t.ID)
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	wake(s.taskWake) // the chat's next task may be claimable now
	if len(f.Deliveries) > 0 {
		wake(s.delivWake)
	}
	return nil
}

// TaskCounts implements store.Tasks.
func (s *Store) TaskCounts(ctx context.Context) (pending, started int, err error) {
	s.mu.Lock()
	total, leased := s.tasks.len()
	s.mu.Unlock()
	return total - leased, leased, nil
}
