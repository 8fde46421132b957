package api

import (
	"net/http"
	"slices"

	"github.com/agenthook/agenthook/handler"
)

// AgentView is an agent as the API lists it.
type AgentView struct {
	ID string `json:"id"`
}

// listAgents lists the agents of the config that the key sees, by name.
func (a *API) listAgents(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var names []string
	for name := range a.Agents() {
		if c.sees(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := page[AgentView]{Data: make([]AgentView, 0, len(names))}
	for _, n := range names {
		out.Data = append(out.Data, AgentView{ID: n})
	}
	handler.WriteJSON(w, http.StatusOK, out)
	return nil
}
