package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// A chat is c/<id>. It is written in one of two forms: JSON of
// store.Chat, as before compact records existed, or compactChat, a byte
// that no JSON starts with followed by JSON without the "id" (the key
// holds it) and without "updated_at" where it equals "created_at", as it
// does for a chat made at intake: 77 of its 262 bytes in the value log
// (see compactRecord).
const compactChat = 0x01

// chatRecord is store.Chat with the id left out when empty. A conversion
// from store.Chat, which fails to compile once the two differ, keeps it
// in step.
type chatRecord struct {
	ID             string    `json:"id,omitempty"`
	Agent          string    `json:"agent"`
	Principal      string    `json:"principal"`
	ConversationID string    `json:"conversation_id,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
}

// encodeChat makes the record of c, stored under c.ID. Like a compact
// task record, it is compact only where decodeChat can tell a time left
// out from a zero one.
func encodeChat(c *store.Chat) ([]byte, error) {
	if c.ID == "" || c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
		return json.Marshal(c)
	}
	r := chatRecord(*c)
	r.ID = ""
	if sameTime(r.UpdatedAt, r.CreatedAt) {
		r.UpdatedAt = time.Time{}
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	return append([]byte{compactChat}, b...), nil
}

// decodeChat reads the record stored under id, in either form, into c.
func decodeChat(id string, b []byte, c *store.Chat) error {
	if len(b) == 0 || b[0] != compactChat {
		return json.Unmarshal(b, c)
	}
	if err := json.Unmarshal(b[1:], c); err != nil {
		return err
	}
	c.ID = id
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	return nil
}

// getChat reads chat id, or ErrNotFound.
func getChat(r reader, id string, c *store.Chat) error {
	err := r.value(key(pChat, id), func(b []byte) error { return decodeChat(id, b, c) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.ErrNotFound
	}
	return err
}

// putChat stages the record of c.
func (t *wtxn) putChat(c *store.Chat) error {
	b, err := encodeChat(c)
	if err != nil {
		return err
	}
	t.set(key(pChat, c.ID), b, c.ExpiresAt)
	return nil
}

// GetChat implements store.Chats.
func (s *Store) GetChat(ctx context.Context, id string) (*store.Chat, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var c store.Chat
	err := s.db.View(func(txn *badger.Txn) error { return getChat(view{txn}, id, &c) })
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
		return tx.putChat(&saved)
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
