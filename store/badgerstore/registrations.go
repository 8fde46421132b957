package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// checkRegistration refuses a registration that cannot be stored.
func checkRegistration(r *store.Registration) error {
	if r == nil || r.ID == "" || r.Agent == "" {
		return store.Invalid("a registration needs an id and an agent")
	}
	return store.CheckSize("a registration", r.RecordBytes())
}

// CreateRegistration implements store.Registrations. The count against
// limit is exact: operations run one at a time in the writer, and the
// iterator sees every write committed or applied before this one.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration, limit int) error {
	if err := checkRegistration(r); err != nil {
		return err
	}
	reg := *r
	err := s.write(ctx, true, regSize(&reg), func(tx *wtxn) error {
		err := tx.value(key(pReg, reg.ID), func([]byte) error { return nil })
		if err == nil {
			return store.Invalid("the registration id is already used")
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if limit > 0 && countKeys(tx.txn, key(pRegAgent, reg.Agent, ""), limit) >= limit {
			return store.ErrLimitReached
		}
		return s.putRegistration(tx, &reg)
	})
	return store.Safe("creating registration", err)
}

// countKeys counts the keys with prefix, stopping at most.
func countKeys(txn *badger.Txn, prefix []byte, most int) int {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Prefix = prefix
	it := txn.NewIterator(opt)
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid() && n < most; it.Next() {
		n++
	}
	return n
}

// regSize bounds what a registration adds to a transaction: its fields
// and, for its options, the JSON around them.
func regSize(r *store.Registration) int {
	return 2048 + 2*r.RecordBytes()
}

func (s *Store) putRegistration(tx *wtxn, r *store.Registration) error {
	if err := tx.setJSON(key(pReg, r.ID), r, time.Time{}); err != nil {
		return err
	}
	tx.set(key(pRegAgent, r.Agent, r.ID), nil, time.Time{})
	return nil
}

// GetRegistration implements store.Registrations.
func (s *Store) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var r store.Registration
	if err := s.db.View(func(txn *badger.Txn) error { return getJSON(view{txn}, key(pReg, id), &r) }); err != nil {
		return nil, store.Safe("reading registration", err)
	}
	return &r, nil
}

// ListRegistrations implements store.Registrations.
func (s *Store) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
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
			if err := getJSON(view{txn}, key(pReg, id), &r); err != nil {
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
		return nil, store.Safe("listing registrations", err)
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
	if err := checkRegistration(r); err != nil {
		return err
	}
	reg := *r
	err := s.write(ctx, true, regSize(&reg), func(tx *wtxn) error {
		var old store.Registration
		if err := getJSON(tx, key(pReg, reg.ID), &old); err != nil {
			return err
		}
		if old.Agent != reg.Agent {
			tx.delete(key(pRegAgent, old.Agent, old.ID))
		}
		return s.putRegistration(tx, &reg)
	})
	return store.Safe("updating registration", err)
}

// DeleteRegistration implements store.Registrations.
func (s *Store) DeleteRegistration(ctx context.Context, id string) error {
	err := s.write(ctx, true, 512, func(tx *wtxn) error {
		var old store.Registration
		if err := getJSON(tx, key(pReg, id), &old); err != nil {
			return err
		}
		tx.delete(key(pReg, id))
		tx.delete(key(pRegAgent, old.Agent, id))
		return nil
	})
	return store.Safe("deleting registration", err)
}

// ListCallbackStates implements store.CallbackStates.
func (s *Store) ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
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
	return out, store.Safe("listing callback states", err)
}

// SaveCallbackState implements store.CallbackStates.
func (s *Store) SaveCallbackState(ctx context.Context, cs *store.CallbackState) error {
	if cs == nil || cs.ID == "" {
		return store.Invalid("a callback state needs an id")
	}
	if err := store.CheckSize("a callback state", cs.RecordBytes()); err != nil {
		return err
	}
	saved := *cs
	err := s.write(ctx, true, 1024+len(saved.ID)+len(saved.Reason), func(tx *wtxn) error {
		return tx.setJSON(key(pCBState, saved.ID), &saved, time.Time{})
	})
	return store.Safe("saving callback state", err)
}

// DeleteCallbackState implements store.CallbackStates.
func (s *Store) DeleteCallbackState(ctx context.Context, id string) error {
	err := s.write(ctx, true, 256+len(id), func(tx *wtxn) error {
		tx.delete(key(pCBState, id))
		return nil
	})
	return store.Safe("deleting callback state", err)
}
