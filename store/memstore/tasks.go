package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// defaultLease is the lease of a claim that names none.
const defaultLease = time.Minute

// defaultIdemTTL is how long an Idempotency-Key without an expiry is
// remembered: the 24 hours the HTTP contract promises.
const defaultIdemTTL = 24 * time.Hour

// CreateTask implements store.Tasks.
func (s *Store) CreateTask(ctx context.Context, n store.NewTask) (store.Created, error) {
	out, err := s.createTask(n)
	if err == nil && !out.Replayed {
		wake(s.taskWake)
	}
	return out, err
}

func (s *Store) createTask(n store.NewTask) (store.Created, error) {
	t := n.Task
	if t == nil || t.ID == "" || t.Agent == "" || t.ChatID == "" {
		return store.Created{}, invalid("a task needs an id, an agent and a chat id")
	}
	if n.Chat != nil && n.Chat.ID == "" {
		return store.Created{}, invalid("a chat needs an id")
	}
	if err := store.CheckSize("a task", t.RecordBytes()); err != nil {
		return store.Created{}, err
	}
	if n.Chat != nil {
		if err := store.CheckSize("a chat", n.Chat.RecordBytes()); err != nil {
			return store.Created{}, err
		}
	}
	if err := s.lock(); err != nil {
		return store.Created{}, err
	}
	defer s.mu.Unlock()
	now := s.now()

	// Idempotency: a live key answers with its first task, and nothing
	// else of this call is written (not even the chat).
	if k := n.Idempotency; k != nil {
		if rec, ok := s.idem[k.Key]; ok && !expired(rec.expiresAt, now) {
			if rec.fingerprint != k.Fingerprint {
				return store.Created{}, store.ErrIdempotencyMismatch
			}
			first := &store.Task{ID: rec.taskID, ChatID: rec.chatID}
			if t := s.liveTask(rec.taskID); t != nil {
				first = copyTask(t, false)
			}
			return store.Created{Task: first, Replayed: true}, nil
		}
	}
	if _, taken := s.tasks[t.ID]; taken {
		return store.Created{}, invalid("the task id is already used")
	}

	// Checks are done: from here on, only writes.
	saved := copyTask(t, true)
	saved.Seq = s.nextSeq()
	saved.Status = store.TaskPending
	saved.Attempts, saved.LeaseOwner, saved.LeaseUntil = 0, "", time.Time{}
	saved.Result, saved.FinishedAt, saved.ExpiresAt = nil, time.Time{}, time.Time{}
	saved.CreatedAt, saved.UpdatedAt = now, now
	if saved.RunAfter.IsZero() {
		saved.RunAfter = now
	}
	s.tasks[t.ID] = saved
	if c := n.Chat; c != nil {
		chat := *c
		s.chats[c.ID] = &chat
	}
	if k := n.Idempotency; k != nil {
		exp := k.ExpiresAt
		if exp.IsZero() {
			exp = now.Add(defaultIdemTTL)
		}
		s.idem[k.Key] = idemRecord{k.Fingerprint, t.ID, t.ChatID, exp}
	}
	return store.Created{Task: copyTask(saved, true)}, nil
}

// wakeTasksAfter signals TaskWake if err is nil, and returns err. It is
// called once the mutex is released, so the runner it wakes finds the
// change.
func (s *Store) wakeTasksAfter(err error) error {
	if err == nil {
		wake(s.taskWake)
	}
	return err
}

// liveTask returns the stored task, or nil if it is unknown or expired
// (then it is dropped). Callers hold mu.
func (s *Store) liveTask(id string) *store.Task {
	t := s.tasks[id]
	if t != nil && expired(t.ExpiresAt, s.now()) {
		delete(s.tasks, id)
		return nil
	}
	return t
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, id string) (*store.Task, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	t := s.liveTask(id)
	if t == nil {
		return nil, store.ErrNotFound
	}
	return copyTask(t, true), nil
}

// ClaimTasks implements store.Tasks.
//
// Per-chat order: of each chat, only the head (its unfinished task with
// the lowest Seq) is a candidate, whatever its state. A chat whose head
// runs, waits for its RunAfter, or belongs to an agent the claimer does
// not serve has nothing to offer.
func (s *Store) ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	if err := s.lock(); err != nil {
		return nil, time.Time{}, err
	}
	defer s.mu.Unlock()
	now := s.now()

	heads := make(map[string]*store.Task)
	for _, t := range s.tasks {
		if t.Status.Final() {
			// A final task is never claimed again, whatever else says so.
			continue
		}
		if h := heads[t.ChatID]; h == nil || t.Seq < h.Seq {
			heads[t.ChatID] = t
		}
	}
	serves := func(agent string) bool { return c.Agents == nil || slices.Contains(c.Agents, agent) }

	// due is when a head becomes claimable by the passage of time: its
	// RunAfter when PENDING, the end of its lease when STARTED.
	due := func(t *store.Task) time.Time {
		if t.Status == store.TaskStarted {
			return t.LeaseUntil
		}
		return t.RunAfter
	}
	var ready []*store.Task
	var next time.Time
	for _, t := range heads {
		if !serves(t.Agent) {
			continue
		}
		if at := due(t); at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		ready = append(ready, t)
	}
	// Oldest due first, then creation order: the order a fair queue
	// would hand them out in.
	slices.SortFunc(ready, func(a, b *store.Task) int {
		return cmp.Or(due(a).Compare(due(b)), cmp.Compare(a.Seq, b.Seq))
	})
	if len(ready) > c.Limit {
		// Work is due now but over the limit: the caller may come back
		// at once.
		ready, next = ready[:c.Limit], now
	}
	out := make([]*store.Task, 0, len(ready))
	for _, t := range ready {
		// Lease: STARTED, held by c.Owner until now+c.Lease, one more
		// attempt counted.
		t.Status = store.TaskStarted
		t.Attempts++
		t.LeaseOwner, t.LeaseUntil = c.Owner, now.Add(c.Lease)
		t.UpdatedAt = now
		// A claimed task carries its request body: the runner sends it.
		out = append(out, copyTask(t, true))
	}
	return out, next, nil
}

