package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// GetChat implements store.Chats.
func (s *Store) GetChat(ctx context.Context, id string) (*store.Chat, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var c store.Chat
	err := s.db.View(func(txn *badger.Txn) error { return getJSON(view{txn}, key(pChat, id), &c) })
	if err != nil {
		return nil, store.Safe("reading chat", err)
	}
	// Badger's TTLs have a resolution of seconds; the record's own expiry
	// is exact.
	if expired(c.ExpiresAt, s.now()) {
		return nil, store.ErrNotFound
	}
	return &c, nil
}

// SaveChat implements store.Chats.
func (s *Store) SaveChat(ctx context.Context, c *store.Chat) error {
	if c == nil || c.ID == "" {
		return store.Invalid("a chat needs an id")
	}
	if c.ExpiresAt.IsZero() {
		return store.Invalid("a chat needs an expiry")
	}
	if err := store.CheckSize("a chat", c.RecordBytes()); err != nil {
		return err
	}
	saved := *c
	err := s.write(ctx, false, 1024+len(c.ConversationID)+len(c.Principal), func(tx *wtxn) error {
		return tx.setJSON(key(pChat, saved.ID), &saved, saved.ExpiresAt)
	})
	return store.Safe("saving chat", err)
}

// Remember implements store.ReplayGuard.
func (s *Store) Remember(ctx context.Context, k string, ttlFor time.Duration) (bool, error) {
	fresh := false
	err := s.write(ctx, false, 256+len(k), func(tx *wtxn) error {
		now := s.now()
		var exp time.Time
		err := getJSON(tx, key(pReplay, k), &exp)
		if err == nil && exp.After(now) {
			fresh = false
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		exp = now.Add(ttlFor)
		fresh = true
		return tx.setJSON(key(pReplay, k), exp, exp)
	})
	return fresh, store.Safe("remembering a message id", err)
}

// expired reports whether a record with this expiry is gone at now. Badger
// drops expired entries itself, but only to the second; this is exact.
func expired(exp, now time.Time) bool { return !exp.IsZero() && !exp.After(now) }

// Forget implements store.ReplayGuard.
func (s *Store) Forget(ctx context.Context, k string) error {
	err := s.write(ctx, false, 256+len(k), func(tx *wtxn) error {
		tx.delete(key(pReplay, k))
		return nil
	})
	return store.Safe("forgetting a message id", err)
}
