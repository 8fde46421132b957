// Package api is agenthook's management API: Tess-style callback
// registrations, the delivery log with retries, and tasks.
package api

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/stats"
	"github.com/agenthook/agenthook/store"
)

// apiStore is what the API reads and writes.
type apiStore interface {
	CreateRegistration(ctx context.Context, r *store.Registration, limit int) error
	GetRegistration(ctx context.Context, id string) (*store.Registration, error)
	ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error)
	UpdateRegistration(ctx context.Context, r *store.Registration) error
	DeleteRegistration(ctx context.Context, id string) error
	DeleteCallbackState(ctx context.Context, id string) error
	GetDelivery(ctx context.Context, id string) (*store.Delivery, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error)
	RetryDelivery(ctx context.Context, id string) (*store.Delivery, error)
	RecoverDeliveries(ctx context.Context, f store.RecoverFilter) (int, error)
	GetTask(ctx context.Context, id string) (*store.Task, error)
	ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error)
	CreateAPIKey(ctx context.Context, k *store.APIKey) error
	ListAPIKeys(ctx context.Context) ([]*store.APIKey, error)
	DeleteAPIKey(ctx context.Context, id string) error
}

// callbackStates is what the API asks the callback registry.
type callbackStates interface {
	// State returns the stored health of a callback, or nil.
	State(ctx context.Context, id string) (*store.CallbackState, error)
	// Invalidate drops cached registrations after a change.
	Invalidate()
	// Lookup resolves a callback, static or registered, as deliveries do.
	Lookup(ctx context.Context, agent, id string) (*delivery.Callback, error)
}

// tester sends a test event to a callback (delivery.Dispatcher).
type tester interface {
	SendTest(ctx context.Context, cb *delivery.Callback, typ string) (delivery.TestResult, error)
}

// breakers tells a callback's circuit breaker (delivery.Dispatcher).
type breakers interface {
	Breaker(id string) delivery.BreakerState
}

// API is the management API. Paths are relative to Prefix:
//
//	GET    /agents
//	POST   /agents/{agent}/webhooks
//	GET    /agents/{agent}/webhooks
//	GET    /agents/{agent}/webhooks/{id}
//	PATCH  /agents/{agent}/webhooks/{id}
//	DELETE /agents/{agent}/webhooks/{id}
//	POST   /agents/{agent}/webhooks/{id}/rotate-secret  {"grace_period": "24h"}
//	POST   /agents/{agent}/webhooks/{id}/test           {"event_type": "task.succeeded"}
//	GET    /event-types
//	GET    /agents/{agent}/deliveries?status=&callback=&task=&chat=&event_type=&since=&until=&cursor=&limit=
//	POST   /agents/{agent}/deliveries/recover   {"since", "until"?, "callback"?, "dry_run"?}
//	GET    /deliveries/{id}
//	POST   /deliveries/{id}/retry
//	GET    /tasks?id=&agent=&chat=&status=&since=&until=&cursor=&limit=
//	GET    /tasks/{id}
//	GET    /keys
//	POST   /keys                                {"agents", "read_only"?, "name"?, "expires_at"?}
//	GET    /keys/{id}
//	DELETE /keys/{id}
//	GET    /stats
//	GET    /stats/stream                        (text/event-stream)
//	GET    /ui/                                 (the dashboard; no key needed)
//
// Every request needs a key (see Scope): a key limited to some agents
// finds nothing of the others (404), a read-only key may not write (403),
// and only root keys manage keys.
type API struct {
	// Prefix is where the API is mounted, "/api" by default.
	Prefix string
	// Keys are the config's keys.
	Keys *Keyring

	Store    apiStore
	Registry callbackStates
	// Agents returns the agents of the current config.
	Agents func() map[string]*handler.Agent
	// Static holds the config's callbacks, by agent: they are listed
	// with the registrations and read-only here.
	Static delivery.Static
	// CheckURL refuses callback URLs that are malformed or resolve to
	// addresses deliveries may not reach. An error that wraps
	// delivery.ErrRefused is answered with that sentence alone (see
	// refusedURL); others are syntax errors, shown as they are.
	CheckURL func(ctx context.Context, rawURL string) error
	// MaxRegistrations caps the registrations of one agent (0: no cap).
	MaxRegistrations int
	// MaxTimeout bounds a registration's timeout: the configured delivery
	// timeout, which the dispatcher's leases are made for.
	MaxTimeout time.Duration
	// Tester sends test events; without it the test route answers 503.
	Tester tester
	// Breakers tells the callbacks' circuit breakers, for the listings.
	Breakers breakers
	// EndpointExists, if set, reports whether an agenthook handler of a
	// name exists, so that a registration routed to none is refused.
	EndpointExists func(name string) bool
	// Changed is told when a callback changed, so the dispatcher can
	// forget its health.
	Changed func(id string)

	// Endpoints returns the endpoints that reach an agent, for the agent
	// listing.
	Endpoints func(agent string) []EndpointView

	// Stats keeps the last hour the dashboard charts; without it the
	// stats routes answer 503. QueueDepth reads the tasks waiting and
	// running from the store.
	Stats      *stats.Collector
	QueueDepth stats.QueueCounter
	// MaxStreams bounds the stats streams open at once (default
	// DefaultMaxStreams); StreamInterval, Heartbeat and MaxStreamAge pace
	// them (defaults DefaultStreamInterval, DefaultHeartbeat,
	// DefaultMaxStreamAge).
	MaxStreams     int
	StreamInterval time.Duration
	Heartbeat      time.Duration
	MaxStreamAge   time.Duration
	// Stopping reports that the process is exiting: streams end at their
	// next tick, since the server waits for them before it exits (on a
	// reload, Close ends them).
	Stopping func() bool

	Logger  *zap.Logger
	Metrics handler.Metrics
	Now     func() time.Time

	initOnce  sync.Once
	mux       *http.ServeMux
	minted    mintedKeys
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	streams   chan struct{} // a slot per open stats stream
}

