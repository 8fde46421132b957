package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/store"
)

// historyRecord is a chat's turns, with the creation time of the chat
// they belong to: a chat made again under the same id (a Cognigy session
// after its chat expired) starts with none.
type historyRecord struct {
	ChatCreated time.Time      `json:"chat_created"`
	Turns       []history.Turn `json:"turns"`
}

// ownedChat reads the live chat of k, or ErrNotFound.
func (s *Store) ownedChat(r reader, k store.HistoryKey) (*store.Chat, error) {
	var c store.Chat
	if err := getChat(r, k.ChatID, &c); err != nil {
		return nil, err
	}
	if expired(c.ExpiresAt, s.now()) || !store.OwnsChat(&c, k) {
		return nil, store.ErrNotFound
	}
	return &c, nil
}

// turnsOf reads the history of a chat, none if it has none or it belongs
// to an earlier chat of the same id.
func turnsOf(r reader, c *store.Chat) ([]history.Turn, error) {
	var h historyRecord
	err := getJSON(r, key(pHistory, c.ID), &h)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !h.ChatCreated.Equal(c.CreatedAt)) {
		return nil, nil
	}
	return h.Turns, err
}

// History implements store.ChatHistories.
func (s *Store) History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var turns []history.Turn
	err := s.db.View(func(txn *badger.Txn) error {
		c, err := s.ownedChat(view{txn}, k)
		if err != nil {
			return err
		}
		turns, err = turnsOf(view{txn}, c)
		return err
	})
	if err != nil {
		return nil, store.Safe("reading chat history", err)
	}
	return turns, nil
}

// AppendHistory implements store.ChatHistories. The writer runs writes
// one at a time, so two appends to one chat never interleave.
func (s *Store) AppendHistory(ctx context.Context, a store.HistoryAppend) error {
	if err := store.CheckHistoryAppend(a); err != nil {
		return err
	}
	size := 1024 + max(a.Limits.MaxBytes, history.Size(a.Turns))
	err := s.write(ctx, false, size, func(tx *wtxn) error {
		c, err := s.ownedChat(tx, a.HistoryKey)
		if err != nil {
			return err
		}
		turns, err := turnsOf(tx, c)
		if err != nil {
			return err
		}
		rec := historyRecord{ChatCreated: c.CreatedAt, Turns: history.Append(turns, a.Limits, a.Turns...)}
		exp := a.ExpiresAt
		if c.ExpiresAt.After(exp) {
			exp = c.ExpiresAt
		}
		return tx.setJSON(key(pHistory, c.ID), &rec, exp)
	})
	return store.Safe("appending to chat history", err)
}
