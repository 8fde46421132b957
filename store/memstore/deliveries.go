package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// insertDelivery queues a new delivery, inside FinishTask. The caller's
// struct is copied, not kept. Callers hold mu.
func (s *Store) insertDelivery(in *store.Delivery, now time.Time) {
	d := copyDelivery(in, true)
	d.Seq = s.nextSeq()
	d.Status = store.DeliveryPending
	d.CreatedAt, d.UpdatedAt = now, now
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = now
	}
	d.Attempts, d.AttemptCount, d.LastError = nil, 0, ""
	d.LeaseOwner, d.LeaseUntil, d.ExpiresAt, d.RequeuedAt = "", time.Time{}, time.Time{}, time.Time{}
	s.deliveries[d.ID] = d
}

// liveDelivery returns the stored delivery, or nil if it is unknown or
// expired (then it is dropped). Callers hold mu.
func (s *Store) liveDelivery(id string) *store.Delivery {
	d := s.deliveries[id]
	if d != nil && expired(d.ExpiresAt, s.now()) {
		delete(s.deliveries, id)
		return nil
	}
	return d
}

// ClaimDeliveries implements store.Deliveries.
//
// Ordered deliveries: of the pending deliveries sharing an OrderKey, only
// the head (the lowest Seq) is a candidate, whatever its state; a
// delivery without an OrderKey is a group of its own. Skip and the
// PerCallback cap apply to the head's own callback (SkipAgents and
// PerAgent to its agent), so a paused callback holds back the deliveries
// queued behind it under the same key.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]*store.Delivery, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	if err := s.lock(); err != nil {
		return nil, time.Time{}, err
	}
	defer s.mu.Unlock()
	now := s.now()

	heads := make(map[string]*store.Delivery)
	for _, d := range s.deliveries {
		if d.Status != store.DeliveryPending {
			continue
		}
		group := d.OrderKey
		if group == "" {
			group = "\x00" + d.ID // a group of one
		}
		if h := heads[group]; h == nil || d.Seq < h.Seq {
			heads[group] = d
		}
	}
	// due is when a head becomes claimable by the passage of time: the
	// end of its lease while one runs, else its NextAttemptAt.
	due := func(d *store.Delivery) time.Time {
		if d.LeaseUntil.After(d.NextAttemptAt) {
			return d.LeaseUntil
		}
		return d.NextAttemptAt
	}
	var ready []*store.Delivery
	var next time.Time
	for _, d := range heads {
		if slices.Contains(c.Skip, d.CallbackID) || slices.Contains(c.SkipAgents, d.Agent) {
			continue
		}
		if at := due(d); at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		ready = append(ready, d)
	}
	slices.SortFunc(ready, func(a, b *store.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.Seq, b.Seq))
	})
	var out []*store.Delivery
	perCallback, perAgent := make(map[string]int), make(map[string]int)
	for _, d := range ready {
		if len(out) == c.Limit || (c.PerCallback > 0 && perCallback[d.CallbackID] >= c.PerCallback) ||
			(c.PerAgent > 0 && perAgent[d.Agent] >= c.PerAgent) {
			// Due now but held back by a cap: the caller may come back
			// at once.
			next = now
			continue
		}
		perCallback[d.CallbackID]++
		perAgent[d.Agent]++
		d.LeaseOwner, d.LeaseUntil = c.Owner, now.Add(c.Lease)
		out = append(out, copyDelivery(d, true))
	}
	return out, next, nil
}

// heldDelivery returns the pending delivery owner holds, or ErrLeaseLost.
// As with tasks, a lease that ran out counts until someone else claims the
// delivery. Callers hold mu.
func (s *Store) heldDelivery(id, owner string) (*store.Delivery, error) {
	d := s.deliveries[id]
	if d == nil || d.Status != store.DeliveryPending || owner == "" || d.LeaseOwner != owner {
		return nil, store.ErrLeaseLost
	}
	return d, nil
}

// RecordAttempt implements store.Deliveries.
func (s *Store) RecordAttempt(ctx context.Context, o store.DeliveryOutcome) error {
	if err := s.recordAttempt(o); err != nil {
		return err
	}
	// Pending again, or final and so unblocking its order key: either way
	// a dispatcher has something to look at.
	wake(s.delivWake)
	return nil
}

