package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// activeDelivery is the index entry of a pending delivery.
type activeDelivery struct {
	Callback      string    `json:"p"`
	OrderKey      string    `json:"g,omitempty"`
	Seq           int64     `json:"s"`
	NextAttemptAt time.Time `json:"r"`
	// Agent is empty in entries written before claims could skip agents;
	// the index rebuild reads it from the delivery then.
	Agent string `json:"a,omitempty"`
}

func activeOf(d *store.Delivery) activeDelivery {
	return activeDelivery{Callback: d.CallbackID, OrderKey: d.OrderKey, Seq: d.Seq, NextAttemptAt: d.NextAttemptAt, Agent: d.Agent}
}

// A delivery is stored as one value: a 4-byte length, the metadata as
// JSON, then the payload. Most deliveries are written twice (queued, then
// delivered), and keeping the payload beside the metadata makes each of
// those one write instead of two.
func encodeDelivery(d *store.Delivery) ([]byte, error) {
	meta, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return record(meta, d.Payload), nil
}

func decodeDelivery(b []byte, withPayload bool) (*store.Delivery, error) {
	if len(b) < 4 {
		return nil, errors.New("short delivery record")
	}
	n := int(binary.BigEndian.Uint32(b))
	if 4+n > len(b) {
		return nil, errors.New("truncated delivery record")
	}
	var d store.Delivery
	if err := json.Unmarshal(b[4:4+n], &d); err != nil {
		return nil, err
	}
	if withPayload {
		d.Payload = append([]byte(nil), b[4+n:]...)
	}
	return &d, nil
}

