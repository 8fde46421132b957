package api

import (
	"context"
	"sync"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// KeyRefresh is how long an instance trusts the minted keys it read: a
// key minted or revoked on another instance sharing the store takes effect
// here within this time (at once on the instance that did it).
const KeyRefresh = 2 * time.Second

// mintedKeys caches the minted keys by hash. The whole set is read at
// once: keys are few, and requests with a wrong key then cost the store
// nothing, however many there are.
type mintedKeys struct {
	mu     sync.Mutex
	byHash map[string]*store.APIKey
	loaded time.Time
}

// lookup returns the live key with this hash, or nil.
func (m *mintedKeys) lookup(ctx context.Context, a *API, hash string) (*store.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := a.Now()
	if m.byHash == nil || !now.Before(m.loaded.Add(KeyRefresh)) || now.Before(m.loaded) {
		ks, err := a.Store.ListAPIKeys(ctx)
		switch {
		case err != nil && m.byHash == nil:
			return nil, err
		case err != nil:
			// The keys known a moment ago stand until the store answers;
			// it is asked again at the next refresh, not at every request.
			a.Logger.Warn("cannot reload the minted api keys; using the ones read before", handler.StoreErrField(err))
		default:
			m.byHash = make(map[string]*store.APIKey, len(ks))
			for _, k := range ks {
				m.byHash[k.Hash] = k
			}
		}
		m.loaded = now
	}
	k := m.byHash[hash]
	if k == nil || keyExpired(k.ExpiresAt, now) {
		return nil, nil
	}
	return k, nil
}

// forget makes the next lookup read the store, after a key was minted or
// revoked here.
func (m *mintedKeys) forget() {
	m.mu.Lock()
	m.byHash = nil
	m.mu.Unlock()
}
