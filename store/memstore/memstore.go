// Package memstore is agenthook's in-memory store: every record in Go
// maps, behind one mutex, gone when the process ends.
//
// It has two jobs. It is the reference engine: someone writing an engine
// for another database reads this package first, because each guarantee of
// the store.Store contract is implemented here in the plainest way there
// is, with a comment saying which guarantee it is. And it is the fast fake
// for unit tests of the packages above the store.
//
// It passes the whole conformance suite in store/storetest, like the
// Badger and PostgreSQL engines. What it does not give is durability:
// "durable" in the contract means "in this process's memory" here, so it
// is not offered as a Caddy storage engine.
//
// The guarantees, and where they live:
//
//   - Atomic operations: every method takes the one mutex, checks
//     everything that can fail, and only then writes (see FinishTask). A
//     failed call leaves nothing behind.
//   - Record sizes: the same checks include store.MaxRecordBytes, counted
//     by the records' RecordBytes methods, before anything is written.
//   - Per-chat order: claimTasks hands out only the head of a chat, the
//     unfinished task with the lowest Seq; Seq grows with every write.
//   - Leases: a claim sets LeaseOwner and LeaseUntil. A lease that ran out
//     makes the work claimable again; its old holder keeps it until
//     someone else claims it, and then gets store.ErrLeaseLost.
//   - Idempotency: CreateTask looks the key up before it writes anything.
//   - Ordered deliveries: claimDeliveries hands out only the head of an
//     OrderKey, as claimTasks does for chats.
//   - Expiry: records with an ExpiresAt in the past are invisible, and
//     dropped when an operation finds them.
//   - Wake channels: every write that can make work claimable now signals
//     TaskWake or DeliveryWake, after the mutex is released.
package memstore

import (
	"sync"
	"time"

	"github.com/agenthook/agenthook/store"
)

// Options configure New.
type Options struct {
	// Now is the clock; default time.Now. The store reads the time only
	// through it, so tests move time without sleeping.
	Now func() time.Time
}

// Store is the in-memory engine. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	// mu guards everything below. One lock for the whole store is what
	// makes every operation atomic and every claim exclusive without
	// further thought; a claim scans the unfinished work, which is cheap
	// at the sizes a test or a demo holds.
	mu     sync.Mutex
	closed bool
	seq    int64 // the last Seq handed out, for tasks and deliveries alike

	chats      map[string]*store.Chat
	histories  map[string]*memHistory
	tasks      map[string]*store.Task // with request body until final, and result
	idem       map[string]idemRecord
	deliveries map[string]*store.Delivery // with payload and attempts
	regs       map[string]*store.Registration
	states     map[string]*store.CallbackState
	replay     map[string]time.Time // key -> expiry
	apiKeys    map[string]*store.APIKey
	// installation is the store's installation id, made on first use.
	installation string

	taskWake  chan struct{}
	delivWake chan struct{}
}

// idemRecord is what an Idempotency-Key remembers: the fingerprint of the
// first request and the task it created.
type idemRecord struct {
	fingerprint string
	taskID      string
	chatID      string
	expiresAt   time.Time
}

// Interface guard
var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{
		now:        o.Now,
		chats:      make(map[string]*store.Chat),
		histories:  make(map[string]*memHistory),
		tasks:      make(map[string]*store.Task),
		idem:       make(map[string]idemRecord),
		deliveries: make(map[string]*store.Delivery),
		regs:       make(map[string]*store.Registration),
		states:     make(map[string]*store.CallbackState),
		replay:     make(map[string]time.Time),
		apiKeys:    make(map[string]*store.APIKey),
		// A buffer of one: a signal nobody has read yet already says
		// "look again", so more of them would say nothing new.
		taskWake:  make(chan struct{}, 1),
		delivWake: make(chan struct{}, 1),
	}
}

// errClosed answers calls made after Close. It wraps ErrUnavailable: to a
// caller, a closed store is one it cannot reach.
var errClosed = store.Unavailable("the store is closed", nil)

// invalid reports input that breaks the contract. Like every error of
// this package, its text is fixed: it never quotes the caller's values.
func invalid(what string) error { return store.Invalid(what) }

// lock takes the mutex, or fails after Close. Callers defer s.mu.Unlock
// only when lock returned nil.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// nextSeq returns a number above every one handed out before. Tasks and
// deliveries share the counter; only the order matters. Callers hold mu.
func (s *Store) nextSeq() int64 {
	s.seq++
	return s.seq
}

// TaskWake implements store.Store.
func (s *Store) TaskWake() <-chan struct{} { return s.taskWake }

// DeliveryWake implements store.Store.
func (s *Store) DeliveryWake() <-chan struct{} { return s.delivWake }

// wake signals a runner without blocking. It is called after the mutex is
// released, so that the runner it wakes finds the change committed.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Close drops every record. Calls made after it fail with an error that
// wraps store.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.chats, s.tasks, s.idem, s.deliveries = nil, nil, nil, nil
	s.regs, s.states, s.replay, s.apiKeys = nil, nil, nil, nil
	return nil
}

// expired reports whether a record with this expiry is gone at now. A
// zero expiry never passes.
func expired(exp, now time.Time) bool { return !exp.IsZero() && !exp.After(now) }
