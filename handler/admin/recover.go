package admin

import (
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// RecoverRequest is the body of POST recover: which dead letters to make
// pending again. Every field is optional; nothing given recovers every
// dead letter of every agent.
type RecoverRequest struct {
	Agent    string `json:"agent,omitempty"`
	Callback string `json:"callback,omitempty"`
	// Since and Until bound when the deliveries failed: since ≤ t < until.
	Since  *time.Time `json:"since,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	DryRun bool       `json:"dry_run,omitempty"`
}

// RecoverResult is the answer: how many deliveries were recovered (or, in
// a dry run, would be), in all and by agent.
type RecoverResult struct {
	Recovered int            `json:"recovered"`
	Agents    map[string]int `json:"agents"`
	DryRun    bool           `json:"dry_run,omitempty"`
	// More says that an agent had more dead letters than one request
	// looks at (see recoverFiltered): send the same request again.
	More bool `json:"more,omitempty"`
}

func recoverDeliveries(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	var in RecoverRequest
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Since != nil && in.Until != nil && !in.Until.After(*in.Since) {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "until must be after since")
	}
	agents, err := rt.agentsOf(in.Agent)
	if err != nil {
		return err
	}
	res := RecoverResult{Agents: make(map[string]int, len(agents)), DryRun: in.DryRun}
	for _, agent := range agents {
		f := store.RecoverFilter{Agent: agent, CallbackID: in.Callback, DryRun: in.DryRun}
		if in.Since != nil {
			f.Since = *in.Since
		}
		if in.Until != nil {
			f.Until = *in.Until
		}
		n, err := rt.Store.RecoverDeliveries(r.Context(), f)
		if err != nil {
			return handler.StoreError(err)
		}
		res.Agents[agent] = n
		res.Recovered += n
	}
	status := http.StatusAccepted
	if in.DryRun {
		status = http.StatusOK
	}
	handler.WriteJSON(w, status, res)
	return nil
}
