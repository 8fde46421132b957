package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// webhookInput is the body of POST and PATCH on webhooks; PATCH may leave
// any field out. Fields that take null to go back to their default are
// json.RawMessage (see raw).
type webhookInput struct {
	URL     *string `json:"url"`
	Method  *string `json:"method"`
	Status  *string `json:"status"`
	Format  *string `json:"format"`
	Ordered *bool   `json:"ordered"`

	Events        json.RawMessage    `json:"events"`
	Filter        *string            `json:"filter"`
	Endpoint      *string            `json:"endpoint"`
	Headers       *map[string]string `json:"headers"`
	BasicAuth     json.RawMessage    `json:"basic_auth"`
	HMAC          json.RawMessage    `json:"hmac"`
	Concurrency   *int               `json:"concurrency"`
	RetrySchedule json.RawMessage    `json:"retry_schedule"`
	Timeout       json.RawMessage    `json:"timeout"`
	RateLimit     *float64           `json:"rate_limit"`

	// Signature ("v1" or "v1a") and Secret choose the signing secret at
	// creation; afterwards, rotate-secret changes it.
	Signature *string `json:"signature"`
	Secret    *string `json:"secret"`
}

// apply validates the input onto a registration. It returns an hmac
// secret agenthook generated, to show once.
func (a *API) apply(ctx context.Context, in webhookInput, reg *store.Registration, creating bool) (string, error) {
	if creating && in.URL == nil {
		return "", handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "url is required")
	}
	if !creating && (in.Signature != nil || in.Secret != nil) {
		return "", badRequest("the signing secret changes through POST .../rotate-secret")
	}
	if in.URL != nil {
		if err := a.CheckURL(ctx, *in.URL); err != nil {
			return "", a.refusedURL(*in.URL, err)
		}
		reg.URL = *in.URL
	}
	if in.Method != nil {
		m := strings.ToUpper(*in.Method)
		if m != http.MethodPost && m != http.MethodPut {
			return "", badRequest("method must be POST or PUT")
		}
		reg.Method = m
	}
	if in.Status != nil {
		if *in.Status != delivery.StatusActive && *in.Status != delivery.StatusInactive {
			return "", badRequest("status must be active or inactive")
		}
		// A caller's choice replaces agenthook's: the reason goes.
		reg.Status, reg.DisabledReason = *in.Status, ""
	}
	if in.Format != nil {
		if _, ok := delivery.Format(*in.Format); !ok || *in.Format == "" {
			return "", badRequest("format must be %s", strings.Join(delivery.FormatNames(), " or "))
		}
		reg.Format = *in.Format
	}
	if in.Ordered != nil {
		reg.Ordered = *in.Ordered
	}
	generated, err := a.applyOptions(in, reg)
	if err != nil {
		return "", err
	}
	if creating {
		if reg.Secret, err = newSigningSecret(in.Signature, in.Secret); err != nil {
			return "", err
		}
	}
	// What no delivery could use is refused now rather than at the first
	// event: the secrets as keys, the filter as jq.
	if _, err := delivery.CallbackOf(reg, nil, a.Now()); err != nil {
		return "", badRequest("%s", err.Error())
	}
	return generated, nil
}

// newSigningSecret is the Standard Webhooks secret of a new registration
// or of a rotation: the caller's, or a new one of the scheme asked for
// (v1 by default). Errors never quote the secret.
func newSigningSecret(scheme, given *string) (string, error) {
	kind := "v1"
	if scheme != nil {
		kind = *scheme
	}
	if kind != "v1" && kind != "v1a" {
		return "", badRequest("signature must be v1 (HMAC-SHA256, whsec_ secrets) or v1a (ed25519, whsk_ secrets)")
	}
	if given != nil && *given != "" {
		s := *given
		want := map[string]string{"v1": "whsec_", "v1a": "whsk_"}[kind]
		if scheme == nil && strings.HasPrefix(s, "whsk_") {
			want = "whsk_"
		}
		if !strings.HasPrefix(s, want) {
			return "", badRequest("secret must be a %s... secret for signature %s", want, map[string]string{"whsec_": "v1", "whsk_": "v1a"}[want])
		}
		if _, err := signing.NewStandardWebhooksSigner([]string{s}); err != nil {
			return "", badRequest("secret is not a usable Standard Webhooks secret")
		}
		return s, nil
	}
	if kind == "v1a" {
		private, _, err := signing.GenerateEd25519()
		return private, err
	}
	return signing.GenerateSecret()
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	var in webhookInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	now := a.Now()
	reg := &store.Registration{ID: "wh_" + handler.NewID(), Agent: agent.Name, Method: http.MethodPost, Status: delivery.StatusActive, Format: delivery.FormatRaw, CreatedAt: now, UpdatedAt: now}
	generatedHMAC, err := a.apply(r.Context(), in, reg, true)
	if err != nil {
		return err
	}
	err = a.Store.CreateRegistration(r.Context(), reg, a.MaxRegistrations)
	if errors.Is(err, store.ErrLimitReached) {
		return handler.Errorf(http.StatusConflict, handler.CodeTooManyWebhooks,
			"agent %s already has %d webhooks, the most it may have; delete one first", agent.Name, a.MaxRegistrations)
	}
	if err != nil {
		return handler.StoreError(err)
	}
	a.Registry.Invalidate()
	v := registrationView(reg, now)
	if in.Secret == nil || *in.Secret == "" {
		v.Secret = reg.Secret // shown once: it signs every delivery to this URL
	}
	if generatedHMAC != "" {
		v.HMAC.Secret = generatedHMAC
	}
	w.Header().Set("Location", a.prefix()+r.URL.Path+"/"+reg.ID)
	handler.WriteJSON(w, http.StatusCreated, v)
	return nil
}

