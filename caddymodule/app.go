// Package caddymodule registers agenthook's Caddy modules: the app
// `agenthook` (configured by the global option of the same name) and the
// HTTP handlers `agenthook`, `agenthook_status` and `agenthook_api`.
package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/runner"
	"github.com/agenthook/agenthook/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the agenthook app: the agents, the store, and the workers that
// run tasks and deliver callbacks. The store and the workers live in a
// runtime shared across config reloads (see runtime.go); an App is one
// config's view of them.
type App struct {
	// Storage says where state is kept: a module of the agenthook.storage
	// namespace, named by the "engine" key ({"engine": "badger", "dir":
	// …}, {"engine": "postgres", "dsn": …}; see storage.go). Default:
	// Badger under Caddy's data directory.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=agenthook.storage inline_key=engine"`

	// Workers is how many tasks run at once on this instance. Default 16.
	Workers int `json:"workers,omitempty"`

	// Retention is how long finished tasks and deliveries are kept.
	// Default 7 days.
	Retention caddy.Duration `json:"retention,omitempty"`

	// Queue tunes async tasks.
	Queue *QueueConfig `json:"queue,omitempty"`

	// Delivery tunes callbacks.
	Delivery *DeliveryConfig `json:"delivery,omitempty"`

	// GracePeriod is how long a shutdown waits for backend calls and
	// deliveries in flight. Default 10s.
	GracePeriod caddy.Duration `json:"grace_period,omitempty"`

	// LogTasks is "on" (the default) or "off". On, every finished task is
	// one info line on the agenthook.tasks logger; off, only failed ones
	// are, and successes go to debug level.
	LogTasks string `json:"log_tasks,omitempty"`

	// Agents are the named backends, keyed by name.
	Agents map[string]*AgentConfig `json:"agents,omitempty"`

	// Alerts is a callback that receives the operational events
	// (delivery.exhausted, callback.disabled, callback.recovered) of every
	// agent, signed like any delivery. They are also emitted as Caddy
	// events, for the events app's handlers.
	Alerts *CallbackConfig `json:"alerts,omitempty"`

	agents map[string]*handler.Agent
	// shapes holds the agents' and endpoints' expressions.
	shapes *exchange.Set
	alerts *delivery.Callback
	events *caddyevents.App
	ids    *identities   // endpoint names and principals of this config
	ctx    caddy.Context // to read the other apps' config at Start
	// started is closed once Start knows this server's own addresses,
	// which a callback URL is checked against.
	started chan struct{}
	rt      *runtime
	egress  *egress
	logger  *zap.Logger
	metrics *metrics
}