func (s *Store) recordAttempt(o store.DeliveryOutcome) error {
	switch o.Status {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return invalid("unknown delivery status")
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, err := s.heldDelivery(o.ID, o.Owner)
	if err != nil {
		return err
	}
	// The record as it will be, checked before anything changes.
	attempts := store.AppendAttempt(d.Attempts, o.Attempt)
	after := *d
	after.Attempts, after.LastError = attempts, o.Attempt.Error
	if err := store.CheckSize("the delivery", after.RecordBytes()); err != nil {
		return err
	}
	now := s.now()
	d.Attempts = attempts
	d.AttemptCount++
	d.LastError = o.Attempt.Error
	d.Status, d.UpdatedAt = o.Status, now
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	if o.Status == store.DeliveryPending {
		// It keeps its Seq, and so its place in its order group.
		d.NextAttemptAt = o.NextAttemptAt
		if d.NextAttemptAt.IsZero() {
			d.NextAttemptAt = now
		}
		return nil
	}
	d.NextAttemptAt, d.ExpiresAt = time.Time{}, o.ExpiresAt
	return nil
}

// ReleaseDelivery implements store.Deliveries.
func (s *Store) ReleaseDelivery(ctx context.Context, id, owner string) error {
	if err := s.releaseDelivery(id, owner); err != nil {
		return err
	}
	wake(s.delivWake)
	return nil
}

func (s *Store) releaseDelivery(id, owner string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	d, err := s.heldDelivery(id, owner)
	if err != nil {
		return err
	}
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	return nil
}

// GetDelivery implements store.Deliveries.
func (s *Store) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	d := s.liveDelivery(id)
	if d == nil {
		return nil, store.ErrNotFound
	}
	return copyDelivery(d, true), nil
}

// ListDeliveries implements store.Deliveries: newest first, by the time
// they failed for dead letters and by the time they were created
// otherwise, without payloads.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*store.Delivery
	for id, d := range s.deliveries {
		if !f.Matches(d) || !f.After.Admits(f.ListTime(d), d.ID) || s.liveDelivery(id) == nil {
			continue
		}
		out = append(out, copyDelivery(d, false))
	}
	slices.SortFunc(out, func(a, b *store.Delivery) int {
		return store.NewerFirst(f.ListTime(a), a.ID, f.ListTime(b), b.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// RetryDelivery implements store.Deliveries.
func (s *Store) RetryDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := s.retryDelivery(id)
	if err != nil {
		return nil, err
	}
	wake(s.delivWake)
	return d, nil
}

func (s *Store) retryDelivery(id string) (*store.Delivery, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	d := s.liveDelivery(id)
	if d == nil {
		return nil, store.ErrNotFound
	}
	s.requeue(d, s.now())
	return copyDelivery(d, true), nil
}

// requeue makes a delivered or failed delivery pending again, due now. A
// replay is a new send, so it goes to the back of its order group. A
// pending delivery is left as it is. Callers hold mu.
func (s *Store) requeue(d *store.Delivery, now time.Time) {
	if d.Status == store.DeliveryPending {
		return
	}
	d.Seq = s.nextSeq()
	d.Status, d.UpdatedAt, d.NextAttemptAt, d.ExpiresAt = store.DeliveryPending, now, now, time.Time{}
	d.LeaseOwner, d.LeaseUntil = "", time.Time{}
	d.RequeuedAt = now
}

// RecoverDeliveries implements store.Deliveries.
func (s *Store) RecoverDeliveries(ctx context.Context, f store.RecoverFilter) (int, error) {
	n, err := s.recoverDeliveries(f)
	if n > 0 && !f.DryRun {
		wake(s.delivWake)
	}
	return n, err
}

func (s *Store) recoverDeliveries(f store.RecoverFilter) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.now()
	var failed []*store.Delivery
	for id, d := range s.deliveries {
		if f.Matches(d) && s.liveDelivery(id) != nil {
			failed = append(failed, d)
		}
	}
	if f.DryRun {
		return len(failed), nil
	}
	// Requeued in the order they failed, so that their new seqs keep it.
	slices.SortFunc(failed, func(a, b *store.Delivery) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.Seq, b.Seq))
	})
	for _, d := range failed {
		s.requeue(d, now)
	}
	return len(failed), nil
}

// DeliveryCounts implements store.Deliveries.
func (s *Store) DeliveryCounts(ctx context.Context) (pending, failed int, err error) {
	if err := s.lock(); err != nil {
		return 0, 0, err
	}
	defer s.mu.Unlock()
	for id, d := range s.deliveries {
		switch {
		case d.Status == store.DeliveryPending:
			pending++
		case d.Status == store.DeliveryFailed && s.liveDelivery(id) != nil:
			failed++
		}
	}
	return pending, failed, nil
}
