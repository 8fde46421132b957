package badgerstore

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// API keys are ak/<id> -> APIKey, expiring with the key. They are few, so
// a hash is checked against every key rather than kept in an index.

// CreateAPIKey implements store.APIKeys. The check for a used id or hash
// is exact: operations run one at a time in the writer, and the iterator
// sees every write applied before this one.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k == nil || k.ID == "" || k.Hash == "" {
		return store.Invalid("an API key needs an id and a hash")
	}
	if err := store.CheckSize("an API key", k.RecordBytes()); err != nil {
		return err
	}
	saved := *k
	saved.Agents = slices.Clone(k.Agents)
	err := s.write(ctx, true, 1024+saved.RecordBytes(), func(tx *wtxn) error {
		now := s.now()
		taken := false
		err := scan(tx.txn, pAPIKey, func(id string, b []byte) error {
			var other store.APIKey
			if err := json.Unmarshal(b, &other); err != nil {
				return err
			}
			if !expired(other.ExpiresAt, now) && (id == saved.ID || other.Hash == saved.Hash) {
				taken = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		if taken {
			return store.Invalid("the API key id or hash is already used")
		}
		return tx.setJSON(key(pAPIKey, saved.ID), &saved, saved.ExpiresAt)
	})
	return store.Safe("creating API key", err)
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	now := s.now()
	out := []*store.APIKey{}
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, pAPIKey, func(_ string, b []byte) error {
			var k store.APIKey
			if err := json.Unmarshal(b, &k); err != nil {
				return err
			}
			if !expired(k.ExpiresAt, now) {
				out = append(out, &k)
			}
			return nil
		})
	})
	if err != nil {
		return nil, store.Safe("listing API keys", err)
	}
	slices.SortFunc(out, func(a, b *store.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteAPIKey implements store.APIKeys.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	err := s.write(ctx, true, 256, func(tx *wtxn) error {
		var k store.APIKey
		if err := getJSON(tx, key(pAPIKey, id), &k); err != nil {
			return err
		}
		if expired(k.ExpiresAt, s.now()) {
			return store.ErrNotFound
		}
		tx.delete(key(pAPIKey, id))
		return nil
	})
	return store.Safe("revoking API key", err)
}
