package api

import (
	"net/http"
	"slices"

	"github.com/agenthook/agenthook/handler"
)

// AgentView is an agent as the API lists it.
type AgentView struct {
	ID string `json:"id"`
	// Endpoints are the agenthook endpoints that reach the agent.
	Endpoints []EndpointView `json:"endpoints"`
	// Upstreams are its backend addresses, with the health Caddy's
	// reverse_proxy gives them; absent when the backend cannot tell.
	Upstreams []handler.Upstream `json:"upstreams,omitempty"`
	// DynamicUpstreams: more upstreams are found at run time, and are not
	// listed.
	DynamicUpstreams bool `json:"dynamic_upstreams,omitempty"`
}

// EndpointView is an agenthook endpoint (handler) of the config.
type EndpointView struct {
	Name string `json:"name"`
	Mode string `json:"mode"`
	// Sensitive endpoints keep bodies out of logs, and their tasks'
	// requests out of the API.
	Sensitive      bool `json:"sensitive,omitempty"`
	AgentFromToken bool `json:"agent_from_token,omitempty"`
}

// listAgents lists the agents of the config that the key sees, by name,
// with their endpoints and upstreams.
func (a *API) listAgents(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	agents := a.Agents()
	var names []string
	for name := range agents {
		if c.sees(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := page[AgentView]{Data: make([]AgentView, 0, len(names))}
	for _, n := range names {
		v := AgentView{ID: n, Endpoints: []EndpointView{}}
		if a.Endpoints != nil {
			if eps := a.Endpoints(n); eps != nil {
				v.Endpoints = eps
			}
		}
		if rep, ok := agents[n].Backend.(handler.UpstreamReporter); ok {
			v.Upstreams, v.DynamicUpstreams = rep.Upstreams()
		}
		out.Data = append(out.Data, v)
	}
	handler.WriteJSON(w, http.StatusOK, out)
	return nil
}
