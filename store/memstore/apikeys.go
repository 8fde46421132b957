package memstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/agenthook/agenthook/store"
)

// liveAPIKey returns the stored key, or nil if it is unknown or expired
// (then it is dropped). Callers hold mu.
func (s *Store) liveAPIKey(id string) *store.APIKey {
	k := s.apiKeys[id]
	if k != nil && expired(k.ExpiresAt, s.now()) {
		delete(s.apiKeys, id)
		return nil
	}
	return k
}

func copyAPIKey(k *store.APIKey) *store.APIKey {
	c := *k
	c.Agents = slices.Clone(k.Agents)
	return &c
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k == nil || k.ID == "" || k.Hash == "" {
		return invalid("an API key needs an id and a hash")
	}
	if err := store.CheckSize("an API key", k.RecordBytes()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for id, other := range s.apiKeys {
		if s.liveAPIKey(id) != nil && (id == k.ID || other.Hash == k.Hash) {
			return invalid("the API key id or hash is already used")
		}
	}
	s.apiKeys[k.ID] = copyAPIKey(k)
	return nil
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []*store.APIKey{}
	for id := range s.apiKeys {
		if k := s.liveAPIKey(id); k != nil {
			out = append(out, copyAPIKey(k))
		}
	}
	slices.SortFunc(out, func(a, b *store.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteAPIKey implements store.APIKeys.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.liveAPIKey(id) == nil {
		return store.ErrNotFound
	}
	delete(s.apiKeys, id)
	return nil
}
