package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// Tasks are listed from an index of their creation times, tc/<stamp>/<id>,
// whose value names the agent and the chat, so that a listing filtered on
// them reads only the tasks it returns. The entry lives as long as the
// task: no expiry while it is unfinished, the task's own once it is final.

// taskTime is the value of a tc/ entry.
type taskTime struct {
	Agent string `json:"a"`
	Chat  string `json:"c"`
}

func taskTimeKey(t *store.Task) []byte { return key(pTaskTime, stamp(t.CreatedAt), t.ID) }

// putTaskTime stages t's index entry, expiring at exp (zero: never).
func putTaskTime(tx *wtxn, t *store.Task, exp time.Time) error {
	v, err := encodeTaskTime(t.Agent, t.ChatID)
	if err != nil {
		return err
	}
	tx.set(taskTimeKey(t), v, exp)
	return nil
}

// encodeTaskTime is json.Marshal(taskTime{agent, chat}), byte for byte,
// without its reflection: intake and every finish write one.
func encodeTaskTime(agent, chat string) ([]byte, error) {
	b := make([]byte, 0, len(`{"a":"","c":""}`)+len(agent)+len(chat))
	b = append(b, `{"a":`...)
	b, err := appendJSONString(b, agent)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"c":`...)
	if b, err = appendJSONString(b, chat); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as json.Marshal writes it: printable ASCII
// that needs no escaping (json.Marshal escapes < > & too) as it is, the
// rest through json.Marshal.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			q, err := json.Marshal(s)
			return append(b, q...), err
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), nil
}

// taskIndexKey marks a database whose tasks are all in the tc/ index:
// databases written before the index get it once, at open.
var taskIndexKey = []byte("m/task-time-index")

// indexTasks fills the tc/ index from the task records, once. It runs in
// Open, before the writer starts, so nothing else writes meanwhile.
func indexTasks(db *badger.DB, now time.Time) error {
	err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(taskIndexKey)
		return err
	})
	if err == nil || !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err = db.View(func(txn *badger.Txn) error {
		for _, prefix := range []string{pTaskActive, pTask} {
			err := scan(txn, prefix, func(id string, b []byte) error {
				var t store.Task
				if _, err := decodeTask(id, b, &t); err != nil || expired(t.ExpiresAt, now) {
					return nil // the queue's rebuild reports broken records
				}
				v, err := json.Marshal(taskTime{Agent: t.Agent, Chat: t.ChatID})
				if err != nil {
					return err
				}
				e := badger.NewEntry(taskTimeKey(&t), v)
				if d := ttl(t.ExpiresAt, now); d > 0 {
					e = e.WithTTL(d)
				}
				return wb.SetEntry(e)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wb.Set(taskIndexKey, nil); err != nil {
		return err
	}
	return wb.Flush()
}

// ListTasks implements store.Tasks.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	agents := make(map[string]bool, len(f.Agents))
	for _, a := range f.Agents {
		agents[a] = true
	}
	var out []*store.Task
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte(pTaskTime)
		return walkNewest(txn, prefix, f.Since, f.Until, f.After, func(id string, entry *badger.Item) (bool, error) {
			var tt taskTime
			if err := entry.Value(func(v []byte) error { return json.Unmarshal(v, &tt) }); err != nil {
				return false, err
			}
			if (len(agents) > 0 && !agents[tt.Agent]) || (f.ChatID != "" && tt.Chat != f.ChatID) {
				return true, nil
			}
			t, err := readTask(view{txn}, id, false)
			if errors.Is(err, store.ErrNotFound) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if expired(t.ExpiresAt, s.now()) {
				return true, nil
			}
			s.overlay(t)
			if f.Matches(t) {
				out = append(out, t)
			}
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, store.Safe("listing tasks", err)
	}
	return out, nil
}
