// Package pgstore is agenthook's shared store: state in PostgreSQL, so
// that several Caddy instances serve the same chats, queue and outbox.
//
// It passes the conformance suite in store/storetest, like the embedded
// Badger engine, with these choices where instances share the database:
//
//   - Claims lock rows with FOR UPDATE SKIP LOCKED and hand out leases
//     (lease_owner, lease_until) that other instances respect; an expired
//     lease makes the work claimable by anyone.
//   - Only the head of a chat (its unfinished task with the lowest seq) is
//     claimable, and seqs come from one sequence. CreateTask takes a
//     per-chat advisory lock before it draws a seq, so the tasks of a chat
//     commit in seq order even when instances create them at once.
//   - CreateTask calls are group-committed: one goroutine writes the
//     requests that arrive while the previous batch commits, in one
//     transaction.
//   - Writes that make work claimable wake the local runners and, right
//     after their commit, NOTIFY agenthook_tasks or agenthook_deliveries
//     (notify.go says why not inside the transaction); every instance
//     LISTENs on a connection of its own and forwards to its wake channels.
//   - CreateTask, FinishTask and the configuration writes wait for their
//     commit to reach the disk; claims and the other bookkeeping writes
//     commit asynchronously, as the Badger engine writes them without an
//     fsync (async.go).
//   - Every time comparison uses the clock passed in Options.Now, sent as a
//     query parameter; the server's now() is never used for them.
//
// Errors caused by an unreachable database wrap store.ErrUnavailable.
package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// Options configure Open.
type Options struct {
	// DSN is a PostgreSQL connection string, URL or keyword/value form.
	DSN string

	// MaxConns bounds the connection pool; default 16. The listener uses
	// one more connection of its own.
	MaxConns int32

	// Now is the clock; default time.Now. Every due time, lease and expiry
	// is compared with it, never with the database server's clock.
	Now func() time.Time

	// Logger receives the engine's own messages: migrations and
	// reconnections at info, connection trouble at warn, sweeps at debug.
	// nil discards them.
	Logger *zap.Logger

	// SweepInterval is how often expired records are deleted; default one
	// minute. Negative disables the sweeper (not the repair of task heads,
	// which runs every few seconds).
	SweepInterval time.Duration

	// CountsTTL is how long TaskCounts may answer from its cache; default
	// one second, as the contract allows. Negative disables the cache.
	CountsTTL time.Duration

	// AnalyzeInterval is how often the store looks for tables that have
	// doubled since their last ANALYZE and analyzes them (plannerstats.go);
	// default one second. Negative disables it.
	AnalyzeInterval time.Duration
}

// connectTimeout bounds one connection attempt unless the DSN sets
// connect_timeout, so that calls fail fast while the database is down.
const connectTimeout = 2 * time.Second

// Store is the PostgreSQL engine. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	log  *zap.Logger

	taskWake  chan struct{}
	delivWake chan struct{}
	// Requests to the notifier goroutine, coalesced by a buffer of one.
	notifyTasks, notifyDeliv chan struct{}

	batch  *batcher
	counts countsCache
	// countQueries counts the task counts sent to the database, for tests.
	countQueries atomic.Int64
	// installation caches InstallationID.
	installation installationCache

	// ctx ends at Close; background goroutines watch it.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
	closed atomic.Bool
}

// Interface guard
var _ store.Store = (*Store)(nil)

// errClosed is returned by calls made after Close. It wraps
// store.ErrUnavailable: to a caller, a closed store is one it cannot reach.
var errClosed = store.Unavailable("the store is closed", nil)

// Open connects to the database, applies the migrations it lacks, and
// starts listening for other instances' notifications. ctx bounds only
// Open itself.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.DSN == "" {
		return nil, store.Invalid("the postgres store needs a DSN")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	if o.AnalyzeInterval == 0 {
		o.AnalyzeInterval = plannerStatsInterval
	}
	if o.CountsTTL == 0 {
		o.CountsTTL = time.Second
	}
	cfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		// pgx's message quotes the DSN, password and all (redaction is
		// best effort), so it is not passed on.
		return nil, errors.New("postgres store: the DSN cannot be parsed")
	}
	cfg.MaxConns = o.MaxConns
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	cc.DialFunc = dialer(cc.ConnectTimeout).DialContext
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "agenthook"
	}
	// Idle connections may be dead after the server restarted; pgxpool
	// pings only those idle over a second. For a while after an outage,
	// ping every connection handed out, so none of them fails a request.
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > time.Second || time.Since(time.Unix(0, lastOutage.Load())) < outagePingWindow
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, openErr("creating the connection pool", err)
	}
	applied, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, openErr("migrating the schema", err)
	}
	if len(applied) > 0 {
		o.Logger.Info("applied schema migrations", zap.Ints("versions", applied))
	}
	bgCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool:        pool,
		now:         o.Now,
		log:         o.Logger,
		taskWake:    make(chan struct{}, 1),
		delivWake:   make(chan struct{}, 1),
		notifyTasks: make(chan struct{}, 1),
		notifyDeliv: make(chan struct{}, 1),
		ctx:         bgCtx,
		cancel:      cancel,
	}
	s.counts.ttl = o.CountsTTL
	// The first LISTEN happens before Open returns, so a notification sent
	// by another instance right after cannot be missed.
	lconn, err := s.listenConn(ctx, cc)
	if err != nil {
		cancel()
		pool.Close()
		return nil, err
	}
	s.bg.Add(1)
	go s.listen(lconn, cc)
	// Work may be waiting from before; let the runners look.
	wake(s.taskWake)
	wake(s.delivWake)
	s.bg.Add(2)
	go s.notifyLoop()
	s.batch = newBatcher(s)
	go s.batch.run()
	// Tasks an older instance left without a head (see heal.go) are
	// marked now, then every headRepairInterval.
	repairAfter, _ := s.repairHeadsLogged(ctx, "")
	s.bg.Add(1)
	go s.maintenanceLoop(o.SweepInterval, repairAfter)
	if o.AnalyzeInterval > 0 {
		s.bg.Add(1)
		go s.plannerStatsLoop(o.AnalyzeInterval)
	}
	return s, nil
}

// Close stops the background goroutines, fails the CreateTask calls not
// yet written, and closes the pool. Leases held by this instance stay in
// the database and run out, so other instances take the work over.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.cancel()
	s.bg.Wait()
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool for maintenance tools and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// TaskWake implements store.Store.
func (s *Store) TaskWake() <-chan struct{} { return s.taskWake }

// DeliveryWake implements store.Store.
func (s *Store) DeliveryWake() <-chan struct{} { return s.delivWake }

// wake signals a runner without blocking; the buffer of one coalesces
// signals the runner has not read yet.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// clock returns the injected time, rounded down to the microsecond that
// PostgreSQL stores, so that values computed here compare equal to the
// ones read back.
func (s *Store) clock() time.Time { return s.now().Truncate(time.Microsecond) }

// live returns errClosed after Close.
func (s *Store) live() error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}
