package memstore

import (
	"context"
	"slices"
	"time"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/store"
)

// memHistory is a chat's turns, with the creation time of the chat they
// belong to: a chat made again under the same id (a Cognigy session after
// its chat expired) starts with none.
type memHistory struct {
	chatCreated time.Time
	turns       []history.Turn
	expiresAt   time.Time
}

// ownedChat returns the live chat of k, or ErrNotFound. Callers hold mu.
func (s *Store) ownedChat(k store.HistoryKey) (*store.Chat, error) {
	c := s.liveChat(k.ChatID)
	if !store.OwnsChat(c, k) {
		return nil, store.ErrNotFound
	}
	return c, nil
}

// History implements store.ChatHistories.
func (s *Store) History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, err := s.ownedChat(k)
	if err != nil {
		return nil, err
	}
	h := s.histories[k.ChatID]
	if h == nil || !h.chatCreated.Equal(c.CreatedAt) {
		return nil, nil
	}
	return slices.Clone(h.turns), nil
}

// AppendHistory implements store.ChatHistories.
func (s *Store) AppendHistory(ctx context.Context, a store.HistoryAppend) error {
	if err := store.CheckHistoryAppend(a); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.ownedChat(a.HistoryKey)
	if err != nil {
		return err
	}
	var turns []history.Turn
	if h := s.histories[a.ChatID]; h != nil && h.chatCreated.Equal(c.CreatedAt) {
		turns = h.turns
	}
	s.histories[a.ChatID] = &memHistory{
		chatCreated: c.CreatedAt,
		turns:       history.Append(turns, a.Limits, a.Turns...),
		expiresAt:   maxTime(a.ExpiresAt, c.ExpiresAt),
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
