package badgerstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// Operations share transactions (group commit), and Badger has no
// savepoints: a write that fails halfway through an operation would leave
// the operation's earlier writes in the shared transaction, and they would
// commit with the others. So an operation never writes to the shared
// transaction directly. It writes to a wtxn, which stages the writes; the
// writer checks them (sizes, keys) and applies them all to the
// transaction only when the operation returned nil and every one of them
// is sure to be taken. Changes to the in-memory indexes are staged the
// same way. A failed operation leaves nothing behind, whatever point it
// failed at.

// maxKeySize is Badger's own limit on a key (txn.modify refuses longer).
const maxKeySize = 65000

// write is one staged change.
type write struct {
	key, value []byte
	expiresAt  time.Time // zero: never
	del        bool
}

// wtxn is one operation's view of the batch it runs in. Its reads see
// what is committed, what the operations before it in the batch wrote,
// and its own staged writes (iterators over txn see the first two only).
type wtxn struct {
	txn    *badger.Txn
	writes []write
	// at maps a key to the index of its write in writes, once writes
	// outgrow a linear scan (linearWrites); most operations write a few
	// keys, and a map costs them allocations for nothing.
	at    map[string]int
	after []func()
	// Room for the writes and index changes of a typical operation (a
	// task's intake writes three keys), so that they need no allocation
	// of their own.
	writesBuf [4]write
	afterBuf  [2]func()
}

// linearWrites is how many writes are looked up by scanning writes.
const linearWrites = 16

func newWtxn(txn *badger.Txn) *wtxn {
	t := &wtxn{txn: txn}
	t.writes, t.after = t.writesBuf[:0], t.afterBuf[:0]
	return t
}

// find returns the index of k's staged write, if any.
func (t *wtxn) find(k []byte) (int, bool) {
	if t.at != nil {
		i, ok := t.at[string(k)]
		return i, ok
	}
	for i := range t.writes {
		if bytes.Equal(t.writes[i].key, k) {
			return i, true
		}
	}
	return 0, false
}

// stage records w, replacing an earlier write of the same key: the
// last write of a key is the one that counts.
func (t *wtxn) stage(w write) {
	if i, ok := t.find(w.key); ok {
		t.writes[i] = w
		return
	}
	t.writes = append(t.writes, w)
	switch {
	case t.at != nil:
		t.at[string(w.key)] = len(t.writes) - 1
	case len(t.writes) > linearWrites:
		t.at = make(map[string]int, 2*len(t.writes))
		for i := range t.writes {
			t.at[string(t.writes[i].key)] = i
		}
	}
}

// set stages k=v, expiring at exp (zero: never).
func (t *wtxn) set(k, v []byte, exp time.Time) { t.stage(write{key: k, value: v, expiresAt: exp}) }

// setJSON stages k=JSON(v).
func (t *wtxn) setJSON(k []byte, v any, exp time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	t.set(k, b, exp)
	return nil
}

// delete stages the removal of k.
func (t *wtxn) delete(k []byte) { t.stage(write{key: k, del: true}) }

// onApply stages a change to the in-memory indexes. It runs in the
// writer goroutine once the operation's writes are in the transaction,
// before the next operation of the batch runs, so that one sees it.
func (t *wtxn) onApply(fn func()) { t.after = append(t.after, fn) }

// value implements reader.
func (t *wtxn) value(k []byte, fn func(v []byte) error) error {
	if i, ok := t.find(k); ok {
		if t.writes[i].del {
			return badger.ErrKeyNotFound
		}
		return fn(t.writes[i].value)
	}
	return view{t.txn}.value(k, fn)
}

// reader is what the record helpers read through: a read-only
// transaction (view), or an operation's wtxn.
type reader interface {
	// value calls fn with the value of k, valid only during the call, or
	// returns badger.ErrKeyNotFound.
	value(k []byte, fn func(v []byte) error) error
}

// view reads a Badger transaction.
type view struct{ txn *badger.Txn }

func (v view) value(k []byte, fn func([]byte) error) error {
	it, err := v.txn.Get(k)
	if err != nil {
		return err
	}
	return it.Value(fn)
}

// cost is what a batch of writes counts against one transaction, exactly
// as Badger counts it (txn.checkSize), so that applying writes that fit
// never fails halfway with ErrTxnTooBig.
type cost struct{ size, count int64 }

func (c cost) plus(o cost) cost { return cost{c.size + o.size, c.count + o.count} }

// writeCost counts one write as Badger's Entry.estimateSizeAndSetThreshold
// does, plus the 10 bytes checkSize adds for the key's version.
func writeCost(w *write, threshold int64) cost {
	k, v := int64(len(w.key)), int64(len(w.value))
	if v < threshold {
		return cost{k + v + 2 + 10, 1}
	}
	return cost{k + 12 + 2 + 10, 1}
}

// errBadKey is an internal error: a key no engine code should build.
var errBadKey = errors.New("an empty or reserved key")

// check refuses, before anything is applied, writes Badger would refuse
// one by one, and returns their cost.
func (t *wtxn) check(valueLimit, threshold int64) (cost, error) {
	var c cost
	for i := range t.writes {
		w := &t.writes[i]
		switch {
		case len(w.key) == 0 || bytes.HasPrefix(w.key, []byte("!badger!")):
			return c, &store.Error{Kind: store.ErrInternal, Err: errBadKey}
		case len(w.key) > maxKeySize:
			return c, store.TooLarge("a key is over the engine's limit")
		case int64(len(w.value)) > valueLimit:
			return c, store.TooLarge("a record is over the engine's limit")
		}
		c = c.plus(writeCost(w, threshold))
	}
	return c, nil
}

// apply writes the staged changes to txn. check must have passed and the
// cost must fit: then Badger takes every write.
func (t *wtxn) apply(txn *badger.Txn, now time.Time) error {
	for i := range t.writes {
		w := &t.writes[i]
		var err error
		if w.del {
			err = txn.Delete(w.key)
		} else {
			err = setEntry(txn, w.key, w.value, w.expiresAt, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errJournalDelete is internal: the journal replays sets only.
var errJournalDelete = errors.New("a journaled operation deletes a key")

// journal encodes the staged writes as one record of the intake
// journal (see encodeJournal), which holds only sets; nil if the
// operation wrote nothing.
func (t *wtxn) journal() ([]byte, error) {
	if len(t.writes) == 0 {
		return nil, nil
	}
	n := 8
	for i := range t.writes {
		w := &t.writes[i]
		if w.del {
			return nil, &store.Error{Kind: store.ErrInternal, Err: errJournalDelete}
		}
		n += journalEntrySize(w.key, w.value)
	}
	b := make([]byte, 8, n)
	for i := range t.writes {
		w := &t.writes[i]
		b = appendJournalEntry(b, w.key, w.value, w.expiresAt)
	}
	return frameJournal(b), nil
}