func getDelivery(r reader, id string, withPayload bool) (*store.Delivery, error) {
	var d *store.Delivery
	err := r.value(key(pDeliv, id), func(b []byte) (err error) {
		d, err = decodeDelivery(b, withPayload)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	return d, err
}

// stamp is a sortable key part for a time.
func stamp(t time.Time) string {
	n := t.UnixNano()
	if n < 0 {
		return fmt.Sprintf("%016x", n) // a time before 1970: never in practice
	}
	// What %016x writes, without fmt's allocations: keys of intake and
	// of every delivery hold one.
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

func listKey(d *store.Delivery) []byte { return key(pDelivAgent, d.Agent, stamp(d.CreatedAt), d.ID) }
func deadKey(d *store.Delivery) []byte { return key(pDelivDead, d.Agent, stamp(d.UpdatedAt), d.ID) }

// putPending stages a pending delivery and its index entries.
func (s *Store) putPending(tx *wtxn, d *store.Delivery) error {
	b, err := encodeDelivery(d)
	if err != nil {
		return err
	}
	tx.set(key(pDeliv, d.ID), b, time.Time{})
	tx.set(listKey(d), nil, time.Time{})
	if err := tx.setJSON(key(pDelivAct, d.ID), activeOf(d), time.Time{}); err != nil {
		return err
	}
	id, group, cb, seq, at, agent := d.ID, d.OrderKey, d.CallbackID, d.Seq, d.NextAttemptAt, d.Agent
	tx.onApply(func() {
		s.mu.Lock()
		s.deliv.add(id, group, cb, seq, at)
		s.delivAgents[cb] = agent
		s.mu.Unlock()
	})
	return nil
}

// insertDelivery queues a new delivery, inside FinishTask's operation. The
// caller's struct is copied, not changed.
func (s *Store) insertDelivery(tx *wtxn, in *store.Delivery, now time.Time) error {
	d := *in
	s.mu.Lock()
	d.Seq = s.nextSeq(now)
	s.mu.Unlock()
	d.Status = store.DeliveryPending
	d.CreatedAt, d.UpdatedAt = now, now
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = now
	}
	d.LeaseOwner, d.LeaseUntil, d.ExpiresAt = "", time.Time{}, time.Time{}
	return s.putPending(tx, &d)
}

// ClaimDeliveries implements store.Deliveries. Leases live only in memory:
// one process owns a Badger directory, so a crash ends every lease anyway.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]*store.Delivery, time.Time, error) {
	if c.Limit <= 0 {
		return nil, time.Time{}, nil
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if err := s.usable(); err != nil {
		return nil, time.Time{}, err
	}
	// Partitions are callbacks; a callback belongs to one agent, which
	// delivAgents knows. Both closures run under s.mu.
	var skip func(string) bool
	if len(c.Skip) > 0 || len(c.SkipAgents) > 0 {
		skipped := make(map[string]bool, len(c.Skip))
		for _, cb := range c.Skip {
			skipped[cb] = true
		}
		skipAgent := make(map[string]bool, len(c.SkipAgents))
		for _, a := range c.SkipAgents {
			skipAgent[a] = true
		}
		skip = func(cb string) bool { return skipped[cb] || skipAgent[s.delivAgents[cb]] }
	}
	lim := caps{perPart: c.PerCallback}
	if c.PerAgent > 0 {
		lim.class = func(cb string) string { return s.delivAgents[cb] }
		lim.perClass = c.PerAgent
	}
	var ids []string
	var next, now time.Time
	// The claim runs in the writer so that it sees only committed
	// deliveries: the writer adds to the index before its commit.
	err := s.w.do(ctx, false, 0, func(*wtxn) error {
		now = s.now()
		s.mu.Lock()
		ids, next = s.deliv.claimWithin(now, c.Limit, c.Lease, c.Owner, skip, lim)
		s.mu.Unlock()
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, next, store.Safe("claiming deliveries", err)
	}
	out := make([]*store.Delivery, 0, len(ids))
	err = s.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			d, err := getDelivery(view{txn}, id, true)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			d.LeaseOwner, d.LeaseUntil = c.Owner, now.Add(c.Lease)
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, store.Safe("claiming deliveries", err)
	}
	return out, next, nil
}

// RecordAttempt implements store.Deliveries.
func (s *Store) RecordAttempt(ctx context.Context, o store.DeliveryOutcome) error {
	switch o.Status {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return store.Invalid("unknown delivery status")
	}
	var final bool
	err := s.write(ctx, false, 8192+o.Attempt.RecordBytes(), func(tx *wtxn) error {
		now := s.now()
		s.mu.Lock()
		held := s.deliv.heldBy(o.ID, o.Owner)
		s.mu.Unlock()
		if !held {
			return store.ErrLeaseLost
		}
		d, err := getDelivery(tx, o.ID, true)
		if err != nil {
			return err
		}
		d.Attempts = store.AppendAttempt(d.Attempts, o.Attempt)
		d.AttemptCount++
		d.LastError = o.Attempt.Error
		if err := store.CheckSize("the delivery", d.RecordBytes()); err != nil {
			return err
		}
		d.Status, d.UpdatedAt = o.Status, now
		if o.Status == store.DeliveryPending {
			d.NextAttemptAt = o.NextAttemptAt
			if d.NextAttemptAt.IsZero() {
				d.NextAttemptAt = now
			}
			b, err := encodeDelivery(d)
			if err != nil {
				return err
			}
			tx.set(key(pDeliv, d.ID), b, time.Time{})
			if err := tx.setJSON(key(pDelivAct, d.ID), activeOf(d), time.Time{}); err != nil {
				return err
			}
			tx.onApply(func() {
				s.mu.Lock()
				s.deliv.release(d.ID, d.NextAttemptAt)
				s.mu.Unlock()
			})
			return nil
		}
		final = true
		d.NextAttemptAt, d.ExpiresAt = time.Time{}, o.ExpiresAt
		if err := s.putFinal(tx, d); err != nil {
			return err
		}
		tx.onApply(func() {
			s.mu.Lock()
			s.deliv.remove(d.ID)
			s.mu.Unlock()
		})
		return nil
	})
	if err == nil && final {
		// An ordered delivery behind this one may be due now.
		wake(s.delivWake)
	}
	return store.Safe("recording delivery attempt", err)
}

// putFinal stages a delivered or failed delivery with its expiry.
func (s *Store) putFinal(tx *wtxn, d *store.Delivery) error {
	b, err := encodeDelivery(d)
	if err != nil {
		return err
	}
	tx.set(key(pDeliv, d.ID), b, d.ExpiresAt)
	tx.set(listKey(d), nil, d.ExpiresAt)
	tx.delete(key(pDelivAct, d.ID))
	if d.Status == store.DeliveryFailed {
		tx.set(deadKey(d), nil, d.ExpiresAt)
		tx.onApply(func() {
			s.mu.Lock()
			s.nFailed++
			s.mu.Unlock()
		})
	}
	return nil
}

// ReleaseDelivery implements store.Deliveries.
func (s *Store) ReleaseDelivery(ctx context.Context, id, owner string) error {
	err := s.write(ctx, false, 0, func(tx *wtxn) error {
		s.mu.Lock()
		held := s.deliv.heldBy(id, owner)
		s.mu.Unlock()
		if !held {
			return store.ErrLeaseLost
		}
		tx.onApply(func() {
			s.mu.Lock()
			s.deliv.unclaim(id)
			s.mu.Unlock()
		})
		return nil
	})
	if err == nil {
		wake(s.delivWake)
	}
	return store.Safe("releasing delivery", err)
}

// GetDelivery implements store.Deliveries.
func (s *Store) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	var d *store.Delivery
	err := s.db.View(func(txn *badger.Txn) (err error) {
		d, err = getDelivery(view{txn}, id, true)
		return err
	})
	if err != nil {
		return nil, store.Safe("reading delivery", err)
	}
	if expired(d.ExpiresAt, s.now()) {
		return nil, store.ErrNotFound
	}
	return d, nil
}

// ListDeliveries implements store.Deliveries. It walks the agent's index
// by creation time (dead letters: by the time they failed) from the
// position or the end of the range, newest first, and reads each
// delivery to apply the other filters.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	prefix := key(pDelivAgent, f.Agent, "")
	if f.Status == store.DeliveryFailed {
		prefix = key(pDelivDead, f.Agent, "")
	}
	var out []*store.Delivery
	err := s.db.View(func(txn *badger.Txn) error {
		return walkNewest(txn, prefix, f.Since, f.Until, f.After, func(id string, _ *badger.Item) (bool, error) {
			d, err := getDelivery(view{txn}, id, false)
			if errors.Is(err, store.ErrNotFound) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if f.Matches(d) && !expired(d.ExpiresAt, s.now()) {
				out = append(out, d)
			}
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, store.Safe("listing deliveries", err)
	}
	return out, nil
}

// walkNewest calls fn with the ids of an index of <prefix><stamp>/<id>
// keys, newest first: those in [since, until) (zero bounds are open) that
// come after the position after, with their index entries. It stops when
// fn returns false.
func walkNewest(txn *badger.Txn, prefix []byte, since, until time.Time, after *store.Position, fn func(id string, entry *badger.Item) (bool, error)) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Reverse = true
	opt.Prefix = prefix
	it := txn.NewIterator(opt)
	defer it.Close()
	// Reverse iteration starts from the largest key at or before the
	// seek key: the end of the prefix, the end of the range (a key of
	// its stamp alone sorts before every key with that stamp), or the
	// position.
	start := append(append([]byte(nil), prefix...), 0xff)
	if !until.IsZero() {
		start = append(append([]byte(nil), prefix...), stamp(until)...)
	}
	if after != nil {
		if k := append(append([]byte(nil), prefix...), stamp(after.At)+"/"+after.ID...); bytes.Compare(k, start) < 0 {
			start = k
		}
	}
	low := ""
	if !since.IsZero() {
		low = stamp(since)
	}
	for it.Seek(start); it.Valid(); it.Next() {
		rest := string(it.Item().Key()[len(prefix):])
		if len(rest) < 17 {
			continue
		}
		at, id := rest[:16], rest[17:]
		if at < low {
			return nil
		}
		if after != nil && at == stamp(after.At) && id >= after.ID {
			continue // the position itself
		}
		more, err := fn(id, it.Item())
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// RetryDelivery implements store.Deliveries.
func (s *Store) RetryDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	var out *store.Delivery
	err := s.write(ctx, false, 8192, func(tx *wtxn) error {
		now := s.now()
		d, err := getDelivery(tx, id, true)
		if err != nil {
			return err
		}
		if expired(d.ExpiresAt, now) {
			// Badger drops it on its own clock; the record's expiry is exact.
			return store.ErrNotFound
		}
		if err := s.requeueDelivery(tx, d, now); err != nil {
			return err
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, store.Safe("retrying delivery", err)
	}
	wake(s.delivWake)
	return out, nil
}

// requeueDelivery makes a final delivery pending again, due now. It goes
// to the back of its order group: a replay is a new send.
func (s *Store) requeueDelivery(tx *wtxn, d *store.Delivery, now time.Time) error {
	if d.Status == store.DeliveryPending {
		return nil
	}
	if d.Status == store.DeliveryFailed {
		tx.delete(deadKey(d))
		tx.onApply(func() {
			s.mu.Lock()
			s.nFailed--
			s.mu.Unlock()
		})
	}
	s.mu.Lock()
	d.Seq = s.nextSeq(now)
	s.mu.Unlock()
	d.Status, d.UpdatedAt, d.NextAttemptAt, d.ExpiresAt = store.DeliveryPending, now, now, time.Time{}
	d.RequeuedAt = now
	return s.putPending(tx, d)
}

// RecoverDeliveries implements store.Deliveries. It walks the agent's
// dead letters from f.Since, in transactions of at most a chunk.
func (s *Store) RecoverDeliveries(ctx context.Context, f store.RecoverFilter) (int, error) {
	const chunk = 128
	if err := s.usable(); err != nil {
		return 0, err
	}
	prefix := key(pDelivDead, f.Agent, "")
	// Deliveries that fail again while we work must not be picked up
	// twice: nothing that failed after now, nor at or after f.Until.
	high := stamp(s.now()) + "\xff"
	if !f.Until.IsZero() && stamp(f.Until) < high {
		high = stamp(f.Until)
	}
	from := append(append([]byte(nil), prefix...), stamp(f.Since)...)
	if f.Since.IsZero() {
		from = prefix
	}
	// scan collects up to most matching dead letters from `from` on, and
	// the key to go on from.
	scan := func(txn *badger.Txn, r reader, most int) ([]*store.Delivery, []byte, error) {
		var ds []*store.Delivery
		now := s.now()
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = prefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(from); it.Valid() && len(ds) < most; it.Next() {
			k := it.Item().KeyCopy(nil)
			rest := string(k[len(prefix):])
			if len(rest) < 17 || rest[:16] >= high {
				return ds, nil, nil
			}
			d, err := getDelivery(r, rest[17:], true)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if !expired(d.ExpiresAt, now) && f.Matches(d) {
				ds = append(ds, d)
			}
			if len(ds) == most {
				return ds, append(k, 0), nil
			}
		}
		return ds, nil, nil
	}
	if f.DryRun {
		total := 0
		err := s.db.View(func(txn *badger.Txn) error {
			ds, _, err := scan(txn, view{txn}, math.MaxInt)
			total = len(ds)
			return err
		})
		return total, store.Safe("counting deliveries to recover", err)
	}
	total := 0
	for from != nil {
		n := 0
		err := s.write(ctx, false, chunk*8192, func(tx *wtxn) error {
			ds, next, err := scan(tx.txn, tx, chunk)
			if err != nil {
				return err
			}
			now := s.now()
			for _, d := range ds {
				if err := s.requeueDelivery(tx, d, now); err != nil {
					return err
				}
			}
			n, from = len(ds), next
			return nil
		})
		if err != nil {
			if total > 0 {
				wake(s.delivWake)
			}
			return total, store.Safe("recovering deliveries", err)
		}
		total += n
	}
	if total > 0 {
		wake(s.delivWake)
	}
	return total, nil
}

// DeliveryCounts implements store.Deliveries.
func (s *Store) DeliveryCounts(ctx context.Context) (pending, failed int, err error) {
	if err := s.usable(); err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	total, _ := s.deliv.len()
	return total, s.nFailed, nil
}
