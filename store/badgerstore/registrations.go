package badgerstore

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

// CreateRegistration implements store.Registrations.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return errors.New("a registration needs an id and an agent")
	}
	reg := *r
	return s.w.do(ctx, true, regSize(&reg), func(txn *badger.Txn) error {
		if _, err := txn.Get(key(pReg, reg.ID)); err == nil {
			return fmt.Errorf("registration %s already exists", reg.ID)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return s.putRegistration(txn, &reg)
	})
}

func regSize(r *store.Registration) int {
	return 1024 + len(r.URL) + len(r.Secret) + len(r.DisabledReason)
}

func (s *Store) putRegistration(txn *badger.Txn, r *store.Registration) error {
	now := s.now()
	if err := setJSON(txn, key(pReg, r.ID), r, time.Time{}, now); err != nil {
		return err
	}
	return txn.Set(key(pRegAgent, r.Agent, r.ID), nil)
}

// GetRegistration implements store.Registrations.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	var r store.Registration
	if err := s.db.View(func(txn *badger.Txn) error { return getJSON(txn, key(pReg, id), &r) }); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRegistrations implements store.Registrations.
func (s *Store) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	var out []*store.Registration
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := pRegAgent
		if agent != "" {
			prefix = string(key(pRegAgent, agent, ""))
		}
		var ids []string
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(prefix)
		it := txn.NewIterator(opt)
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().Key())
			ids = append(ids, k[lastSlash(k)+1:])
		}
		it.Close()
		for _, id := range ids {
			var r store.Registration
			if err := getJSON(txn, key(pReg, id), &r); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return err
			}
			out = append(out, &r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Ids sort by key, not by age; callers want the oldest first.
	sortRegistrations(out)
	return out, nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func sortRegistrations(rs []*store.Registration) {
	slices.SortStableFunc(rs, func(a, b *store.Registration) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// UpdateRegistration implements store.Registrations.
func (s *Store) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return errors.New("a registration needs an id and an agent")
	}
	reg := *r
	return s.w.do(ctx, true, regSize(&reg), func(txn *badger.Txn) error {
		var old store.Registration
		if err := getJSON(txn, key(pReg, reg.ID), &old); err != nil {
			return err
		}
		if old.Agent != reg.Agent {
			if err := txn.Delete(key(pRegAgent, old.Agent, old.ID)); err != nil {
				return err
			}
		}
		return s.putRegistration(txn, &reg)
	})
}

// DeleteRegistration implements store.Registrations.
func (s *Store) DeleteRegistration(ctx context.Context, id string) error {
	return s.w.do(ctx, true, 512, func(txn *badger.Txn) error {
		var old store.Registration
		if err := getJSON(txn, key(pReg, id), &old); err != nil {
			return err
		}
		if err := txn.Delete(key(pReg, id)); err != nil {
			return err
		}
		return txn.Delete(key(pRegAgent, old.Agent, id))
	})
}

// ListCallbackStates implements store.CallbackStates.
func (s *Store) ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error) {
	var out []*store.CallbackState
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, pCBState, func(_ string, v []byte) error {
			var cs store.CallbackState
			if err := json.Unmarshal(v, &cs); err != nil {
				return err
			}
			out = append(out, &cs)
			return nil
		})
	})
	return out, err
}

// SaveCallbackState implements store.CallbackStates.
func (s *Store) SaveCallbackState(ctx context.Context, cs *store.CallbackState) error {
	if cs == nil || cs.ID == "" {
		return errors.New("a callback state needs an id")
	}
	saved := *cs
	return s.w.do(ctx, true, 1024+len(saved.ID)+len(saved.Reason), func(txn *badger.Txn) error {
		return setJSON(txn, key(pCBState, saved.ID), &saved, time.Time{}, s.now())
	})
}

// DeleteCallbackState implements store.CallbackStates.
func (s *Store) DeleteCallbackState(ctx context.Context, id string) error {
	return s.w.do(ctx, true, 256+len(id), func(txn *badger.Txn) error {
		return txn.Delete(key(pCBState, id))
	})
}
