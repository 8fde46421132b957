package delivery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agenthook/agenthook/signing"
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

	static atomic.Pointer[Static]

	mu       sync.Mutex
	loadedAt time.Time
	regs     map[string][]*Callback // agent -> active registrations
	byID     map[string]*Callback   // every registration, by id
	states   map[string]*store.CallbackState
}

// Configure sets the config's static callbacks; it is called before the
// workers start and at every reload.
func (g *Registry) Configure(static Static) { g.static.Store(&static) }

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
		cb, err := callbackOf(r, g.byID[r.ID])
		if err != nil {
			continue // a corrupt secret; the API refuses to create those
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

// callbackOf turns a registration into a callback, reusing the previous
// one's signer when the secret did not change.
func callbackOf(r *store.Registration, prev *Callback) (*Callback, error) {
	cb := &Callback{
		ID:          r.ID,
		Agent:       r.Agent,
		URL:         r.URL,
		Method:      r.Method,
		Format:      r.Format,
		Ordered:     r.Ordered,
		status:      r.Status,
		secret:      r.Secret,
		registered:  true,
		disabledWhy: r.DisabledReason,
	}
	if cb.Format == "" {
		cb.Format = FormatRaw
	}
	if prev != nil && prev.secret == r.Secret {
		cb.Signers = prev.Signers
		return cb, nil
	}
	signer, err := signing.NewStandardWebhooksSigner([]string{r.Secret})
	if err != nil {
		return nil, err
	}
	cb.Signers = []signing.Signer{signer}
	return cb, nil
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
	for _, cb := range g.staticOf(agent) {
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
	return callbackOf(r, nil)
}

// State returns the stored health of a callback, or nil.
func (g *Registry) State(ctx context.Context, id string) (*store.CallbackState, error) {
	_, _, states, err := g.load(ctx)
	if err != nil {
		return nil, err
	}
	return states[id], nil
}

// Interface guard
var _ Callbacks = (*Registry)(nil)
