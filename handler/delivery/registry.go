package delivery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// registryStore is what the registry reads from the store.
type registryStore interface {
	ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error)
	GetRegistration(ctx context.Context, id string) (*store.Registration, error)
	ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error)
}

// ErrCallbackGone means a delivery's callback was deleted or removed from
// the config.
var ErrCallbackGone = errors.New("the callback no longer exists")

// Registry knows every callback: the config's static ones and the
// store's registrations, with a short-lived cache, since a task's fan-out
// must not read every registration from the store.
type Registry struct {
	Store registryStore
	// Refresh bounds how stale the cache may be when another instance
	// changed a registration. Changes made through this instance are seen
	// at once.
	Refresh time.Duration
	Now     func() time.Time
	// Logger, if set, is told of filters that fail on an event.
	Logger *zap.Logger

	static atomic.Pointer[Static]
	alerts atomic.Pointer[[]*Callback]

	mu       sync.Mutex
	loadedAt time.Time
	regs     map[string][]*Callback // agent -> active registrations
	byID     map[string]*Callback   // every registration, by id
	states   map[string]*store.CallbackState
}

// Configure sets the config's static callbacks; it is called before the
// workers start and at every reload.
func (g *Registry) Configure(static Static) { g.static.Store(&static) }

// ConfigureAlerts sets the config's alerts callbacks, which receive the
// operational events of every agent; it is called with Configure.
func (g *Registry) ConfigureAlerts(alerts []*Callback) { g.alerts.Store(&alerts) }

func (g *Registry) alertsList() []*Callback {
	if a := g.alerts.Load(); a != nil {
		return *a
	}
	return nil
}

// staticOf returns the static callbacks of an agent.
func (g *Registry) staticOf(agent string) []*Callback {
	if s := g.static.Load(); s != nil {
		return (*s)[agent]
	}
	return nil
}

// Invalidate drops the cache, after a change made through this instance.
func (g *Registry) Invalidate() {
	g.mu.Lock()
	g.loadedAt = time.Time{}
	g.mu.Unlock()
}

// load refreshes the cache if it is stale and returns it.
func (g *Registry) load(ctx context.Context) (map[string][]*Callback, map[string]*Callback, map[string]*store.CallbackState, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	refresh := g.Refresh
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	now := g.Now()
	if !g.loadedAt.IsZero() && now.Sub(g.loadedAt) < refresh {
		return g.regs, g.byID, g.states, nil
	}
	list, err := g.Store.ListRegistrations(ctx, "")
	if err != nil {
		return nil, nil, nil, err
	}
	states, err := g.Store.ListCallbackStates(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	regs := make(map[string][]*Callback)
	byID := make(map[string]*Callback, len(list))
	for _, r := range list {
		cb, err := CallbackOf(r, g.byID[r.ID], now)
		if err != nil {
			// A corrupt secret or filter; the API refuses to store those.
			if g.Logger != nil {
				g.Logger.Error("registration unusable", zap.String("callback", r.ID), zap.String("agent", r.Agent), zap.Error(err))
			}
			continue
		}
		byID[r.ID] = cb
		if r.Status == StatusActive {
			regs[r.Agent] = append(regs[r.Agent], cb)
		}
	}
	g.states = make(map[string]*store.CallbackState, len(states))
	for _, s := range states {
		g.states[s.ID] = s
	}
	g.regs, g.byID, g.loadedAt = regs, byID, now
	return g.regs, g.byID, g.states, nil
}

// Active implements Callbacks: the agent's static callbacks that
// agenthook has not disabled, then its active registrations.
func (g *Registry) Active(ctx context.Context, agent string) ([]*Callback, error) {
	regs, _, states, err := g.load(ctx)
	if err != nil {
		return nil, err
	}
	static := g.staticOf(agent)
	out := make([]*Callback, 0, len(static)+len(regs[agent]))
	for _, cb := range static {
		if st := states[cb.ID]; st != nil && st.Disabled {
			continue
		}
		out = append(out, cb)
	}
	return append(out, regs[agent]...), nil
}

// Lookup resolves a delivery's callback id at send time, so that a
// registration changed or deleted since is honoured. It returns
// ErrCallbackGone for a callback that no longer exists, and the callback
// with Usable false when it is inactive or disabled.
func (g *Registry) Lookup(ctx context.Context, agent, id string) (*Callback, error) {
	_, byID, states, err := g.load(ctx)
	if err != nil {
		return nil, err
	}
	static := g.staticOf(agent)
	if IsAlertsID(id) {
		// Alerts callbacks serve every agent; their deliveries carry the
		// agent the event is about.
		static = g.alertsList()
	}
	for _, cb := range static {
		if cb.ID == id {
			if st := states[id]; st != nil && st.Disabled {
				return cb.withStatus(StatusDisabled, st.Reason), nil
			}
			return cb, nil
		}
	}
	if cb := byID[id]; cb != nil && cb.Agent == agent {
		return cb, nil
	}
	// A registration created on another instance a moment ago.
	r, err := g.Store.GetRegistration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrCallbackGone
	}
	if err != nil {
		return nil, err
	}
	if r.Agent != agent {
		return nil, ErrCallbackGone
	}
	return CallbackOf(r, nil, g.Now())
}

// Subscribers returns the usable callbacks that receive an operational
// event of agent: the agent's callbacks subscribed to its type, except the
// callback the event is about (a dead receiver would be told of its own
// deaths, each telling failing in turn), and the alerts callbacks.
func (g *Registry) Subscribers(ctx context.Context, agent, typ, about string) ([]*Callback, error) {
	list, err := g.Active(ctx, agent)
	if err != nil {
		return nil, err
	}
	_, _, states, err := g.load(ctx)
	if err != nil {
		return nil, err
	}
	for _, cb := range g.alertsList() {
		if st := states[cb.ID]; st == nil || !st.Disabled {
			list = append(list, cb)
		}
	}
	out := list[:0:0]
	for _, cb := range list {
		if cb.ID != about && cb.Subscribes(typ) {
			out = append(out, cb)
		}
	}
	return out, nil
}

// FilterFailed implements filterReporter: the event is not sent to the
// callback, and the operator learns why.
func (g *Registry) FilterFailed(cb *Callback, typ string, err error) {
	if g.Logger != nil {
		g.Logger.Warn("callback filter failed; the event is not sent to it", zap.String("callback", cb.ID),
			zap.String("agent", cb.Agent), zap.String("event_type", typ), zap.Error(err))
	}
}

// PayloadFailed implements payloadReporter: the event is not sent to the
// callback, and the operator learns why (never the body: the error's
// message is the expression's, masked).
func (g *Registry) PayloadFailed(cb *Callback, typ string, err error) {
	if g.Logger != nil {
		g.Logger.Warn("callback payload expression failed; the event is not sent to it", zap.String("callback", cb.ID),
			zap.String("agent", cb.Agent), zap.String("event_type", typ), zap.Error(err))
	}
}

// State returns the stored health of a callback, or nil.
func (g *Registry) State(ctx context.Context, id string) (*store.CallbackState, error) {
	_, _, states, err := g.load(ctx)
	if err != nil {
		return nil, err
	}
	return states[id], nil
}

// Interface guards
var (
	_ Callbacks      = (*Registry)(nil)
	_ filterReporter = (*Registry)(nil)
)
