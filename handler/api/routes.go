package api

import (
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
)

// endpointFunc serves one route; a returned error becomes the JSON error
// answer.
type endpointFunc func(w http.ResponseWriter, r *http.Request) error

// agentFunc serves a route under /agents/{agent}, once the agent is
// known to exist.
type agentFunc func(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error

// method is one method of a path and what serves it.
type method struct {
	name  string
	serve endpointFunc
}

// routes builds the API's mux. Every path also gets a pattern without a
// method, so that a wrong method is our JSON 405 with Allow rather than
// ServeMux's plain-text one, and so that an unknown agent is 404 whatever
// the method.
func (a *API) routes() *http.ServeMux {
	mux := http.NewServeMux()
	a.handle(mux, "/agents", method{http.MethodGet, a.listAgents})
	a.handle(mux, "/agents/{agent}/webhooks",
		method{http.MethodGet, a.forAgent(a.listWebhooks)},
		method{http.MethodPost, a.forAgent(writesAgent(a.createWebhook))})
	a.handle(mux, "/agents/{agent}/webhooks/{id}",
		method{http.MethodGet, a.forAgent(a.webhook)},
		method{http.MethodPatch, a.forAgent(writesAgent(a.webhook))},
		method{http.MethodDelete, a.forAgent(writesAgent(a.webhook))})
	a.handle(mux, "/agents/{agent}/webhooks/{id}/rotate-secret", method{http.MethodPost, a.forAgent(writesAgent(a.rotateSecret))})
	a.handle(mux, "/agents/{agent}/webhooks/{id}/test", method{http.MethodPost, a.forAgent(writesAgent(a.testWebhook))})
	a.handle(mux, "/event-types", method{http.MethodGet, a.eventTypes})
	a.handle(mux, "/agents/{agent}/deliveries", method{http.MethodGet, a.forAgent(a.listDeliveries)})
	a.handle(mux, "/agents/{agent}/deliveries/recover", method{http.MethodPost, a.forAgent(writesAgent(a.recover))})
	a.handle(mux, "/deliveries/{id}", method{http.MethodGet, a.getDelivery})
	a.handle(mux, "/deliveries/{id}/retry", method{http.MethodPost, a.retryDelivery})
	a.handle(mux, "/tasks", method{http.MethodGet, a.listTasks})
	a.handle(mux, "/tasks/{id}", method{http.MethodGet, a.getTask})
	a.handle(mux, "/keys",
		method{http.MethodGet, rootOnly(a.listKeys)},
		method{http.MethodPost, rootOnly(a.createKey)})
	a.handle(mux, "/keys/{id}",
		method{http.MethodGet, rootOnly(a.key)},
		method{http.MethodDelete, rootOnly(a.key)})
	a.handle(mux, "/stats", method{http.MethodGet, a.getStats})
	a.handle(mux, "/stats/stream", method{http.MethodGet, a.streamStats})
	mux.Handle("/", a.serve(func(http.ResponseWriter, *http.Request) error {
		return notFound("no such API route")
	}))
	return mux
}

// handle registers a path's methods (GET also answers HEAD) and the 405
// for every other method.
func (a *API) handle(mux *http.ServeMux, path string, methods ...method) {
	allow := make([]string, len(methods))
	for i, m := range methods {
		allow[i] = m.name
		mux.Handle(m.name+" "+path, a.serve(m.serve))
	}
	notAllowed := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "use %s", strings.Join(allow, " or "))
	}
	if strings.Contains(path, "{agent}") {
		mux.Handle(path, a.serve(a.forAgent(func(w http.ResponseWriter, r *http.Request, _ *handler.Agent) error {
			return notAllowed(w, r)
		})))
		return
	}
	mux.Handle(path, a.serve(notAllowed))
}

// serve turns an endpointFunc into a handler.
func (a *API) serve(fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			a.fail(w, a.prefix()+r.URL.Path, err)
		}
	})
}

// forAgent resolves {agent} first: an unknown agent, or one the key does
// not see, is 404.
func (a *API) forAgent(fn agentFunc) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		agent, err := a.agent(r, r.PathValue("agent"))
		if err != nil {
			return err
		}
		return fn(w, r, agent)
	}
}