// Owns reports whether a path is under the API's prefix; others belong to
// whatever handles the rest of the site.
func (a *API) Owns(path string) bool {
	return path == a.prefix() || strings.HasPrefix(path, a.prefix()+"/")
}

func (a *API) prefix() string {
	if p := strings.TrimRight(a.Prefix, "/"); p != "" {
		return p
	}
	return "/api"
}

// ServeHTTP implements http.Handler. The key is checked before the route,
// so that unknown routes tell nothing to a caller without one.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.init()
	w.Header().Set("Cache-Control", "no-store")
	if a.servesUI(r.URL.Path) {
		// The dashboard's files are public: what they can do needs a key.
		a.serveUI(w, r)
		return
	}
	base := r.Context()
	ctx, cancel := handler.WithStoreTimeout(base)
	defer cancel()
	r = r.WithContext(ctx)
	c, err := a.authenticate(r)
	if strings.TrimRight(r.URL.Path, "/") == a.prefix()+"/stats/stream" {
		// A stream outlives the store timeout: only its own reads are
		// bounded by it.
		r = r.WithContext(base)
	}
	if err != nil {
		if err == errNoKey {
			a.Metrics.AuthFailure("api", "invalid")
		}
		a.fail(w, r.URL.Path, err)
		return
	}
	r = withCaller(r, c)
	rest, ok := strings.CutPrefix(r.URL.Path, a.prefix()+"/")
	// A trailing slash is ignored. Paths with empty, "." or ".." segments
	// name no route; they are not cleaned into one.
	p := "/" + strings.TrimRight(rest, "/")
	if !ok || path.Clean(p) != p {
		a.fail(w, r.URL.Path, notFound("no such API route"))
		return
	}
	// The mux sees the path below the prefix, which the operator chose
	// and which may hold characters that patterns give a meaning to.
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r.URL = &u
	a.mux.ServeHTTP(w, r)
}

// fail writes an error answer, and logs the cause of server errors.
func (a *API) fail(w http.ResponseWriter, path string, err error) {
	var he *handler.Error
	if errors.As(err, &he) && he.Status >= 500 && he.Err != nil {
		a.Logger.Error("api request failed", zap.String("path", path), zap.Error(he.Err))
	}
	handler.WriteError(w, err)
}

func notFound(msg string) *handler.Error {
	return handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "%s", msg)
}

// agent resolves an agent the request's key sees; others do not exist.
func (a *API) agent(r *http.Request, name string) (*handler.Agent, error) {
	if ag := a.Agents()[name]; ag != nil && callerOf(r).sees(name) {
		return ag, nil
	}
	return nil, notFound("no such agent")
}

// Interface guard
var _ http.Handler = (*API)(nil)
