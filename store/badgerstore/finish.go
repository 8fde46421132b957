package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// chatTouch is how far a chat's expiry may move before FinishTask writes
// it again; without it, every finished task would rewrite its chat.
const chatTouch = time.Hour

// FinishTask implements store.Tasks.
//
// The final status, the chat's conversation id and the deliveries are
// one transaction. When the deliveries are too many for one Badger
// transaction (a task fanning out to thousands of callbacks), the
// transaction holds them as a few large "fan-out" values in the value log
// instead, which cost Badger a pointer each, and they are unpacked into
// claimable deliveries by later transactions, one chunk each; a restart
// unpacks whatever a crash left packed. Either way there is never a final
// status without its deliveries.
//
// It is not fsync'd: a task whose final status a machine crash loses runs
// again (at least once), which a lost 202 would not allow.
func (s *Store) FinishTask(ctx context.Context, f store.TaskFinish) error {
	if !f.Status.Final() {
		return store.Invalid("finishing a task needs a final status")
	}
	ids := make(map[string]bool, len(f.Deliveries))
	for _, d := range f.Deliveries {
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
	}
	resultSize := 0
	if f.Result != nil {
		resultSize = len(f.Result.Body)
	}
	size := 8192 + len(f.Error) + valueSize(resultSize)
	direct := 0
	for _, d := range f.Deliveries {
		direct += deliverySize(d)
	}
	var chunks [][]*store.Delivery
	if size+direct <= s.w.budget/2 {
		size += direct
	} else {
		chunks = chunkDeliveries(f.Deliveries, s.w.budget/4)
		size += 256 * len(chunks)
	}
	var taskID string
	err := s.write(ctx, false, size, func(tx *wtxn) error {
		now := s.now()
		s.mu.Lock()
		it, t, err := s.heldTask(f.ID, f.Owner)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if err := store.CheckSize("the finished task", f.RecordBytes(t)); err != nil {
			return err
		}
		taskID = t.ID
		var chat store.Chat
		chatErr := store.ErrNotFound
		if f.ConversationID != "" || !f.ChatExpiresAt.IsZero() {
			chatErr = getChat(tx, t.ChatID, &chat)
			if chatErr != nil && !errors.Is(chatErr, store.ErrNotFound) {
				return chatErr
			}
		}
		t.Status, t.Error = f.Status, f.Error
		t.Attempts = max(t.Attempts, it.claimed().attempts)
		t.LeaseOwner, t.LeaseUntil = "", time.Time{}
		t.UpdatedAt, t.FinishedAt, t.ExpiresAt = now, now, f.ExpiresAt
		var resultBody []byte
		if f.Result != nil {
			r := *f.Result
			resultBody, r.Body = r.Body, nil
			t.Result = &r
		}
		// The request body is not needed once the task is final.
		v, err := encodeTask(t, nil)
		if err != nil {
			return err
		}
		tx.set(key(pTask, t.ID), v, f.ExpiresAt)
		if t.Result != nil {
			tx.set(key(pTaskResult, t.ID), resultBody, f.ExpiresAt)
		}
		tx.delete(key(pTaskActive, t.ID))
		if err := putTaskTime(tx, t, f.ExpiresAt); err != nil {
			return err
		}
		if chatErr == nil && !expired(chat.ExpiresAt, now) && chatChanged(&chat, f) {
			if f.ConversationID != "" {
				chat.ConversationID = f.ConversationID
			}
			if f.ChatExpiresAt.After(chat.ExpiresAt) {
				chat.ExpiresAt = f.ChatExpiresAt
			}
			chat.UpdatedAt = now
			if err := store.CheckSize("the chat", chat.RecordBytes()); err != nil {
				return err
			}
			if err := tx.putChat(&chat); err != nil {
				return err
			}
		}
		if chunks == nil {
			for _, d := range f.Deliveries {
				if err := s.insertDelivery(tx, d, now); err != nil {
					return err
				}
			}
		} else {
			for i, c := range chunks {
				b, err := json.Marshal(packDeliveries(c))
				if err != nil {
					return err
				}
				tx.set(key(pFanout, t.ID, fmt.Sprintf("%08d", i)), b, time.Time{})
			}
		}
		tx.onApply(func() {
			s.mu.Lock()
			s.tasks.remove(t.ID)
			s.mu.Unlock()
		})
		return nil
	})
	if err != nil {
		return store.Safe("finishing task", err)
	}
	wake(s.taskWake) // the chat's next task may be claimable now
	if chunks != nil {
		if err := s.unpackFanout(ctx, taskID); err != nil {
			// The final status is recorded; a restart finishes the job.
			return &store.Error{Op: "finishing task", Kind: store.ErrUnavailable,
				Detail: "the deliveries are saved but not yet queued; they will be on restart", Err: err}
		}
	}
	if len(f.Deliveries) > 0 {
		wake(s.delivWake)
	}
	return nil
}

// chatChanged reports whether a finish must rewrite the chat.
func chatChanged(c *store.Chat, f store.TaskFinish) bool {
	if f.ConversationID != "" && f.ConversationID != c.ConversationID {
		return true
	}
	return f.ChatExpiresAt.Sub(c.ExpiresAt) > chatTouch
}

// deliverySize bounds what a delivery adds to a transaction.
func deliverySize(d *store.Delivery) int {
	return 640 + len(d.ID) + len(d.MessageID) + len(d.CallbackID) + len(d.OrderKey) + len(d.ChatID) + len(d.TaskID) + valueSize(len(d.Payload))
}

// chunkDeliveries splits deliveries into groups of at most budget bytes.
func chunkDeliveries(ds []*store.Delivery, budget int) [][]*store.Delivery {
	var chunks [][]*store.Delivery
	var cur []*store.Delivery
	size := 0
	for _, d := range ds {
		n := deliverySize(d)
		if len(cur) > 0 && size+n > budget {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur, size = append(cur, d), size+n
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// packedDelivery is a delivery waiting in a fan-out value.
type packedDelivery struct {
	*store.Delivery
	Payload []byte `json:"payload"`
}

func packDeliveries(ds []*store.Delivery) []packedDelivery {
	out := make([]packedDelivery, len(ds))
	for i, d := range ds {
		out[i] = packedDelivery{Delivery: d, Payload: d.Payload}
	}
	return out
}

// unpackFanout turns the fan-out values of a task (or of every task, for
// an empty id) into queued deliveries, one chunk per transaction. Each
// chunk's deliveries and the removal of its value are one transaction, so
// a crash in between loses and repeats nothing.
func (s *Store) unpackFanout(ctx context.Context, taskID string) error {
	prefix := pFanout
	if taskID != "" {
		prefix = string(key(pFanout, taskID, ""))
	}
	if err := s.usable(); err != nil {
		return err
	}
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(prefix)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		var packed []packedDelivery
		err := s.db.View(func(txn *badger.Txn) error { return getJSON(view{txn}, k, &packed) })
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading saved deliveries: %w", err)
		}
		size := 256
		for _, p := range packed {
			p.Delivery.Payload = p.Payload
			size += deliverySize(p.Delivery)
		}
		err = s.write(ctx, false, size, func(tx *wtxn) error {
			if err := tx.value(k, func([]byte) error { return nil }); errors.Is(err, badger.ErrKeyNotFound) {
				return nil // another caller unpacked it
			} else if err != nil {
				return err
			}
			now := s.now()
			for _, p := range packed {
				if err := s.insertDelivery(tx, p.Delivery, now); err != nil {
					return err
				}
			}
			tx.delete(k)
			return nil
		})
		if err != nil {
			return err
		}
		wake(s.delivWake)
	}
	return nil
}