// staticView shows a callback from the config; it is read-only, except
// that an agenthook-disabled one can be enabled again.
func (a *API) staticView(ctx context.Context, cb *delivery.Callback) (WebhookView, error) {
	// Only the origin: a static callback's URL is the operator's, and
	// often holds a secret in its path or query. Its credentials and
	// headers are the operator's too, and not shown.
	v := WebhookView{ID: cb.ID, AgentID: cb.Agent, URL: delivery.URLOrigin(cb.URL), Method: cb.Method, Status: delivery.StatusActive,
		Format: cb.Format, Ordered: cb.Ordered, Source: "config", Events: eventsOf(cb.Events), Endpoint: cb.Endpoint,
		Concurrency: cb.Concurrency, RetrySchedule: scheduleView(cb.Schedule), RateLimit: cb.RateLimit}
	if cb.Filter != nil {
		v.Filter = cb.Filter.String()
	}
	if cb.Timeout > 0 {
		v.Timeout = cb.Timeout.String()
	}
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
	now := a.Now()
	for _, reg := range regs {
		data = append(data, registrationView(reg, now))
	}
	for i := range data {
		h, err := a.health(r.Context(), data[i].ID)
		if err != nil {
			return err
		}
		data[i].Health = h
	}
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

// health reads a callback's failing streak and asks the breaker.
func (a *API) health(ctx context.Context, id string) (*HealthView, error) {
	h := &HealthView{}
	st, err := a.Registry.State(ctx, id)
	if err != nil {
		return nil, handler.StoreError(err)
	}
	if st != nil && !st.FailingSince.IsZero() {
		since := st.FailingSince.UTC()
		h.FailingSince = &since
	}
	if a.Breakers != nil {
		b := a.Breakers.Breaker(id)
		h.Breaker = &b
	}
	return h, nil
}

// staticCallback returns the agent's static callback of an id, or nil.
func (a *API) staticCallback(agent, id string) *delivery.Callback {
	for _, cb := range a.Static[agent] {
		if cb.ID == id {
			return cb
		}
	}
	return nil
}

// registration returns the agent's registration of an id; 404 when it has
// none.
func (a *API) registration(ctx context.Context, agent, id string) (*store.Registration, error) {
	reg, err := a.Store.GetRegistration(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && reg.Agent != agent) {
		return nil, notFound("no such webhook")
	}
	if err != nil {
		return nil, handler.StoreError(err)
	}
	return reg, nil
}

// webhook serves GET, PATCH and DELETE of one callback.
func (a *API) webhook(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	id := r.PathValue("id")
	if cb := a.staticCallback(agent.Name, id); cb != nil {
		return a.staticWebhook(w, r, cb)
	}
	reg, err := a.registration(r.Context(), agent.Name, id)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		handler.WriteJSON(w, http.StatusOK, registrationView(reg, a.Now()))
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
	generatedHMAC, err := a.apply(r.Context(), in, reg, false)
	if err != nil {
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
	v := registrationView(reg, a.Now())
	if generatedHMAC != "" {
		v.HMAC.Secret = generatedHMAC
	}
	handler.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) staticWebhook(w http.ResponseWriter, r *http.Request, cb *delivery.Callback) error {
	switch r.Method {
	case http.MethodDelete:
		e := handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "this callback comes from the Caddyfile; remove it there")
		e.Header = http.Header{"Allow": {"GET, PATCH"}}
		return e
	case http.MethodPatch:
		var in map[string]json.RawMessage
		if err := readJSON(r, &in); err != nil {
			return err
		}
		if len(in) != 1 || string(in["status"]) != `"active"` {
			return badRequest("this callback comes from the Caddyfile: only {\"status\": \"active\"} (to enable it again) can be changed here")
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
