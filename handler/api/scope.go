package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/agenthook/agenthook/handler"
)

// Scope is what an API key may do. The zero Scope is a root key's: every
// agent, every write, and the keys themselves.
type Scope struct {
	// Agents are the agents the key sees; empty means every agent. The
	// resources of other agents do not exist for it (404).
	Agents []string
	// ReadOnly keys get 403 on every write.
	ReadOnly bool
}

// caller is the key a request came with.
type caller struct {
	// keyID names the key (a config key's KeyID, a minted key's id);
	// never the key itself.
	keyID  string
	minted bool
	Scope
}

// sees reports whether the key may see an agent's resources.
func (c *caller) sees(agent string) bool {
	return len(c.Agents) == 0 || slices.Contains(c.Agents, agent)
}

// root reports whether the key may manage keys: a key from the config
// without limits.
func (c *caller) root() bool { return !c.minted && len(c.Agents) == 0 && !c.ReadOnly }

type callerKey struct{}

func withCaller(r *http.Request, c *caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

// callerOf returns the request's key. Requests reach the routes only once
// a key was verified, so a missing one is a bug; it sees nothing.
func callerOf(r *http.Request) *caller {
	if c, ok := r.Context().Value(callerKey{}).(*caller); ok {
		return c
	}
	return &caller{Scope: Scope{Agents: []string{}, ReadOnly: true}, minted: true}
}

func forbidden(msg string) *handler.Error {
	return handler.Errorf(http.StatusForbidden, handler.CodeForbidden, "%s", msg)
}

// writesAgent is writes for a route under /agents/{agent}; it runs once
// the agent is resolved, so that another agent's route is a 404 first.
func writesAgent(fn agentFunc) agentFunc {
	return func(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
		if callerOf(r).ReadOnly {
			return forbidden("this API key is read-only")
		}
		return fn(w, r, agent)
	}
}

// rootOnly guards the key routes: only a root key manages keys.
func rootOnly(fn endpointFunc) endpointFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !callerOf(r).root() {
			return forbidden("only a root key (one from the config, without agents or read_only) manages API keys")
		}
		return fn(w, r)
	}
}
