// Package badgerstore is agenthook's embedded store: one Badger directory,
// written by a single goroutine with group commit, with the claimable work
// indexed in memory.
//
// Badger takes an exclusive lock on its directory, so one process opens a
// directory at a time. Within Caddy, the caddymodule package shares one
// open Store across config reloads.
package badgerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// Options configure Open. Zero values mean sidecar-sized defaults.
type Options struct {
	// Dir is the database directory; it is created if missing.
	Dir string

	// Logger receives the engine's messages and Badger's own (see
	// log.go for the levels); nil discards them.
	Logger *zap.Logger

	// MemTableSize and BlockCacheSize bound Badger's two largest memory
	// users. Badger's defaults (64 MiB and 256 MiB) suit a database
	// server; agenthook is a sidecar, so the defaults here are 8 MiB and
	// 16 MiB.
	MemTableSize   int64
	BlockCacheSize int64

	// GCInterval is how often value-log garbage collection runs; default
	// 5 minutes. Negative disables it.
	GCInterval time.Duration

	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// Store is the Badger engine. It is safe for concurrent use.
type Store struct {
	db  *badger.DB
	w   *writer
	now func() time.Time

	// mu guards the in-memory indexes and counters below. The writer
	// goroutine changes them inside its transactions; counts are read
	// from anywhere.
	mu      sync.Mutex
	tasks   *sched
	deliv   *sched
	lastSeq int64
	nFailed int // dead-lettered deliveries
	// delivAgents maps the callbacks of pending deliveries to their
	// agent, for claims that skip or cap agents. Entries are not removed:
	// there are as many as callbacks, and a callback keeps its agent.
	delivAgents map[string]string
	// installation caches InstallationID once read.
	installation atomic.Pointer[string]

	taskWake  chan struct{}
	delivWake chan struct{}

	// broken holds why the store cannot serve, once the in-memory indexes
	// could not be rebuilt from the records: every operation then fails
	// with it (it wraps store.ErrUnavailable), rather than the process
	// stopping or the queue being served from indexes that are wrong.
	broken atomic.Pointer[error]
	log    *zap.Logger

	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// Interface guard
var _ store.Store = (*Store)(nil)

// Open opens (or creates) the database in o.Dir and rebuilds the indexes
// of pending work from it.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("badger store needs a directory")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating badger directory: %w", err)
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = 8 << 20
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = 16 << 20
	}
	if o.GCInterval == 0 {
		o.GCInterval = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	bo := badger.DefaultOptions(o.Dir).
		WithLogger(badgerLogger{o.Logger}).
		// Only the writer goroutine writes, so there is nothing to detect.
		WithDetectConflicts(false).
		// Durability comes from explicit, batched Syncs (see writer).
		WithSyncWrites(false).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(3).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		// 2 MiB tables, although 8 MiB made compactions fewer and narrower
		// (each level-0 compaction set off one or two below it instead of
		// six; 202 → callback p99 after a 50k drain 38 ms against 61 ms in
		// bench P3): Badger's table builders reserve twice the table size
		// each, and RSS with 100k queued went from 299 to 314 MiB, over the
		// 300 MiB budget (BENCHMARKS.md, 2026-12-03).
		WithBaseTableSize(2 << 20).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(8 << 20).
		WithNumCompactors(2).
		// Nearly every record goes to the value log: the LSM tree then holds
		// only keys and pointers, so compaction rewrites little. Measured on
		// the delivery benchmark, 64 bytes doubled throughput against 1 KiB.
		WithValueThreshold(64).
		// Small value log files let GC reclaim space soon after retention
		// deletes records: the active file is never collected.
		WithValueLogFileSize(16 << 20).
		WithCompression(options.None)
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("badger directory %s is in use by another process: %w", o.Dir, err)
		}
		return nil, fmt.Errorf("opening badger directory %s: %w", o.Dir, err)
	}
	s := &Store{
		db:        db,
		now:       o.Now,
		taskWake:  make(chan struct{}, 1),
		delivWake: make(chan struct{}, 1),
		log:       o.Logger,
	}
	jdir := filepath.Join(o.Dir, journalDir)
	if n, err := replayJournal(db, jdir, o.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("replaying the intake journal: %w", err)
	} else if n > 0 {
		o.Logger.Warn("restored writes from the intake journal that the store lost in a crash", zap.Int("writes", n))
	}
	if err := indexTasks(db, o.Now()); err != nil {
		db.Close()
		return nil, store.Safe("indexing tasks by creation time", err)
	}
	j, err := openJournal(jdir, o.Now())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the intake journal: %w", err)
	}
	// From here on, closing the writer closes the journal.
	s.w = newWriter(db, o.Dir, j, o.Now, o.Logger, func(error) {
		// A failed commit may leave the indexes ahead of the database.
		if err := s.rebuild(); err != nil {
			s.fail(err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.rebuild(); err != nil {
		// The records are there but cannot be read back into a queue:
		// the store opens, and answers ErrUnavailable until it is fixed.
		s.fail(err)
	} else if err := s.unpackFanout(ctx, ""); err != nil {
		// A crash may have left a fan-out half unpacked; it cannot be
		// queued now.
		cancel()
		s.w.close()
		db.Close()
		return nil, store.Safe("queueing saved deliveries", err)
	}
	if o.GCInterval > 0 {
		s.bg.Add(1)
		go s.gcLoop(ctx, o.GCInterval)
	}
	return s, nil
}

// Close stops background work, applies queued writes and closes Badger.
func (s *Store) Close() error {
	s.cancel()
	s.bg.Wait()
	s.w.close()
	return s.db.Close()
}

// usable returns nil while the store can serve, and the reason it cannot
// once it failed.
func (s *Store) usable() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// fail marks the store unusable because its indexes could not be
// rebuilt.
func (s *Store) fail(cause error) {
	err := error(&store.Error{Kind: store.ErrUnavailable,
		Detail: "the badger store cannot rebuild its queue from its records; it needs a restart, or repair if that fails too",
		Err:    cause})
	if s.broken.CompareAndSwap(nil, &err) {
		// The cause prints fixed text only (rebuild makes sure).
		s.log.Error("store unavailable: the queue cannot be rebuilt from the records; restart, and repair the directory if that fails too",
			zap.Error(cause))
	}
}

// write runs fn in the writer (see writer.do), unless the store cannot
// serve.
func (s *Store) write(ctx context.Context, sync bool, size int, fn func(tx *wtxn) error) error {
	if err := s.usable(); err != nil {
		return err
	}
	return s.w.do(ctx, sync, size, fn)
}

// writeJournaled is write for an operation whose writes are journaled.
func (s *Store) writeJournaled(ctx context.Context, size int, fn func(tx *wtxn) error) error {
	if err := s.usable(); err != nil {
		return err
	}
	return s.w.doJournaled(ctx, size, fn)
}

// DB exposes the database for maintenance tools and tests.
func (s *Store) DB() *badger.DB { return s.db }

// TaskWake implements store.Store.
func (s *Store) TaskWake() <-chan struct{} { return s.taskWake }

// DeliveryWake implements store.Store.
func (s *Store) DeliveryWake() <-chan struct{} { return s.delivWake }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// gcLoop reclaims value-log space. Badger never does this on its own.
func (s *Store) gcLoop(ctx context.Context, every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.compactDown()
		// Each call rewrites at most one file; repeat while it finds work.
		for i := 0; i < 16 && ctx.Err() == nil; i++ {
			if s.db.RunValueLogGC(0.5) != nil {
				break
			}
		}
		s.recountFailed()
	}
}

// compactDown moves every table to the last level of the tree when more
// than one level holds tables.
//
// Badger counts a value-log entry as garbage, for the value-log GC, only
// when a compaction drops its key; and it drops an expired or deleted key
// only when compacting into the last level, which it does on its own only
// as the tree grows, or for last-level tables over an hour old. Finished
// tasks and deliveries expire within minutes (retention), so without
// this their value-log space stayed until the tree grew: about 4x the
// live data on disk, measured. Badger stops its own compactions while
// this runs; writes go on into the memtables (they would stall only if
// level 0 filled up meanwhile). One worker, so that it takes one core at
// most.
func (s *Store) compactDown() {
	levels := 0
	for _, l := range s.db.Levels() {
		if l.NumTables > 0 {
			levels++
		}
	}
	if levels < 2 {
		return
	}
	start := time.Now()
	if err := s.db.Flatten(1); err != nil {
		s.log.Warn("cannot compact the store's tables down before the value-log gc", zap.Error(err))
		return
	}
	s.log.Debug("compacted the store's tables down", zap.Int("levels", levels), zap.Duration("took", time.Since(start)))
}

// Key prefixes. Each record kind has its own, so scans stay narrow.
const (
	pChat       = "c/"  // chat id -> Chat
	pTask       = "t/"  // task id -> finished task record
	pTaskResult = "tr/" // task id -> result body
	pTaskActive = "ta/" // task id -> unfinished task record (metadata, body)
	pIdem       = "i/"  // idempotency key -> idemRecord
	pReplay     = "r/"  // replay key -> empty
	pDeliv      = "d/"  // delivery id -> metadata
	pDelivBody  = "dp/" // delivery id -> payload
	pDelivAct   = "da/" // delivery id -> activeDelivery, while pending
	pDelivAgent = "dx/" // agent/created/id -> empty, to list by agent
	pDelivDead  = "df/" // agent/failed/id -> empty, to list and recover
	pReg        = "w/"  // registration id -> Registration
	pRegAgent   = "wa/" // agent/id -> empty
	pCBState    = "cs/" // callback id -> CallbackState
	pFanout     = "fo/" // task id/chunk -> deliveries waiting to be queued
	pTaskTime   = "tc/" // created/id -> taskTime, to list tasks newest first
	pAPIKey     = "ak/" // API key id -> APIKey
	pHistory    = "h/"  // chat id -> historyRecord
)

func key(prefix string, parts ...string) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

// getJSON reads and decodes one value; badger.ErrKeyNotFound becomes
// store.ErrNotFound.
func getJSON(r reader, k []byte, v any) error {
	err := r.value(k, func(b []byte) error { return json.Unmarshal(b, v) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return store.ErrNotFound
	}
	return err
}

// getBytes reads one value, or nil if it is missing.
func getBytes(r reader, k []byte) ([]byte, error) {
	var out []byte
	err := r.value(k, func(b []byte) error { out = append([]byte{}, b...); return nil })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	return out, err
}

// setEntry writes k=v, expiring at exp (zero: never).
func setEntry(txn *badger.Txn, k, v []byte, exp, now time.Time) error {
	e := badger.NewEntry(k, v)
	if d := ttl(exp, now); d > 0 {
		e = e.WithTTL(d)
	}
	return txn.SetEntry(e)
}

// rebuild loads the indexes of pending work from the database.
func (s *Store) rebuild() error {
	tasks, deliv := newSched(), newSched()
	agents := make(map[string]string)
	var lastSeq int64
	err := s.db.View(func(txn *badger.Txn) error {
		if err := scan(txn, pTaskActive, func(id string, b []byte) error {
			// Errors name no id: an id is a key, and errors print none.
			var a store.Task
			if _, err := decodeTask(id, b, &a); err != nil {
				return fmt.Errorf("an unfinished task: %w", err)
			}
			tasks.add(id, a.ChatID, a.Agent, a.Seq, a.RunAfter)
			lastSeq = max(lastSeq, a.Seq)
			return nil
		}); err != nil {
			return err
		}
		return scan(txn, pDelivAct, func(id string, b []byte) error {
			var a activeDelivery
			if err := json.Unmarshal(b, &a); err != nil {
				return fmt.Errorf("a pending delivery: %w", err)
			}
			if a.Agent == "" {
				d, err := getDelivery(view{txn}, id, false)
				if err != nil {
					return fmt.Errorf("a pending delivery: %w", err)
				}
				a.Agent = d.Agent
			}
			agents[a.Callback] = a.Agent
			deliv.add(id, a.OrderKey, a.Callback, a.Seq, a.NextAttemptAt)
			lastSeq = max(lastSeq, a.Seq)
			return nil
		})
	})
	if err != nil {
		// Fixed text: the cause may quote a byte of the record.
		return &store.Error{Kind: store.ErrInternal, Detail: "a pending task or delivery cannot be decoded", Err: err}
	}
	s.mu.Lock()
	// After a failed commit, work in flight keeps its claims: the
	// database has the items, memory has who holds them.
	if s.tasks != nil {
		tasks.adopt(s.tasks)
		deliv.adopt(s.deliv)
	}
	s.tasks, s.deliv = tasks, deliv
	maps.Copy(agents, s.delivAgents) // what the old index knew still holds
	s.delivAgents = agents
	s.lastSeq = max(s.lastSeq, lastSeq)
	s.mu.Unlock()
	s.recountFailed()
	wake(s.taskWake)
	wake(s.delivWake)
	return nil
}

// recountFailed counts dead-lettered deliveries again, since their index
// entries expire on their own.
func (s *Store) recountFailed() {
	n := 0
	_ = s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(pDelivDead)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	s.mu.Lock()
	s.nFailed = n
	s.mu.Unlock()
}

// scan calls fn for every key with prefix, with the key's remainder.
func scan(txn *badger.Txn, prefix string, fn func(rest string, v []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = []byte(prefix)
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		rest := string(item.Key()[len(prefix):])
		if err := item.Value(func(v []byte) error { return fn(rest, v) }); err != nil {
			return err
		}
	}
	return nil
}

// nextSeq returns a sequence number above every earlier one, also across
// restarts, since it starts from the clock. Callers hold s.mu.
func (s *Store) nextSeq(now time.Time) int64 {
	s.lastSeq = max(s.lastSeq+1, now.UnixNano())
	return s.lastSeq
}