// QueueConfig tunes the task queue.
type QueueConfig struct {
	// MaxDepth sheds async requests with 503 once this many tasks wait.
	// Default 100000; -1 means no limit.
	MaxDepth int `json:"max_depth,omitempty"`
	// Attempts per task for retryable backend failures. Default 3.
	Attempts int `json:"attempts,omitempty"`
	// Backoff before the second attempt, doubling after. Default 1s.
	Backoff caddy.Duration `json:"backoff,omitempty"`
	// Timeout of one backend call. Default 2m.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Lease is how long a claimed task belongs to an instance. Default
	// timeout + 30s.
	Lease caddy.Duration `json:"lease,omitempty"`
	// MaxResult bounds the backend answer kept per task. Default 4 MiB.
	MaxResult int64 `json:"max_result,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook",
		New: func() caddy.Module { return new(App) },
	}
}

var agentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Provision loads the agents' reverse proxies and the storage engine, and
// joins (or makes) the shared runtime. It does not open the store: a
// config that is only validated must not take Badger's directory lock,
// which the running config holds.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.started = make(chan struct{})
	a.logger = ctx.Logger()
	a.ids = new(identities)
	m, err := registerMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	a.metrics = m
	if a.Queue == nil {
		a.Queue = new(QueueConfig)
	}
	if a.Delivery == nil {
		a.Delivery = new(DeliveryConfig)
	}
	if err := a.Delivery.provision(); err != nil {
		return err
	}
	a.egress = newEgress(a.Delivery.allowed)
	a.agents = make(map[string]*handler.Agent, len(a.Agents))
	a.shapes = exchange.NewSet()
	for _, name := range a.agentNames() {
		if !agentName.MatchString(name) {
			return fmt.Errorf("agent name %q: use letters, digits, '.', '_' and '-' (at most 64)", name)
		}
		ag, err := a.Agents[name].provision(ctx, name, a.egress, a.deliveryTimeout())
		if err != nil {
			return fmt.Errorf("agent %s: %w", name, err)
		}
		a.agents[name] = ag
		a.shapes.SetAgent(name, a.Agents[name].shaping)
	}
	if a.Alerts != nil {
		cb, err := a.Alerts.provision(caddy.NewReplacer(), "", 0, a.egress, a.deliveryTimeout())
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		a.alerts = cb
	}
	// Operational events go to the events app too, so that other modules
	// can act on them.
	eventsApp, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading the events app: %w", err)
	}
	a.events = eventsApp.(*caddyevents.App)
	engine, err := a.loadStorage(ctx)
	if err != nil {
		return err
	}
	rt, err := loadRuntime(engine, a.logger, a.metrics)
	if err != nil {
		return err
	}
	a.rt = rt
	return nil
}

// Validate checks settings that do not need provisioning.
func (a *App) Validate() error {
	if a.Workers < 0 {
		return fmt.Errorf("workers must be positive, got %d", a.Workers)
	}
	if a.Retention < 0 {
		return fmt.Errorf("retention must be positive")
	}
	if a.LogTasks != "" && a.LogTasks != "on" && a.LogTasks != "off" {
		return fmt.Errorf("log_tasks must be on or off, got %q", a.LogTasks)
	}
	return nil
}

// Start opens the store if no config did yet (a config whose store cannot
// be opened fails to load, saying why), hands this config's agents and
// settings to the runtime, and starts its workers if they are not running
// yet.
func (a *App) Start() error {
	if err := openStore(a.rt.store); err != nil {
		return err
	}
	// The http app is provisioned by now (never call ctx.App("http") in
	// Provision: the http app may be provisioning, and would be made
	// twice).
	a.egress.setSelf(buildSelf(a.ctx, a.logger))
	close(a.started)
	if err := a.checkStaticCallbacks(); err != nil {
		return err
	}
	if err := a.checkCallbackEndpoints(); err != nil {
		return err
	}
	a.metrics.knownAgents(a.agentNames())
	a.rt.attach(a)
	return nil
}

// Stop detaches this config. The workers keep running for the next
// config; they stop when the runtime is destroyed (Cleanup).
func (a *App) Stop() error {
	a.rt.detach(a)
	return nil
}

// Cleanup releases this config's hold on the runtime; the last one out
// stops the workers and closes the store.
func (a *App) Cleanup() error {
	if a.egress != nil {
		defer a.egress.close()
	}
	if a.rt == nil {
		return nil
	}
	_, err := runtimes.Delete(a.rt.key)
	return err
}

func (a *App) agentNames() []string {
	names := make([]string, 0, len(a.Agents))
	for name := range a.Agents {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// agent returns a provisioned agent.
func (a *App) agent(name string) (*handler.Agent, bool) {
	ag, ok := a.agents[name]
	return ag, ok
}

func (a *App) maxQueue() int {
	switch {
	case a.Queue.MaxDepth < 0:
		return 0
	case a.Queue.MaxDepth == 0:
		return DefaultMaxQueue
	}
	return a.Queue.MaxDepth
}

func (a *App) runnerConfig() runner.Config {
	return runner.Config{
		Workers:   a.Workers,
		Attempts:  a.Queue.Attempts,
		Backoff:   time.Duration(a.Queue.Backoff),
		Timeout:   time.Duration(a.Queue.Timeout),
		Lease:     time.Duration(a.Queue.Lease),
		MaxResult: a.Queue.MaxResult,
		Retention: time.Duration(a.Retention),

		QuietSuccess: a.LogTasks == "off",
		Shapes:       a.shapes,
	}.WithDefaults()
}

func (a *App) dispatcherConfig() delivery.Config {
	d := a.Delivery
	cfg := delivery.Config{
		Client:           a.egress.client,
		Workers:          d.Workers,
		Concurrency:      d.Concurrency,
		AgentWorkers:     d.AgentWorkers,
		Timeout:          time.Duration(d.Timeout),
		DisableAfter:     time.Duration(d.DisableAfter),
		BreakerThreshold: d.BreakerThreshold,
		BreakerCooldown:  time.Duration(d.BreakerCooldown),
		Retention:        time.Duration(a.Retention),
		ResponseExcerpt:  int(d.ResponseExcerpt),
	}
	if cfg.AgentWorkers == 0 && len(a.agents) > 1 {
		cfg.AgentWorkers = defaultAgentWorkers(d.Workers)
	}
	if d.RetrySchedule != nil {
		cfg.Schedule = make([]time.Duration, len(d.RetrySchedule))
		for i, s := range d.RetrySchedule {
			cfg.Schedule[i] = time.Duration(s)
		}
	}
	return cfg.WithDefaults()
}

// deliveryTimeout is the delivery block's timeout, which a callback's own
// may not pass: leases are made for it.
func (a *App) deliveryTimeout() time.Duration {
	if a.Delivery.Timeout > 0 {
		return time.Duration(a.Delivery.Timeout)
	}
	return delivery.DefaultTimeout
}

func (a *App) gracePeriod() time.Duration {
	if a.GracePeriod > 0 {
		return time.Duration(a.GracePeriod)
	}
	return DefaultGracePeriod
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

// checkURL checks a callback URL as the API registers it. Caddy starts
// apps in no set order, so a request may reach the API before this app's
// Start has learnt the server's own addresses; it waits for them (a
// moment, at most as long as the request may) rather than check without.
func (a *App) checkURL(ctx context.Context, raw string) error {
	select {
	case <-a.started:
	case <-ctx.Done():
		return fmt.Errorf("%w: the server is starting", store.ErrUnavailable)
	}
	return a.egress.checkURL(ctx, raw)
}
