// Package store defines what agenthook persists and the guarantees each
// engine gives: chats, tasks and their queue, deliveries and their outbox,
// callback registrations, idempotency keys and replay keys.
//
// Three engines implement it: store/badgerstore (embedded, the default),
// store/pgstore (shared by several Caddy instances) and store/memstore (in
// memory: the reference to read before writing an engine, and the fake for
// unit tests). All pass the same conformance suite in store/storetest, so
// callers never depend on which one is underneath.
//
// The contract is written from the caller's side:
//
//   - Every write that returns nil is durable against a crash of the process.
//     CreateTask and FinishTask are also fsync'd before they return, because
//     they stand behind a 202 answer and a final status respectively.
//   - Claims hand out time-limited leases. A lease that runs out makes the
//     work claimable again; the old holder then gets ErrLeaseLost when it
//     tries to finish, so nothing is recorded twice.
//   - Within one chat, tasks are claimable strictly one at a time in the
//     order they were created. The same holds for deliveries that share an
//     OrderKey.
//   - Every operation is atomic: it writes all it should or, when it
//     returns an error, nothing at all, also when the engine shares one
//     transaction between concurrent operations (group commit).
//   - No record is bigger than MaxRecordBytes; a write that would store one
//     fails with ErrTooLarge before anything is written.
//   - Errors are safe to print and to log: they never quote a key, a
//     secret or the bytes of a record (see Error).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every engine. Callers compare with errors.Is.
var (
	// ErrNotFound means the record does not exist or has expired.
	ErrNotFound = errors.New("not found")

	// ErrIdempotencyMismatch means an Idempotency-Key was reused with a
	// different request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

	// ErrLeaseLost means the caller no longer holds the lease on a task or
	// delivery: it expired and someone else claimed it, or it was released.
	ErrLeaseLost = errors.New("lease lost")

	// ErrUnavailable wraps failures of the engine itself (a database that
	// cannot be reached). Handlers turn it into 503 so callers retry.
	ErrUnavailable = errors.New("store unavailable")

	// ErrInvalid wraps input that breaks the contract: a record without
	// its id, an unknown status, an id already used. Nothing was written.
	ErrInvalid = errors.New("invalid input")

	// ErrTooLarge wraps a write refused because a record would be over
	// MaxRecordBytes (or over a limit of the engine itself, such as the
	// length of a key). Nothing was written.
	ErrTooLarge = errors.New("record too large")

	// ErrInternal wraps a failure of the engine that fits no other
	// category, such as a record it cannot decode.
	ErrInternal = errors.New("internal storage error")

	// ErrLimitReached means a write was refused because it would go over
	// a limit the caller set, such as the registrations of one agent.
	// Nothing was written.
	ErrLimitReached = errors.New("limit reached")
)

// MaxRecordBytes bounds any one record an engine stores, as counted by the
// RecordBytes methods: a task with its request and result, a delivery with
// its payload and attempt log, a chat, a registration, a callback state.
//
// Every engine honours the same limit and checks it before it writes: an
// operation that would store a bigger record fails with ErrTooLarge and
// writes nothing. So a caller that checks first (a runner finishing an
// over-size result as a failure, see TaskFinish.RecordBytes) gets the same
// answer from every engine. 8 MiB leaves room, under the smallest limit
// of an engine (a Badger value-log file, 16 MiB), for the fields that are
// not counted and for the engine's own encoding.
const MaxRecordBytes = 8 << 20

// Store is the whole persistence contract.
type Store interface {
	Chats
	ChatHistories
	Tasks
	Deliveries
	Registrations
	CallbackStates
	ReplayGuard
	Installation
	APIKeys

	// TaskWake and DeliveryWake receive a value when new work may have
	// become claimable, so that runners need not poll. Each channel has
	// one reader (the runner of that kind of work) and a buffer of one.
	TaskWake() <-chan struct{}
	DeliveryWake() <-chan struct{}

	// Close releases the engine. It is called once, when the last Caddy
	// config that uses it is unloaded.
	Close() error
}

// Chats maps agenthook chat ids to backend conversations.
type Chats interface {
	// GetChat returns ErrNotFound for an unknown or expired id.
	GetChat(ctx context.Context, id string) (*Chat, error)

	// SaveChat creates or replaces a chat. ExpiresAt must be set; the chat
	// disappears after it.
	SaveChat(ctx context.Context, c *Chat) error
}

// Tasks is the durable queue of asynchronous agent calls.
type Tasks interface {
	// CreateTask stores a new PENDING task, durably (fsync'd), together with
	// n.Chat (created or replaced) and n.Idempotency in one transaction.
	//
	// If n.Idempotency names a key that is already stored and not expired,
	// no task is created: with the same Fingerprint the first task is
	// returned with Replayed set; with a different one the error is
	// ErrIdempotencyMismatch.
	//
	// The engine assigns Task.Seq, which orders the tasks of one chat.
	CreateTask(ctx context.Context, n NewTask) (Created, error)

	// GetTask returns a task with its request and result, or ErrNotFound.
	GetTask(ctx context.Context, id string) (*Task, error)

	// ClaimTasks leases up to c.Limit claimable tasks to c.Owner for
	// c.Lease and returns them STARTED, with Attempts incremented.
	//
	// A task is claimable when it is PENDING (or STARTED with an expired
	// lease), its RunAfter has passed, its agent is in c.Agents (nil means
	// any), and no task created before it in the same chat is unfinished.
	//
	// next is the earliest time at which a task not returned now may become
	// claimable through the passage of time alone (zero if unknown or none),
	// so a runner can sleep until then.
	ClaimTasks(ctx context.Context, c Claim) (tasks []*Task, next time.Time, err error)

	// RetryTask puts a STARTED task held by owner back to PENDING, to run
	// again after runAfter. lastError is kept for the status endpoint.
	RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error

	// ReleaseTask puts a STARTED task held by owner back to PENDING at once
	// without counting the attempt, for a graceful shutdown.
	ReleaseTask(ctx context.Context, id, owner string) error

	// FinishTask records a final status (SUCCESS or FAILURE), updates the
	// chat's conversation id, and inserts the task's deliveries, in one
	// fsync'd transaction, so there is never a final status without its
	// deliveries. It returns ErrLeaseLost if owner no longer holds the task.
	FinishTask(ctx context.Context, f TaskFinish) error

	// ListTasks returns the tasks f selects, newest first by (CreatedAt,
	// ID), at most f.Limit of them, without request bodies and result
	// bodies (Result keeps its status and content type).
	ListTasks(ctx context.Context, f TaskFilter) ([]*Task, error)

	// TaskCounts returns how many tasks are waiting (PENDING) and running
	// (STARTED). Engines may answer from a cache up to a second old.
	TaskCounts(ctx context.Context) (pending, started int, err error)
}

