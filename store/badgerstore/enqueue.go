package badgerstore

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// EnqueueDeliveries implements store.Deliveries: one transaction that
// skips the ids already stored. These are the deliveries of events that
// do not end a task; a handful per event, so they need no fan-out values.
// Like FinishTask, it is not fsync'd: an event a machine crash loses is
// emitted again when its task runs again.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*store.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make(map[string]bool, len(ds))
	size := 1024
	for _, d := range ds {
		if d == nil || d.ID == "" || d.CallbackID == "" {
			return store.Invalid("a delivery needs an id and a callback id")
		}
		if ids[d.ID] {
			return store.Invalid("a delivery id is listed twice")
		}
		ids[d.ID] = true
		if err := store.CheckSize("a delivery", d.RecordBytes()); err != nil {
			return err
		}
		size += deliverySize(d)
	}
	if size > s.w.budget/2 {
		return store.TooLarge("the deliveries of one event are over what one write may hold")
	}
	added := 0
	err := s.write(ctx, false, size, func(tx *wtxn) error {
		now := s.now()
		added = 0
		for _, d := range ds {
			err := tx.value(key(pDeliv, d.ID), func([]byte) error { return nil })
			if err == nil {
				continue // queued before: an event emitted again
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if err := s.insertDelivery(tx, d, now); err != nil {
				return err
			}
			added++
		}
		return nil
	})
	if err != nil {
		return store.Safe("queueing deliveries", err)
	}
	if added > 0 {
		wake(s.delivWake)
	}
	return nil
}
