package admin

import (
	"context"
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
		var n int
		var more bool
		var err error
		if in.Until == nil && in.Callback == "" && !in.DryRun {
			// The epoch, not the zero time, which engines that index by
			// Unix nanoseconds cannot represent.
			since := time.Unix(0, 0)
			if in.Since != nil {
				since = *in.Since
			}
			n, err = rt.Store.RecoverDeliveries(r.Context(), agent, since)
		} else {
			n, more, err = recoverFiltered(r.Context(), rt.Store, agent, in)
		}
		if err != nil {
			return handler.StoreError(err)
		}
		res.Agents[agent] = n
		res.Recovered += n
		res.More = res.More || more
	}
	status := http.StatusAccepted
	if in.DryRun {
		status = http.StatusOK
	}
	handler.WriteJSON(w, status, res)
	return nil
}

// recoverFiltered recovers, or counts, the dead letters that the store's
// RecoverDeliveries cannot select today (by callback, up to a time, or
// without changing them): from the newest maxScan dead letters of the
// agent, one RetryDelivery each. more is true when the agent has more
// than that; since recovered ones leave the list, sending the request
// again goes on where it stopped. When the store selects these itself,
// this is the one function to change.
func recoverFiltered(ctx context.Context, s adminStore, agent string, in RecoverRequest) (n int, more bool, err error) {
	ds, err := s.ListDeliveries(ctx, store.DeliveryFilter{Agent: agent, Status: store.DeliveryFailed, Limit: maxScan})
	if err != nil {
		return 0, false, err
	}
	for _, d := range ds {
		if in.Callback != "" && d.CallbackID != in.Callback ||
			in.Since != nil && d.UpdatedAt.Before(*in.Since) ||
			in.Until != nil && !d.UpdatedAt.Before(*in.Until) {
			continue
		}
		if !in.DryRun {
			if _, err := s.RetryDelivery(ctx, d.ID); err != nil {
				return n, false, err
			}
		}
		n++
	}
	return n, len(ds) == maxScan, nil
}
