package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/runner"
	"github.com/agenthook/agenthook/store"
)

// runtimes holds one runtime per storage location. Caddy provisions a new
// config before it stops the old one, so both hold a reference during a
// reload and the store is never closed and reopened: Badger's directory
// lock would refuse the second open, and the queue would stall.
var runtimes = caddy.NewUsagePool()

// runtime is what outlives config reloads: the store and its workers.
type runtime struct {
	key        string
	store      store.Store
	registry   *delivery.Registry
	runner     *runner.Runner
	dispatcher *delivery.Dispatcher
	logger     *zap.Logger
	metrics    *metrics

	// stopSampler ends the queue-depth sampler, a read in flight
	// included; samplerDone is closed when it has.
	stopSampler context.CancelFunc
	samplerDone chan struct{}

	mu       sync.Mutex
	attached []*App // configs started and not yet stopped, oldest first
	started  bool
	grace    time.Duration // of the config last in charge
}

// loadRuntime joins the runtime of engine's location, or makes it. The
// store is not opened here but when a config using it starts, or on first
// use (see lazystore.go), so that validating a config never needs it.
func loadRuntime(engine StorageEngine, logger *zap.Logger, m *metrics) (*runtime, error) {
	key, err := engine.StorageKey()
	if err != nil {
		return nil, err
	}
	v, _, err := runtimes.LoadOrNew(key, func() (caddy.Destructor, error) {
		s := newLazyStore(func(ctx context.Context) (store.Store, error) { return engine.OpenStore(ctx, logger) })
		return newRuntime(key, s, logger, m), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*runtime), nil
}

func newRuntime(key string, s store.Store, logger *zap.Logger, m *metrics) *runtime {
	id := instanceID()
	rt := &runtime{key: key, store: s, logger: logger, metrics: m}
	rt.registry = &delivery.Registry{Store: s, Now: nowFunc, Logger: logger.Named("deliveries")}
	rt.runner = &runner.Runner{
		Store:     s,
		Callbacks: rt.registry,
		Logger:    logger.Named("tasks"),
		Metrics:   m,
		Now:       nowFunc,
		ID:        id,
	}
	rt.dispatcher = &delivery.Dispatcher{
		Store:    s,
		Registry: rt.registry,
		Logger:   logger.Named("deliveries"),
		Metrics:  m,
		Now:      nowFunc,
		ID:       id,
		Observer: rt,
	}
	return rt
}

// attach makes a started config the current one: its agents and settings
// take effect for the workers.
func (rt *runtime) attach(a *App) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.attached = append(rt.attached, a)
	rt.configure(a)
	if !rt.started {
		rt.started = true
		rt.runner.Start()
		rt.dispatcher.Start()
		ctx, cancel := context.WithCancel(context.Background())
		rt.stopSampler, rt.samplerDone = cancel, make(chan struct{})
		go rt.sampleQueue(ctx, rt.samplerDone)
	}
}

// queueSampleEvery is how often the queue depth is read for the
// dashboard's chart (one point a minute; twice so no minute is missed).
const queueSampleEvery = 30 * time.Second

// sampleQueue reads the queue depth into the dashboard's stats until ctx
// ends. The management API samples it too when asked, but a chart
// made only of the minutes someone was looking would have gaps exactly
// where a backlog built up unwatched.
func (rt *runtime) sampleQueue(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(queueSampleEvery)
	defer t.Stop()
	for {
		rt.sampleQueueOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (rt *runtime) sampleQueueOnce(ctx context.Context) {
	if rt.metrics != nil && rt.metrics.stats != nil {
		rt.metrics.stats.ReadQueue(ctx, rt.store.TaskCounts, rt.logger)
	}
}

// detach drops a stopped config. If it was current, the config started
// before it takes over again: that happens when a new config fails to
// start and Caddy keeps the old one.
func (rt *runtime) detach(a *App) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, x := range rt.attached {
		if x == a {
			rt.attached = append(rt.attached[:i], rt.attached[i+1:]...)
			break
		}
	}
	if n := len(rt.attached); n > 0 {
		rt.configure(rt.attached[n-1])
	}
}

func (rt *runtime) configure(a *App) {
	rt.grace = a.gracePeriod()
	rt.registry.Configure(a.staticCallbacks())
	var alerts []*delivery.Callback
	if a.alerts != nil {
		alerts = []*delivery.Callback{a.alerts}
	}
	rt.registry.ConfigureAlerts(alerts)
	rt.runner.Configure(a.runnerConfig(), a.agents)
	rt.dispatcher.Configure(a.dispatcherConfig())
}

// Destruct stops the workers, waiting a bounded time for calls in flight,
// and closes the store. The pool calls it when the last config using this
// storage is unloaded.
func (rt *runtime) Destruct() error {
	rt.mu.Lock()
	grace := rt.grace
	stop, done := rt.stopSampler, rt.samplerDone
	rt.stopSampler = nil
	rt.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	// Tasks first: finishing one queues deliveries. One grace period in
	// all, so a stop ends within it (plus the bounded time abandoned work
	// takes to give itself back) even when the store is unreachable.
	start := time.Now()
	rt.runner.Stop(grace)
	rt.dispatcher.Stop(max(grace-time.Since(start), 0))
	rt.logger.Info("closing store", zap.String("key", rt.key))
	if err := rt.store.Close(); err != nil {
		// Caddy logs what Destruct returns: the category only.
		return fmt.Errorf("closing the agenthook store: %s", handler.StoreErrCategory(err))
	}
	return nil
}

// instanceID names this process in task leases.
func instanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Interface guard
var _ caddy.Destructor = (*runtime)(nil)

// current returns the config in charge, or nil.
func (rt *runtime) current() *App {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if n := len(rt.attached); n > 0 {
		return rt.attached[n-1]
	}
	return nil
}
