package badgerstore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// errClosed is returned for writes attempted after Close. It wraps
// ErrUnavailable: to a caller, a closed store is one it cannot reach.
var errClosed = store.Unavailable("the store is closed", nil)

// writebackEvery is how often the checkpointer starts writing Badger's
// logs out between checkpoints.
const writebackEvery = 200 * time.Millisecond

// maxBatch bounds how many operations share one transaction.
const maxBatch = 512

// op is one logical write. fn runs in the writer goroutine, in a batch of
// operations that share one transaction; it reads and stages its writes
// through a wtxn, which sees the writes of the operations before it. The
// staged writes reach the transaction only if fn returns nil (see
// stage.go). fn changes the in-memory indexes through wtxn.onApply; an fn
// that writes nothing and cannot fail after changing them (a claim) may
// change them directly.
type op struct {
	fn func(tx *wtxn) error
	// journaled ops' writes are also appended to the intake journal, and
	// are durable once it is synced.
	journaled bool
	journal   []byte // the encoded record, once fn succeeded
	size      int    // upper bound of the bytes fn adds to the transaction
	sync      bool   // durable before reporting success
	err       error  // fn's result, answered once the transaction committed
	done      chan error
}

// writer serialises every write through one goroutine. That gives the
// store three things at once: group commit (concurrent requests share one
// transaction and one fsync, which is what makes durable intake fast),
// no transaction conflicts, and in-memory indexes that change in the same
// order as the database.
type writer struct {
	db     *badger.DB
	budget int // bytes per transaction, well under Badger's limit
	// Badger's own limits, which stage.go checks before applying writes.
	maxSize, maxCount, valueLimit, threshold int64

	ops    chan *op
	stop   chan struct{}
	done   chan struct{}
	onFail func(error) // called after a failed commit, in the writer goroutine

	// syncs hands the syncer what waits for the disk: the journal
	// records of a transaction, sent just before the writer commits it
	// (the append and Badger's commit run at the same time), and ops
	// that wait for a Badger sync, sent once committed. The writer goes
	// on with the next batch meanwhile.
	syncs      chan *syncItem
	syncerDone chan struct{}
	journal    *journal // nil: every durable op syncs Badger
	now        func() time.Time
	log        *zap.Logger

	// seq numbers the writer's transactions, in commit order; only the
	// writer goroutine uses it. committed is the last one whose commit
	// returned: a checkpoint waits for every transaction whose records
	// its segment holds (see checkpoint).
	seq          uint64
	committedMu  sync.Mutex
	committedSeq uint64
	committedC   *sync.Cond
	// segSeq is the newest transaction whose records the open journal
	// segment holds; only the syncer uses it.
	segSeq uint64

	// Checkpoints run in their own goroutine: the syncer hands it the
	// journal segments to remove once Badger's files are synced, and goes
	// on appending. checkpointing is set while one runs.
	checkpoints    chan checkpointReq
	checkpointDone chan struct{}
	checkpointing  atomic.Bool
	unreleased     []string // segments a failed checkpoint could not remove
	// syncBadger makes every write Badger has taken durable; a field so
	// that tests can slow it down.
	syncBadger func() error
	// writeback starts writing Badger's logs out between checkpoints.
	writeback func() error
	dirSync   dirSyncState
	commits   atomic.Uint64 // batches committed, so an idle store skips writeback
}

func newWriter(db *badger.DB, dir string, j *journal, now func() time.Time, log *zap.Logger, onFail func(error)) *writer {
	opts := db.Opts()
	w := &writer{
		db:         db,
		budget:     int(db.MaxBatchSize() / 2),
		maxSize:    db.MaxBatchSize(),
		maxCount:   db.MaxBatchCount(),
		valueLimit: opts.ValueLogFileSize,
		threshold:  opts.ValueThreshold,
		ops:        make(chan *op, 4*maxBatch),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		onFail:     onFail,
		syncs:      make(chan *syncItem, 256),

		syncerDone:     make(chan struct{}),
		journal:        j,
		now:            now,
		log:            log,
		checkpoints:    make(chan checkpointReq, 1),
		checkpointDone: make(chan struct{}),
	}
	w.committedC = sync.NewCond(&w.committedMu)
	w.syncBadger = func() error { return syncFiles(db, dir, &w.dirSync) }
	w.writeback = func() error { return startWriteback(dir, &w.dirSync) }
	go w.run()
	go w.syncer()
	go w.checkpointer()
	return w
}