// Deliveries is the outbox of callback deliveries.
type Deliveries interface {
	// ClaimDeliveries leases up to c.Limit due pending deliveries, and at
	// most c.PerCallback (if positive) of one callback. A delivery is due
	// when NextAttemptAt has passed, its callback is not in c.Skip, and,
	// when OrderKey is set, every delivery created before it with the same
	// OrderKey is delivered or failed.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) (ds []*Delivery, next time.Time, err error)

	// RecordAttempt appends an attempt to a leased delivery and moves it to
	// o.Status: delivered, failed (dead-lettered), or pending again at
	// o.NextAttemptAt. It returns ErrLeaseLost if owner no longer holds it.
	RecordAttempt(ctx context.Context, o DeliveryOutcome) error

	// EnqueueDeliveries queues new pending deliveries outside a task's
	// finish: those of the events that do not end a task (task.started,
	// and the operational events such as delivery.exhausted). A delivery
	// whose id is already stored is left as it is, and that is not an
	// error: an event emitted twice (a task claimed again after a crash)
	// is queued once. The others are stored all together or not at all,
	// and OrderKey orders them after every delivery stored before.
	EnqueueDeliveries(ctx context.Context, ds []*Delivery) error

	// ReleaseDelivery gives a leased delivery back without an attempt.
	ReleaseDelivery(ctx context.Context, id, owner string) error

	// GetDelivery returns one delivery with its attempts and payload.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)

	// ListDeliveries returns the deliveries of one agent that f selects,
	// newest first by (f.ListTime, ID), at most f.Limit of them, without
	// payloads.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)

	// RetryDelivery makes a delivered or failed delivery pending again, due
	// now, and sets its RequeuedAt. A pending one is returned unchanged.
	RetryDelivery(ctx context.Context, id string) (*Delivery, error)

	// RecoverDeliveries makes every failed delivery that f selects pending
	// again, due now (as RetryDelivery does), and returns how many; with
	// f.DryRun it only counts them. Deliveries that fail while it runs
	// are not taken.
	RecoverDeliveries(ctx context.Context, f RecoverFilter) (int, error)

	// DeliveryCounts returns the pending and dead-lettered (failed) counts.
	DeliveryCounts(ctx context.Context) (pending, failed int, err error)
}

// Registrations holds callback URLs registered through the management API.
type Registrations interface {
	// CreateRegistration stores a new registration. With limit > 0, it
	// fails with ErrLimitReached, writing nothing, when r's agent already
	// has limit registrations; the count and the insert are one atomic
	// step, also between instances sharing the store.
	CreateRegistration(ctx context.Context, r *Registration, limit int) error
	GetRegistration(ctx context.Context, id string) (*Registration, error)
	// ListRegistrations returns an agent's registrations, oldest first.
	// An empty agent lists every registration.
	ListRegistrations(ctx context.Context, agent string) ([]*Registration, error)
	// UpdateRegistration replaces a registration; ErrNotFound if absent.
	UpdateRegistration(ctx context.Context, r *Registration) error
	DeleteRegistration(ctx context.Context, id string) error
}

// CallbackStates keeps the health of callbacks (static and registered)
// across restarts and instances: since when one has been failing, and
// whether agenthook disabled it.
type CallbackStates interface {
	// ListCallbackStates returns every stored state.
	ListCallbackStates(ctx context.Context) ([]*CallbackState, error)
	// SaveCallbackState creates or replaces a state.
	SaveCallbackState(ctx context.Context, s *CallbackState) error
	// DeleteCallbackState drops a state (a healthy callback needs none).
	// Unknown ids are fine.
	DeleteCallbackState(ctx context.Context, id string) error
}

// Installation names the installation: every instance sharing a store
// shares the name.
type Installation interface {
	// InstallationID returns a random id made the first time it was asked
	// for and the same ever after, on every instance sharing the store.
	// It is not a secret: deliveries carry it, so that an installation
	// recognises its own deliveries coming back to it.
	InstallationID(ctx context.Context) (string, error)
}

// ReplayGuard remembers message ids (such as Standard Webhooks'
// webhook-id) so that a captured request cannot be replayed.
type ReplayGuard interface {
	// Remember stores key until ttl passes. fresh is false if the key was
	// already stored and has not expired.
	Remember(ctx context.Context, key string, ttl time.Duration) (fresh bool, err error)

	// Forget drops a key, so that a message whose processing failed can be
	// sent again (senders retry with the same id). Unknown keys are fine.
	Forget(ctx context.Context, key string) error
}
