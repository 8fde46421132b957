package caddymodule

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/store"
)

// lazyStore is the store a runtime hands to its handlers and workers. It
// opens the engine when the app starts, or on first use if a handler is
// called before that, whichever comes first, and keeps the outcome.
//
// Opening at provisioning would make `caddy validate` take Badger's
// directory lock, and fail while the same config runs. Opening at start
// alone would not do either: Caddy starts its apps in map order, so the
// HTTP app may serve requests before the agenthook app's Start has run. So
// provisioning builds this store, and whoever needs it first opens it; the
// others wait for that open, or give up with their context.
type lazyStore struct {
	open func(context.Context) (store.Store, error)

	start  sync.Once
	done   chan struct{} // closed once the open attempt is over
	s      store.Store   // set before done is closed
	err    error         // set before done is closed
	closed atomic.Bool
}

func newLazyStore(open func(context.Context) (store.Store, error)) *lazyStore {
	return &lazyStore{open: open, done: make(chan struct{})}
}

// lazyOpenTimeout bounds an open started by a request rather than by the
// app's Start; the engine's own bounds apply within it.
const lazyOpenTimeout = time.Minute

// errNotOpen answers calls made after Close.
var errNotOpen = store.Unavailable("the store is closed", nil)

// get opens the store if nobody has yet, and waits for the outcome or for
// ctx. The open itself does not depend on ctx: a request that gives up
// must not fail the open for everyone else.
func (l *lazyStore) get(ctx context.Context) (store.Store, error) {
	if l.closed.Load() {
		return nil, errNotOpen
	}
	l.start.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), lazyOpenTimeout)
			defer cancel()
			s, err := l.open(ctx)
			if err != nil {
				err = &store.Error{Op: "opening the store", Kind: store.ErrUnavailable, Detail: "it could not be opened", Err: err}
			}
			l.s, l.err = s, err
			close(l.done)
		}()
	})
	select {
	case <-l.done:
		if l.err != nil {
			return nil, l.err
		}
		if l.closed.Load() {
			return nil, errNotOpen
		}
		return l.s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openStore opens a runtime's store, if it is a lazyStore, and returns
// why it cannot be opened.
func openStore(s store.Store) error {
	if l, ok := s.(*lazyStore); ok {
		return l.openError()
	}
	return nil
}

// openError opens the store and returns the engine's own error if that
// fails, for the app's Start to report: a config whose storage cannot be
// opened must fail to load, saying why.
func (l *lazyStore) openError() error {
	if _, err := l.get(context.Background()); err != nil {
		if e, ok := err.(*store.Error); ok && e.Err != nil {
			return e.Err
		}
		return err
	}
	return nil
}

// Close closes the engine if it was opened, waiting for an open under way;
// a store never used is never opened.
func (l *lazyStore) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.start.Do(func() {
		l.err = errNotOpen
		close(l.done)
	})
	<-l.done
	if l.s != nil {
		return l.s.Close()
	}
	return nil
}

// wake returns a wake channel of the open store, or nil (which never
// receives) if it cannot be opened: the worker reading it then finds the
// store's error on its next claim.
func (l *lazyStore) wake(pick func(store.Store) <-chan struct{}) <-chan struct{} {
	s, err := l.get(context.Background())
	if err != nil {
		return nil
	}
	return pick(s)
}

// TaskWake implements store.Store.
func (l *lazyStore) TaskWake() <-chan struct{} {
	return l.wake(store.Store.TaskWake)
}

// DeliveryWake implements store.Store.
func (l *lazyStore) DeliveryWake() <-chan struct{} {
	return l.wake(store.Store.DeliveryWake)
}

// The store.Store methods: each one waits for the open, then passes on.

func (l *lazyStore) GetChat(ctx context.Context, id string) (*store.Chat, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetChat(ctx, id)
}

func (l *lazyStore) SaveChat(ctx context.Context, c *store.Chat) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.SaveChat(ctx, c)
}

func (l *lazyStore) History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.History(ctx, k)
}

func (l *lazyStore) AppendHistory(ctx context.Context, a store.HistoryAppend) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.AppendHistory(ctx, a)
}