// held returns the task owner holds, or ErrLeaseLost. A lease that ran
// out still counts until someone else claims the task: then LeaseOwner
// names the new holder. Callers hold mu.
func (s *Store) held(id, owner string) (*store.Task, error) {
	t := s.tasks[id]
	if t == nil || t.Status != store.TaskStarted || owner == "" || t.LeaseOwner != owner {
		return nil, store.ErrLeaseLost
	}
	return t, nil
}

// RetryTask implements store.Tasks.
func (s *Store) RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error {
	return s.wakeTasksAfter(s.retryTask(id, owner, runAfter, lastError))
}

func (s *Store) retryTask(id, owner string, runAfter time.Time, lastError string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	t, err := s.held(id, owner)
	if err != nil {
		return err
	}
	now := s.now()
	if runAfter.IsZero() {
		runAfter = now
	}
	t.Status, t.LeaseOwner, t.LeaseUntil = store.TaskPending, "", time.Time{}
	t.RunAfter, t.UpdatedAt = runAfter, now
	if lastError != "" {
		t.Error = lastError
	}
	return nil
}

// ReleaseTask implements store.Tasks: the attempt the claim counted is
// taken back, since the backend was never called for it.
func (s *Store) ReleaseTask(ctx context.Context, id, owner string) error {
	return s.wakeTasksAfter(s.releaseTask(id, owner))
}

func (s *Store) releaseTask(id, owner string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	t, err := s.held(id, owner)
	if err != nil {
		return err
	}
	now := s.now()
	t.Status, t.LeaseOwner, t.LeaseUntil = store.TaskPending, "", time.Time{}
	t.Attempts = max(t.Attempts-1, 0)
	t.RunAfter, t.UpdatedAt = now, now
	return nil
}

// FinishTask implements store.Tasks.
//
// Atomicity: the final status, the chat and the deliveries are written
// together or not at all. Every check comes first, including those on the
// deliveries; only then does anything change.
func (s *Store) FinishTask(ctx context.Context, f store.TaskFinish) error {
	if err := s.finishTask(f); err != nil {
		return err
	}
	// The chat's next task may be claimable now.
	wake(s.taskWake)
	if len(f.Deliveries) > 0 {
		wake(s.delivWake)
	}
	return nil
}

func (s *Store) finishTask(f store.TaskFinish) error {
	if !f.Status.Final() {
		return invalid("finishing a task needs a final status")
	}
	if err := checkNewDeliveries(f.Deliveries); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	t, err := s.held(f.ID, f.Owner)
	if err != nil {
		return err
	}
	for _, d := range f.Deliveries {
		if _, taken := s.deliveries[d.ID]; taken {
			return invalid("a delivery id is already used")
		}
	}
	if err := store.CheckSize("the finished task", f.RecordBytes(t)); err != nil {
		return err
	}
	chat := s.liveChat(t.ChatID)
	if chat != nil && f.ConversationID != "" {
		c := *chat
		c.ConversationID = f.ConversationID
		if err := store.CheckSize("the chat", c.RecordBytes()); err != nil {
			return err
		}
	}

	// Checks are done: from here on, only writes.
	now := s.now()
	t.Status, t.Error = f.Status, f.Error
	t.LeaseOwner, t.LeaseUntil = "", time.Time{}
	t.UpdatedAt, t.FinishedAt, t.ExpiresAt = now, now, f.ExpiresAt
	t.Result = nil
	if f.Result != nil {
		r := *f.Result
		r.Body = cloneBytes(f.Result.Body)
		t.Result = &r
	}
	// The request is never sent again once the task is final; its body
	// is dropped, as the other engines drop it.
	t.Request.Body = nil

	if f.ConversationID != "" || !f.ChatExpiresAt.IsZero() {
		// An expired chat stays expired rather than come back.
		if c := chat; c != nil {
			if f.ConversationID != "" {
				c.ConversationID = f.ConversationID
			}
			if f.ChatExpiresAt.After(c.ExpiresAt) {
				c.ExpiresAt = f.ChatExpiresAt
			}
			c.UpdatedAt = now
		}
	}
	for _, d := range f.Deliveries {
		s.insertDelivery(d, now)
	}
	return nil
}

// TaskCounts implements store.Tasks. It counts, never caches.
func (s *Store) TaskCounts(ctx context.Context) (pending, started int, err error) {
	if err := s.lock(); err != nil {
		return 0, 0, err
	}
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		switch t.Status {
		case store.TaskPending:
			pending++
		case store.TaskStarted:
			started++
		}
	}
	return pending, started, nil
}
