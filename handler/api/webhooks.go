package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// webhookInput is the body of POST and PATCH on webhooks; PATCH may leave
// any field out.
type webhookInput struct {
	URL     *string `json:"url"`
	Method  *string `json:"method"`
	Status  *string `json:"status"`
	Format  *string `json:"format"`
	Ordered *bool   `json:"ordered"`
}

// apply validates the input onto a registration.
func (a *API) apply(ctx context.Context, in webhookInput, reg *store.Registration, creating bool) error {
	if creating && in.URL == nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "url is required")
	}
	if in.URL != nil {
		if err := a.CheckURL(ctx, *in.URL); err != nil {
			return a.refusedURL(*in.URL, err)
		}
		reg.URL = *in.URL
	}
	if in.Method != nil {
		m := strings.ToUpper(*in.Method)
		if m != http.MethodPost && m != http.MethodPut {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "method must be POST or PUT")
		}
		reg.Method = m
	}
	if in.Status != nil {
		if *in.Status != delivery.StatusActive && *in.Status != delivery.StatusInactive {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "status must be active or inactive")
		}
		// A caller's choice replaces agenthook's: the reason goes.
		reg.Status, reg.DisabledReason = *in.Status, ""
	}
	if in.Format != nil {
		if _, ok := delivery.Format(*in.Format); !ok || *in.Format == "" {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "format must be %s", strings.Join(delivery.FormatNames(), " or "))
		}
		reg.Format = *in.Format
	}
	if in.Ordered != nil {
		reg.Ordered = *in.Ordered
	}
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	var in webhookInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	now := a.Now()
	reg := &store.Registration{ID: "wh_" + handler.NewID(), Agent: agent.Name, Method: http.MethodPost, Status: delivery.StatusActive, Format: delivery.FormatRaw, CreatedAt: now, UpdatedAt: now}
	if err := a.apply(r.Context(), in, reg, true); err != nil {
		return err
	}
	secret, err := signing.GenerateSecret()
	if err != nil {
		return err
	}
	reg.Secret = secret
	err = a.Store.CreateRegistration(r.Context(), reg, a.MaxRegistrations)
	if errors.Is(err, store.ErrLimitReached) {
		return handler.Errorf(http.StatusConflict, handler.CodeTooManyWebhooks,
			"agent %s already has %d webhooks, the most it may have; delete one first", agent.Name, a.MaxRegistrations)
	}
	if err != nil {
		return handler.StoreError(err)
	}
	a.Registry.Invalidate()
	v := registrationView(reg)
	v.Secret = secret // shown once: it signs every delivery to this URL
	w.Header().Set("Location", a.prefix()+r.URL.Path+"/"+reg.ID)
	handler.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// staticView shows a callback from the config; it is read-only, except
// that an agenthook-disabled one can be enabled again.
func (a *API) staticView(ctx context.Context, cb *delivery.Callback) (WebhookView, error) {
	// Only the origin: a static callback's URL is the operator's, and
	// often holds a secret in its path or query.
	v := WebhookView{ID: cb.ID, AgentID: cb.Agent, URL: delivery.URLOrigin(cb.URL), Method: cb.Method, Status: delivery.StatusActive, Format: cb.Format, Ordered: cb.Ordered, Source: "config"}
	st, err := a.Registry.State(ctx, cb.ID)
	if err != nil {
		return v, handler.StoreError(err)
	}
	if st != nil && st.Disabled {
		at := st.DisabledAt.UTC()
		v.Status, v.DisabledReason, v.UpdatedAt = delivery.StatusDisabled, st.Reason, &at
	}
	return v, nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	data := []WebhookView{}
	for _, cb := range a.Static[agent.Name] {
		v, err := a.staticView(r.Context(), cb)
		if err != nil {
			return err
		}
		data = append(data, v)
	}
	regs, err := a.Store.ListRegistrations(r.Context(), agent.Name)
	if err != nil {
		return handler.StoreError(err)
	}
	for _, reg := range regs {
		data = append(data, registrationView(reg))
	}
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

// webhook serves GET, PATCH and DELETE of one callback.
func (a *API) webhook(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	id := r.PathValue("id")
	for _, cb := range a.Static[agent.Name] {
		if cb.ID == id {
			return a.staticWebhook(w, r, cb)
		}
	}
	reg, err := a.Store.GetRegistration(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && reg.Agent != agent.Name) {
		return notFound("no such webhook")
	}
	if err != nil {
		return handler.StoreError(err)
	}
	switch r.Method {
	case http.MethodGet:
		handler.WriteJSON(w, http.StatusOK, registrationView(reg))
		return nil
	case http.MethodDelete:
		if err := a.Store.DeleteRegistration(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return handler.StoreError(err)
		}
		_ = a.Store.DeleteCallbackState(r.Context(), id)
		a.changed(id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var in webhookInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := a.apply(r.Context(), in, reg, false); err != nil {
		return err
	}
	reg.UpdatedAt = a.Now()
	if err := a.Store.UpdateRegistration(r.Context(), reg); err != nil {
		return handler.StoreError(err)
	}
	if in.Status != nil && reg.Status == delivery.StatusActive {
		// A fresh start: no failing streak carried over to disable it
		// again at the first failure.
		if err := a.Store.DeleteCallbackState(r.Context(), id); err != nil {
			return handler.StoreError(err)
		}
	}
	a.changed(id)
	handler.WriteJSON(w, http.StatusOK, registrationView(reg))
	return nil
}

func (a *API) staticWebhook(w http.ResponseWriter, r *http.Request, cb *delivery.Callback) error {
	switch r.Method {
	case http.MethodDelete:
		e := handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "this callback comes from the Caddyfile; remove it there")
		e.Header = http.Header{"Allow": {"GET, PATCH"}}
		return e
	case http.MethodPatch:
		var in webhookInput
		if err := readJSON(r, &in); err != nil {
			return err
		}
		if in.URL != nil || in.Method != nil || in.Format != nil || in.Ordered != nil || in.Status == nil || *in.Status != delivery.StatusActive {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "this callback comes from the Caddyfile: only {\"status\": \"active\"} (to enable it again) can be changed here")
		}
		if err := a.Store.DeleteCallbackState(r.Context(), cb.ID); err != nil {
			return handler.StoreError(err)
		}
		a.changed(cb.ID)
	}
	v, err := a.staticView(r.Context(), cb)
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) changed(id string) {
	a.Registry.Invalidate()
	if a.Changed != nil {
		a.Changed(id)
	}
}