func (l *lazyStore) CreateTask(ctx context.Context, n store.NewTask) (store.Created, error) {
	s, err := l.get(ctx)
	if err != nil {
		return store.Created{}, err
	}
	return s.CreateTask(ctx, n)
}

func (l *lazyStore) GetTask(ctx context.Context, id string) (*store.Task, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetTask(ctx, id)
}

func (l *lazyStore) ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	return s.ClaimTasks(ctx, c)
}

func (l *lazyStore) RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.RetryTask(ctx, id, owner, runAfter, lastError)
}

func (l *lazyStore) ReleaseTask(ctx context.Context, id, owner string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.ReleaseTask(ctx, id, owner)
}

func (l *lazyStore) FinishTask(ctx context.Context, f store.TaskFinish) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.FinishTask(ctx, f)
}

func (l *lazyStore) TaskCounts(ctx context.Context) (pending, started int, err error) {
	s, err := l.get(ctx)
	if err != nil {
		return 0, 0, err
	}
	return s.TaskCounts(ctx)
}

func (l *lazyStore) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]*store.Delivery, time.Time, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	return s.ClaimDeliveries(ctx, c)
}

func (l *lazyStore) RecordAttempt(ctx context.Context, o store.DeliveryOutcome) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.RecordAttempt(ctx, o)
}

func (l *lazyStore) ReleaseDelivery(ctx context.Context, id, owner string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.ReleaseDelivery(ctx, id, owner)
}

func (l *lazyStore) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetDelivery(ctx, id)
}

func (l *lazyStore) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListDeliveries(ctx, f)
}

func (l *lazyStore) EnqueueDeliveries(ctx context.Context, ds []*store.Delivery) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.EnqueueDeliveries(ctx, ds)
}

func (l *lazyStore) RetryDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.RetryDelivery(ctx, id)
}

func (l *lazyStore) RecoverDeliveries(ctx context.Context, f store.RecoverFilter) (int, error) {
	s, err := l.get(ctx)
	if err != nil {
		return 0, err
	}
	return s.RecoverDeliveries(ctx, f)
}

func (l *lazyStore) DeliveryCounts(ctx context.Context) (pending, failed int, err error) {
	s, err := l.get(ctx)
	if err != nil {
		return 0, 0, err
	}
	return s.DeliveryCounts(ctx)
}

func (l *lazyStore) CreateRegistration(ctx context.Context, r *store.Registration, limit int) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.CreateRegistration(ctx, r, limit)
}

func (l *lazyStore) InstallationID(ctx context.Context) (string, error) {
	s, err := l.get(ctx)
	if err != nil {
		return "", err
	}
	return s.InstallationID(ctx)
}

func (l *lazyStore) GetRegistration(ctx context.Context, id string) (*store.Registration, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetRegistration(ctx, id)
}

func (l *lazyStore) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListRegistrations(ctx, agent)
}

func (l *lazyStore) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.UpdateRegistration(ctx, r)
}

func (l *lazyStore) DeleteRegistration(ctx context.Context, id string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.DeleteRegistration(ctx, id)
}

func (l *lazyStore) ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListCallbackStates(ctx)
}

func (l *lazyStore) SaveCallbackState(ctx context.Context, cs *store.CallbackState) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.SaveCallbackState(ctx, cs)
}

func (l *lazyStore) DeleteCallbackState(ctx context.Context, id string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.DeleteCallbackState(ctx, id)
}

func (l *lazyStore) Remember(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s, err := l.get(ctx)
	if err != nil {
		return false, err
	}
	return s.Remember(ctx, key, ttl)
}

func (l *lazyStore) Forget(ctx context.Context, key string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.Forget(ctx, key)
}

// Interface guard
var _ store.Store = (*lazyStore)(nil)

func (l *lazyStore) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListTasks(ctx, f)
}

func (l *lazyStore) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.CreateAPIKey(ctx, k)
}

func (l *lazyStore) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListAPIKeys(ctx)
}

func (l *lazyStore) DeleteAPIKey(ctx context.Context, id string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.DeleteAPIKey(ctx, id)
}
