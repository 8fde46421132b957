// Package admin serves agenthook's routes on Caddy's admin endpoint:
// queue and delivery counts, tasks, dead letters, retries and recovery,
// and switching callbacks on and off. They are what `caddy agenthook`
// subcommands call.
//
// The admin endpoint is trusted as Caddy's own is (loopback by default),
// so these routes take no key. They still show no request or result
// body, no secret, and a static callback's URL by its origin only.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// DefaultPrefix is where the routes live on the admin endpoint.
const DefaultPrefix = "/agenthook/"

// adminStore is what the routes read and write.
type adminStore interface {
	TaskCounts(ctx context.Context) (pending, started int, err error)
	DeliveryCounts(ctx context.Context) (pending, failed int, err error)
	GetTask(ctx context.Context, id string) (*store.Task, error)
	GetDelivery(ctx context.Context, id string) (*store.Delivery, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error)
	RetryDelivery(ctx context.Context, id string) (*store.Delivery, error)
	RecoverDeliveries(ctx context.Context, agent string, since time.Time) (int, error)
	ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error)
	GetRegistration(ctx context.Context, id string) (*store.Registration, error)
	UpdateRegistration(ctx context.Context, r *store.Registration) error
	ListCallbackStates(ctx context.Context) ([]*store.CallbackState, error)
	SaveCallbackState(ctx context.Context, s *store.CallbackState) error
	DeleteCallbackState(ctx context.Context, id string) error
}

// Runtime is the running config's view of agenthook, as the routes use
// it.
type Runtime struct {
	Store adminStore
	// Agents names the configured agents.
	Agents []string
	// Static holds the config's callbacks, by agent.
	Static delivery.Static
	// Changed is told when a callback was enabled or disabled, so that
	// cached registrations and health are dropped.
	Changed func(id string)
	Now     func() time.Time
}

// Admin serves the routes. Paths are relative to Prefix:
//
//	GET  status
//	GET  tasks
//	GET  tasks/{id}
//	GET  deliveries?status=failed|pending|delivered&agent=&limit=&cursor=
//	GET  deliveries/{id}
//	POST deliveries/{id}/retry
//	POST recover      {"agent", "callback", "since", "until", "dry_run"}
//	GET  callbacks?agent=
//	POST callbacks/{id}/enable
//	POST callbacks/{id}/disable   {"reason"}
type Admin struct {
	// Prefix is where the routes are mounted; DefaultPrefix if empty.
	Prefix string
	// Runtime returns the running config's runtime; an error means
	// agenthook is not running, and is answered 503.
	Runtime func() (*Runtime, error)

	mux *http.ServeMux
}

// route serves one route with the runtime in charge.
type route func(w http.ResponseWriter, r *http.Request, rt *Runtime) error

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.mux == nil {
		a.mux = a.routes()
	}
	prefix := a.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		handler.WriteError(w, handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such agenthook admin route"))
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + rest
	r2.URL.RawPath = ""
	a.mux.ServeHTTP(w, r2)
}

func (a *Admin) routes() *http.ServeMux {
	mux := http.NewServeMux()
	a.handle(mux, "/status", http.MethodGet, status)
	a.handle(mux, "/tasks", http.MethodGet, taskCounts)
	a.handle(mux, "/tasks/{id}", http.MethodGet, getTask)
	a.handle(mux, "/deliveries", http.MethodGet, listDeliveries)
	a.handle(mux, "/deliveries/{id}", http.MethodGet, getDelivery)
	a.handle(mux, "/deliveries/{id}/retry", http.MethodPost, retryDelivery)
	a.handle(mux, "/recover", http.MethodPost, recoverDeliveries)
	a.handle(mux, "/callbacks", http.MethodGet, listCallbacks)
	a.handle(mux, "/callbacks/{id}/enable", http.MethodPost, enableCallback)
	a.handle(mux, "/callbacks/{id}/disable", http.MethodPost, disableCallback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		handler.WriteError(w, handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such agenthook admin route"))
	})
	return mux
}

// handle registers a route for one method, and a JSON 405 for others.
func (a *Admin) handle(mux *http.ServeMux, path, method string, fn route) {
	mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
		rt, err := a.Runtime()
		if err != nil {
			handler.WriteError(w, handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "agenthook is not running: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if err := fn(w, r.WithContext(ctx), rt); err != nil {
			handler.WriteError(w, err)
		}
	})
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		handler.WriteError(w, handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "use %s", method))
	})
}

// requestTimeout bounds one admin request's store calls: a bulk recover
// on PostgreSQL may take a while, a hung store must not hold the CLI
// forever.
const requestTimeout = 2 * time.Minute

// readJSON decodes an optional JSON body: an empty one leaves v as it is.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "could not read the body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeInvalidJSON, "the body is not the JSON this route takes: %v", err)
	}
	return nil
}

func storeErr(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such %s", what)
	}
	return handler.StoreError(err)
}

func (rt *Runtime) hasAgent(name string) bool {
	for _, a := range rt.Agents {
		if a == name {
			return true
		}
	}
	return false
}

// agentsOf returns the agents a request is about: the one it names, or
// every configured one.
func (rt *Runtime) agentsOf(name string) ([]string, error) {
	if name == "" {
		return rt.Agents, nil
	}
	if !rt.hasAgent(name) {
		return nil, handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no agent %q in the running config", name)
	}
	return []string{name}, nil
}