// do runs fn in the writer and waits for it to be committed (and synced
// if sync is set). If ctx ends first, do returns ctx's error, but the op
// may still be applied.
//
// size is an upper bound of what fn writes (keys plus values below the
// value threshold), so that a batch never outgrows one transaction.
func (w *writer) do(ctx context.Context, sync bool, size int, fn func(tx *wtxn) error) error {
	return w.submit(ctx, &op{fn: fn, size: size, sync: sync})
}

// doJournaled is do for a durable op whose writes are journaled: the
// journal's sync makes them durable. Its writes must all be sets.
func (w *writer) doJournaled(ctx context.Context, size int, fn func(tx *wtxn) error) error {
	return w.submit(ctx, &op{fn: fn, size: size, sync: true, journaled: true})
}

func (w *writer) submit(ctx context.Context, o *op) error {
	o.done = make(chan error, 1)
	select {
	case w.ops <- o:
	case <-w.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-w.done:
		// The writer may have exited between our send and its drain.
		select {
		case err := <-o.done:
			return err
		default:
			return errClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close applies what is queued, then stops the goroutine.
func (w *writer) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *writer) run() {
	defer func() {
		close(w.syncs)
		<-w.syncerDone
		close(w.done)
	}()
	batch := make([]*op, 0, maxBatch)
	var carry *op // the op that did not fit in the previous batch
	for {
		var size int
		if carry != nil {
			batch, size, carry = append(batch[:0], carry), carry.size, nil
		} else {
			select {
			case o := <-w.ops:
				batch, size = append(batch[:0], o), o.size
			case <-w.stop:
				// Drain what made it into the channel before the stop.
				for {
					select {
					case o := <-w.ops:
						w.commit([]*op{o})
					default:
						return
					}
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-w.ops:
				if size+o.size > w.budget {
					carry = o
					break fill
				}
				batch, size = append(batch, o), size+o.size
			default:
				break fill
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// segment is a transaction under way and the ops it holds.
type segment struct {
	txn   *badger.Txn
	used  cost
	ops   []*op // answered when txn commits, failed ones included
	wrote bool
}

// commit runs a batch of ops in one transaction and answers them, except
// those that wait for an fsync: the syncer answers them.
//
// Each op's staged writes are checked before they are applied, so a
// failed op leaves nothing in the transaction and the others commit. If
// an op's writes do not fit in what is left of the transaction (an op's
// size estimate was wrong), the ops before it are committed first and it
// goes on in a new transaction; an op too big for any transaction fails
// alone with ErrTooLarge.
func (w *writer) commit(batch []*op) {
	seg := &segment{txn: w.db.NewTransaction(true)}
	for i, o := range batch {
		tx := newWtxn(seg.txn)
		err := o.fn(tx)
		var c cost
		if err == nil {
			c, err = tx.check(w.valueLimit, w.threshold)
		}
		var rec []byte
		if err == nil && o.journaled {
			rec, err = tx.journal()
		}
		if err == nil && !w.fits(seg.used.plus(c)) && len(seg.ops) > 0 {
			// The op read the writes of the ops before it; once they
			// are committed, what it read still holds. If they cannot
			// be, it cannot go on, nor can the rest of the batch, whose
			// reads may have seen the same writes.
			if cerr := w.finish(seg); cerr != nil {
				for _, o := range batch[i:] {
					o.done <- cerr
				}
				return
			}
			seg = &segment{txn: w.db.NewTransaction(true)}
		}
		if err == nil && !w.fits(seg.used.plus(c)) {
			err = store.TooLarge("an operation is over what one transaction holds")
		}
		if err == nil {
			if aerr := tx.apply(seg.txn, w.now()); aerr != nil {
				// check and fits mirror Badger's own checks, so this
				// does not happen. If it does anyway, the transaction
				// may hold part of this op, so none of it may commit.
				seg.txn.Discard()
				aerr = &store.Error{Kind: store.ErrInternal, Detail: "badger refused a checked write", Err: aerr}
				if w.onFail != nil {
					w.onFail(aerr) // earlier ops changed the indexes
				}
				for _, x := range append(seg.ops, o) {
					x.done <- aerr
				}
				seg = &segment{txn: w.db.NewTransaction(true)}
				continue
			}
			seg.used = seg.used.plus(c)
			seg.wrote = seg.wrote || len(tx.writes) > 0
			for _, fn := range tx.after {
				fn()
			}
			if o.journaled {
				// An op that wrote nothing (an idempotent replay) has
				// nothing to make durable.
				o.sync = rec != nil
				o.journal = rec
			}
		}
		o.err = err
		seg.ops = append(seg.ops, o)
	}
	_ = w.finish(seg)
}

// fits reports whether a transaction that cost c is one Badger accepts.
func (w *writer) fits(c cost) bool { return c.size < w.maxSize && c.count < w.maxCount }

// syncItem is what the syncer makes durable for one transaction: the
// journal records of its journaled ops (buf), or ops that wait for
// Badger to be synced (badgerSync), or an abort record (aborted).
type syncItem struct {
	seq        uint64 // the writer's transaction, for checkpoints; 0 for none
	buf        []byte // journal records, appended in one write
	ops        []*op  // answered once the item is durable
	badgerSync bool   // ops were committed and wait for Badger's sync

	// A journaled item is answered by whoever finishes last of the
	// writer's commit and the syncer's append: left counts them down.
	left      atomic.Int32
	commitErr error // set by the writer before its count-down
	syncErr   error // set by the syncer before its count-down

	aborted chan error // an abort record: its append's result
}

// done counts one party down; the last one answers the ops. The atomic
// count orders each party's error before the last one reads it.
func (it *syncItem) done() {
	if it.left.Add(-1) != 0 {
		return
	}
	err := it.commitErr
	if err == nil {
		err = it.syncErr
	}
	for _, o := range it.ops {
		o.done <- err
	}
}

// checkpointReq hands closed journal segments to the checkpointer, with
// the newest transaction whose records they hold.
type checkpointReq struct {
	names []string
	seq   uint64
}

// committed records that the writer's transaction seq has committed (or
// failed to).
func (w *writer) committed(seq uint64) {
	w.committedMu.Lock()
	w.committedSeq = seq
	w.committedMu.Unlock()
	w.committedC.Broadcast()
}

// waitCommitted waits until transaction seq has committed or failed.
// The writer commits every transaction it journaled, right after handing
// over its records, so the wait is short.
func (w *writer) waitCommitted(seq uint64) {
	w.committedMu.Lock()
	for w.committedSeq < seq {
		w.committedC.Wait()
	}
	w.committedMu.Unlock()
}

// finish commits a segment and answers its ops. The journal records of
// its durable ops go to the syncer before the commit, so that the
// journal's append and sync run while Badger commits; those ops are
// answered once both are done. Other durable ops go to the syncer after
// the commit, for a Badger sync. A failed commit fails every op of the
// segment.
func (w *writer) finish(seg *segment) error {
	w.seq++
	seq := w.seq
	var jb *syncItem
	if w.journal != nil {
		n, size := 0, 0
		for _, o := range seg.ops {
			if o.err == nil && o.sync && o.journal != nil {
				n, size = n+1, size+len(o.journal)
			}
		}
		if n > 0 {
			jb = &syncItem{seq: seq, ops: make([]*op, 0, n), buf: make([]byte, 0, size)}
			for _, o := range seg.ops {
				if o.err == nil && o.sync && o.journal != nil {
					jb.ops = append(jb.ops, o)
					jb.buf = append(jb.buf, o.journal...)
				}
			}
			jb.left.Store(2)
			w.syncs <- jb
		}
	}
	err := seg.txn.Commit()
	w.committed(seq)
	if err != nil {
		err = store.Unavailable("committing to badger failed", err)
		// The indexes may now be ahead of the database; the store
		// rebuilds them before the next batch.
		if w.onFail != nil {
			w.onFail(err)
		}
		if jb != nil {
			// The records may be in the journal already: a restart must
			// not bring back what its callers were told failed.
			w.abort(jb)
			jb.commitErr = err
			jb.done()
		}
		for _, o := range seg.ops {
			if jb == nil || !(o.err == nil && o.sync && o.journal != nil) {
				o.done <- err
			}
		}
		return err
	}
	if seg.wrote {
		w.commits.Add(1)
	}
	var durable []*op
	for _, o := range seg.ops {
		if o.err == nil && o.sync {
			if jb == nil || o.journal == nil {
				durable = append(durable, o)
			}
			continue
		}
		o.done <- o.err
	}
	if jb != nil {
		jb.done()
	}
	if len(durable) > 0 {
		w.syncs <- &syncItem{ops: durable, badgerSync: true}
	}
	return nil
}

// abort appends, after jb's records, a record that tells a replay to
// skip them, and waits for it to be durable.
func (w *writer) abort(jb *syncItem) {
	var keys []journalEntry
	for _, o := range jb.ops {
		if recs, ok := decodeEntries(o.journal[8:]); ok && len(recs) > 0 {
			keys = append(keys, journalEntry{key: recs[0].key})
		}
	}
	it := &syncItem{buf: encodeJournal(append([]journalEntry{{key: []byte(abortKey)}}, keys...)), aborted: make(chan error, 1)}
	w.syncs <- it
	if err := <-it.aborted; err != nil {
		w.log.Error("cannot journal that a failed commit's records are void; a restart before the next checkpoint may restore them", zap.Error(err))
	}
}

// syncer makes durable what the writer hands it, with one journal write
// and one fdatasync for everything queued since the last one, however
// many transactions it came in: the group commit that makes durable
// intake fast. A new sync starts as soon as fewer than syncsInFlight
// run; under load, requests queue while they run and share the next
// one. Groups are answered in the order they were written. It also
// starts the journal's checkpoints.
func (w *writer) syncer() {
	defer close(w.syncerDone)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	// flights are answered in order by their own goroutine, so that a
	// slow sync does not hold up writing and syncing the next group.
	flights := make(chan *flight, syncsInFlight+1)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for f := range flights {
			<-f.done
			f.answer()
		}
	}()
	for {
		var group []*syncItem
		select {
		case it, ok := <-w.syncs:
			if !ok {
				close(flights)
				<-answered
				w.finalSync()
				return
			}
			group = append(group, it)
		case <-tick.C:
			w.maybeCheckpoint()
			continue
		}
	drain:
		for {
			select {
			case more, ok := <-w.syncs:
				if !ok {
					break drain
				}
				group = append(group, more)
			default:
				break drain
			}
		}
		flights <- w.startDurable(group)
		w.maybeCheckpoint()
	}
}

// flight is a group of sync items on its way to the disk.
type flight struct {
	group      []*syncItem
	jerr, berr error
	done       chan struct{} // closed once jerr and berr are set
}

// startDurable writes the group's journal records with one write and
// starts their fdatasync, and a Badger sync if an item waits for that
// (rare writes such as registrations), in a goroutine. It waits while
// syncsInFlight syncs run.
func (w *writer) startDurable(group []*syncItem) *flight {
	f := &flight{group: group, done: make(chan struct{})}
	var bufs [][]byte
	badgerSync := false
	for _, it := range group {
		if it.buf != nil {
			bufs = append(bufs, it.buf)
			w.segSeq = max(w.segSeq, it.seq)
		}
		badgerSync = badgerSync || it.badgerSync
	}
	var fd *os.File
	fds := w.journal.syncFDsOrNil()
	if len(bufs) > 0 {
		if err := w.journal.write(bufs); err != nil {
			f.jerr = fmt.Errorf("writing the intake journal: %w", err)
		} else if fd = w.journal.acquire(); fd == nil {
			f.jerr = fmt.Errorf("writing the intake journal: %w", os.ErrClosed)
		}
	}
	if fd == nil && !badgerSync {
		close(f.done)
		return f
	}
	go func() {
		defer close(f.done)
		if fd != nil {
			if err := fdatasync(fd); err != nil {
				f.jerr = fmt.Errorf("syncing the intake journal: %w", err)
			}
			fds <- fd
		}
		if badgerSync {
			if err := w.syncBadger(); err != nil {
				f.berr = fmt.Errorf("syncing badger: %w", err)
			}
		}
	}()
	return f
}

// answer answers the group's items once its syncs are done.
func (f *flight) answer() {
	for _, it := range f.group {
		switch {
		case it.aborted != nil:
			it.aborted <- f.jerr
		case it.badgerSync:
			for _, o := range it.ops {
				o.done <- f.berr
			}
		default:
			it.syncErr = f.jerr
			it.done()
		}
	}
}

// maybeCheckpoint starts a checkpoint when one is due and none is
// running: it rotates the journal and hands the closed segment to the
// checkpointer.
func (w *writer) maybeCheckpoint() {
	j := w.journal
	if j == nil || w.checkpointing.Load() || !j.due(w.now()) {
		return
	}
	name, err := j.rotate(w.now())
	if name != "" {
		w.checkpointing.Store(true)
		w.checkpoints <- checkpointReq{names: []string{name}, seq: w.segSeq} // never blocks: the checkpointer is idle
	}
	if err != nil {
		w.log.Error("cannot rotate the intake journal", zap.Error(err))
	}
}

// checkpointer syncs Badger's files and then removes the journal
// segments whose records they now hold. A failed checkpoint keeps its
// segments for the next one. Between checkpoints it starts the writeback
// of Badger's logs, so that neither a checkpoint nor Badger's own msync
// when it moves to a new value-log file finds seconds of dirty pages.
func (w *writer) checkpointer() {
	defer close(w.checkpointDone)
	tick := time.NewTicker(writebackEvery)
	defer tick.Stop()
	var wroteBack uint64
	for {
		select {
		case req, ok := <-w.checkpoints:
			if !ok {
				return
			}
			w.checkpoint(req)
		case <-tick.C:
			n := w.commits.Load()
			if w.journal == nil || n == wroteBack {
				continue
			}
			wroteBack = n
			if err := w.writeback(); err != nil {
				w.log.Warn("cannot start writing back badger's logs", zap.Error(err))
			}
		}
	}
}

func (w *writer) checkpoint(req checkpointReq) {
	defer w.checkpointing.Store(false)
	// Records are appended while their transaction commits: the segment
	// may hold records of a commit still under way, which the sync must
	// cover.
	w.waitCommitted(req.seq)
	w.unreleased = append(w.unreleased, req.names...)
	if err := w.syncBadger(); err != nil {
		w.log.Error("checkpoint: cannot sync badger; the journal keeps its segments", zap.Error(err))
	} else if err := removeSegments(w.unreleased); err != nil {
		w.log.Warn("checkpoint: cannot remove journal segments", zap.Error(err))
	} else {
		w.unreleased = w.unreleased[:0]
	}
}

// finalSync leaves a closed store with nothing in the journal. The writer
// has committed everything by then.
func (w *writer) finalSync() {
	close(w.checkpoints)
	<-w.checkpointDone
	if w.journal == nil {
		return
	}
	if err := w.syncBadger(); err != nil {
		w.log.Error("closing: cannot sync badger; the journal keeps its segments for the next open", zap.Error(err))
		return
	}
	if err := removeSegments(w.unreleased); err != nil {
		w.log.Warn("closing: cannot remove journal segments", zap.Error(err))
	}
	if err := w.journal.close(); err != nil {
		w.log.Warn("closing: cannot close the intake journal", zap.Error(err))
	}
}

// ttl turns an absolute expiry into the entry's TTL, or 0 for none.
func ttl(expires, now time.Time) time.Duration {
	if expires.IsZero() {
		return 0
	}
	if d := expires.Sub(now); d > time.Second {
		return d
	}
	return time.Second
}
