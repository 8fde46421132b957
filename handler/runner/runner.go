// Package runner runs queued tasks against their agents' backends and
// records what came of them, together with the deliveries of their
// results.
package runner

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/internal/pool"
	"github.com/agenthook/agenthook/store"
)

// runnerStore is what the runner reads and writes.
type runnerStore interface {
	TaskWake() <-chan struct{}
	ClaimTasks(ctx context.Context, c store.Claim) ([]*store.Task, time.Time, error)
	GetChat(ctx context.Context, id string) (*store.Chat, error)
	RetryTask(ctx context.Context, id, owner string, runAfter time.Time, lastError string) error
	ReleaseTask(ctx context.Context, id, owner string) error
	FinishTask(ctx context.Context, f store.TaskFinish) error
	EnqueueDeliveries(ctx context.Context, ds []*store.Delivery) error
	History(ctx context.Context, k store.HistoryKey) ([]history.Turn, error)
	AppendHistory(ctx context.Context, a store.HistoryAppend) error
}

// Runner runs queued tasks against their agents' backends. One runner
// serves one store; it outlives config reloads, which swap its agents and
// config under it.
type Runner struct {
	Store runnerStore
	// Callbacks lists where a finished task's result goes.
	Callbacks delivery.Callbacks
	Logger    *zap.Logger
	Metrics   handler.Metrics
	Now       func() time.Time
	// ID names this instance in leases.
	ID string

	cfg    atomic.Pointer[Config]
	agents atomic.Pointer[map[string]*handler.Agent]
	claims atomic.Uint64
	jobs   pool.Pool
}

// Configure sets the config and agents; it is called before Start and at
// every reload.
func (r *Runner) Configure(cfg Config, agents map[string]*handler.Agent) {
	cfg = cfg.WithDefaults()
	r.cfg.Store(&cfg)
	r.agents.Store(&agents)
	r.jobs.Poke()
}

func (r *Runner) config() Config { return *r.cfg.Load() }

func (r *Runner) agentNames() []string {
	m := *r.agents.Load()
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	return names
}

// Start begins claiming tasks. It returns at once.
func (r *Runner) Start() {
	r.jobs.Start(pool.Loop{
		Wake:  r.Store.TaskWake(),
		Now:   r.Now,
		Size:  func() int { return r.config().Workers },
		Claim: r.claim,
		OnError: func(err error, failures int) {
			r.Logger.Warn("claiming tasks", handler.StoreErrField(err), zap.Int("failures", failures))
		},
	})
}

// Stop stops claiming, waits up to grace for the calls in flight, then
// abandons the rest: their tasks go back to the queue, to run again.
func (r *Runner) Stop(grace time.Duration) { r.jobs.Stop(grace) }

func (r *Runner) claim(ctx context.Context, free int) (bool, time.Time, error) {
	cfg := r.config()
	owner := fmt.Sprintf("%s/%d", r.ID, r.claims.Add(1))
	tasks, next, err := r.Store.ClaimTasks(ctx, store.Claim{Owner: owner, Agents: r.agentNames(), Limit: free, Lease: cfg.Lease})
	if err != nil {
		return false, time.Time{}, err
	}
	for _, t := range tasks {
		r.jobs.Spawn(func() { r.run(t, owner) })
	}
	return len(tasks) == free, next, nil
}
