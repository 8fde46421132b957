package admin

import (
	"cmp"
	"context"
	"errors"
	"net/http"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/store"
)

// operatorReason is why a callback is disabled when the operator gives
// no reason.
const operatorReason = "disabled by the operator"

// callbacks lists the callbacks of one agent, or of all, with their
// status: static ones first, then registrations, as deliveries see them.
func callbacks(ctx context.Context, rt *Runtime, agent string) ([]CallbackView, error) {
	agents, err := rt.agentsOf(agent)
	if err != nil {
		return nil, err
	}
	states, err := rt.Store.ListCallbackStates(ctx)
	if err != nil {
		return nil, handler.StoreError(err)
	}
	byID := make(map[string]*store.CallbackState, len(states))
	for _, s := range states {
		byID[s.ID] = s
	}
	regs, err := rt.Store.ListRegistrations(ctx, agent)
	if err != nil {
		return nil, handler.StoreError(err)
	}
	out := []CallbackView{}
	for _, name := range agents {
		for _, cb := range rt.Static[name] {
			v := CallbackView{ID: cb.ID, Agent: name, Source: "config", URL: delivery.URLOrigin(cb.URL), Status: delivery.StatusActive}
			if st := byID[cb.ID]; st != nil {
				v.FailingSince = timePtr(st.FailingSince)
				if st.Disabled {
					v.Status, v.Reason = delivery.StatusDisabled, st.Reason
				}
			}
			out = append(out, v)
		}
		for _, reg := range regs {
			if reg.Agent != name {
				continue
			}
			v := CallbackView{ID: reg.ID, Agent: name, Source: "api", URL: reg.URL, Status: reg.Status, Reason: reg.DisabledReason}
			if st := byID[reg.ID]; st != nil {
				v.FailingSince = timePtr(st.FailingSince)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func listCallbacks(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	cbs, err := callbacks(r.Context(), rt, r.URL.Query().Get("agent"))
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": cbs})
	return nil
}

func enableCallback(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	return setCallback(w, r, rt, true, "")
}

func disableCallback(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if len(in.Reason) > 200 {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "reason is longer than 200 characters")
	}
	return setCallback(w, r, rt, false, cmp.Or(in.Reason, operatorReason))
}

// setCallback enables or disables a callback. A static one has only its
// stored state; a registration also has its status, which its registrant
// sees through the management API. Enabling starts afresh: no failing
// streak is carried over to disable it again at the next failure.
func setCallback(w http.ResponseWriter, r *http.Request, rt *Runtime, enable bool, reason string) error {
	ctx := r.Context()
	id := r.PathValue("id")
	now := rt.Now()
	agent, static := "", false
	for name, cbs := range rt.Static {
		for _, cb := range cbs {
			if cb.ID == id {
				agent, static = name, true
			}
		}
	}
	var reg *store.Registration
	if !static {
		var err error
		reg, err = rt.Store.GetRegistration(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such callback")
		}
		if err != nil {
			return handler.StoreError(err)
		}
		agent = reg.Agent
		if enable {
			reg.Status, reg.DisabledReason = delivery.StatusActive, ""
		} else {
			reg.Status, reg.DisabledReason = delivery.StatusDisabled, reason
		}
		reg.UpdatedAt = now
		if err := rt.Store.UpdateRegistration(ctx, reg); err != nil {
			return storeErr(err, "callback")
		}
	}
	if enable {
		if err := rt.Store.DeleteCallbackState(ctx, id); err != nil {
			return handler.StoreError(err)
		}
	} else {
		st := &store.CallbackState{ID: id, Agent: agent, Disabled: true, DisabledAt: now, Reason: reason, UpdatedAt: now}
		if err := rt.Store.SaveCallbackState(ctx, st); err != nil {
			return handler.StoreError(err)
		}
	}
	if rt.Changed != nil {
		rt.Changed(id)
	}
	cbs, err := callbacks(ctx, rt, "")
	if err != nil {
		return err
	}
	for _, cb := range cbs {
		if cb.ID == id {
			handler.WriteJSON(w, http.StatusOK, cb)
			return nil
		}
	}
	// A registration of an agent the running config does not have.
	handler.WriteJSON(w, http.StatusOK, CallbackView{ID: id, Agent: agent, Source: "api", URL: reg.URL, Status: reg.Status, Reason: reg.DisabledReason})
	return nil
}
