package memstore

import (
	"context"

	"github.com/agenthook/agenthook/store"
)

// EnqueueDeliveries implements store.Deliveries. Every delivery is checked
// before any is stored; ids already stored are skipped, which is what makes
// emitting one event twice harmless.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*store.Delivery) error {
	if err := checkNewDeliveries(ds); err != nil {
		return err
	}
	n, err := s.enqueueDeliveries(ds)
	if err != nil {
		return err
	}
	if n > 0 {
		wake(s.delivWake)
	}
	return nil
}

func (s *Store) enqueueDeliveries(ds []*store.Delivery) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for _, d := range ds {
		if s.liveDelivery(d.ID) != nil {
			continue
		}
		s.insertDelivery(d, now)
		n++
	}
	return n, nil
}

// checkNewDeliveries refuses deliveries that cannot be stored: without an
// id or a callback, listed twice, or over the size limit.
func checkNewDeliveries(ds []*store.Delivery) error {
	ids := make(map[string]bool, len(ds))
	for _, d := range ds {
		if d == nil || d.ID == "" || d.CallbackID == "" {
			return invalid("a delivery needs an id and a callback id")
		}
		if ids[d.ID] {
			return invalid("a delivery id is listed twice")
		}
		ids[d.ID] = true
		if err := store.CheckSize("a delivery", d.RecordBytes()); err != nil {
			return err
		}
	}
	return nil
}
