package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// This file holds the simple records: chats, the replay guard,
// registrations and callback states. Each is one map entry, written whole.

// GetChat implements store.Chats.
func (s *Store) GetChat(ctx context.Context, id string) (*store.Chat, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.liveChat(id)
	if c == nil {
		return nil, store.ErrNotFound
	}
	out := *c
	return &out, nil
}

// liveChat returns the stored chat, or nil if it is unknown or expired
// (then it is dropped). Callers hold mu.
func (s *Store) liveChat(id string) *store.Chat {
	c := s.chats[id]
	if c != nil && expired(c.ExpiresAt, s.now()) {
		delete(s.chats, id)
		delete(s.histories, id)
		return nil
	}
	return c
}

// SaveChat implements store.Chats.
func (s *Store) SaveChat(ctx context.Context, c *store.Chat) error {
	if c == nil || c.ID == "" {
		return invalid("a chat needs an id")
	}
	if c.ExpiresAt.IsZero() {
		return invalid("a chat needs an expiry")
	}
	if err := store.CheckSize("a chat", c.RecordBytes()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	saved := *c
	s.chats[c.ID] = &saved
	return nil
}

// Remember implements store.ReplayGuard. Looking the key up and storing it
// happen under one lock, so of two requests carrying the same message id
// exactly one is fresh.
func (s *Store) Remember(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now := s.now()
	if exp, ok := s.replay[key]; ok && !expired(exp, now) {
		return false, nil
	}
	s.replay[key] = now.Add(ttl)
	return true, nil
}

// Forget implements store.ReplayGuard.
func (s *Store) Forget(ctx context.Context, key string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.replay, key)
	return nil
}

// CreateRegistration implements store.Registrations. An id that is taken
// is refused, and the stored registration is left as it was. The count
// against limit and the insert happen under one lock.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration, limit int) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return invalid("a registration needs an id and an agent")
	}
	if err := store.CheckSize("a registration", r.RecordBytes()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, taken := s.regs[r.ID]; taken {
		return invalid("the registration id is already used")
	}
	if limit > 0 {
		n := 0
		for _, x := range s.regs {
			if x.Agent == r.Agent {
				n++
			}
		}
		if n >= limit {
			return store.ErrLimitReached
		}
	}
	s.regs[r.ID] = copyRegistration(r)
	return nil
}

// GetRegistration implements store.Registrations.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r, ok := s.regs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return copyRegistration(r), nil
}

// ListRegistrations implements store.Registrations: oldest first, ties
// broken by id so that the order is stable.
func (s *Store) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*store.Registration
	for _, r := range s.regs {
		if agent == "" || r.Agent == agent {
			out = append(out, copyRegistration(r))
		}
	}
	slices.SortFunc(out, func(a, b *store.Registration) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// UpdateRegistration implements store.Registrations.
func (s *Store) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return invalid("a registration needs an id and an agent")
	}
	if err := store.CheckSize("a registration", r.RecordBytes()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.regs[r.ID]; !ok {
		return store.ErrNotFound
	}
	s.regs[r.ID] = copyRegistration(r)
	return nil
}

// DeleteRegistration implements store.Registrations.
func (s *Store) DeleteRegistration(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.regs[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.regs, id)
	return nil
}

// ListCallbackStates implements store.CallbackStates.
func (s *Store) ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]*store.CallbackState, 0, len(s.states))
	for _, cs := range s.states {
		c := *cs
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *store.CallbackState) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// SaveCallbackState implements store.CallbackStates.
func (s *Store) SaveCallbackState(ctx context.Context, cs *store.CallbackState) error {
	if cs == nil || cs.ID == "" {
		return invalid("a callback state needs an id")
	}
	if err := store.CheckSize("a callback state", cs.RecordBytes()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	saved := *cs
	s.states[cs.ID] = &saved
	return nil
}

// DeleteCallbackState implements store.CallbackStates.
func (s *Store) DeleteCallbackState(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.states, id)
	return nil
}
