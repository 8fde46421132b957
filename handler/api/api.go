package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// API is the management API: Tess-style callback registrations, the
// delivery log with retries, and tasks. Paths are relative to Prefix:
//
//	POST   /agents/{agent}/webhooks
//	GET    /agents/{agent}/webhooks
//	GET    /agents/{agent}/webhooks/{id}
//	PATCH  /agents/{agent}/webhooks/{id}
//	DELETE /agents/{agent}/webhooks/{id}
//	GET    /agents/{agent}/deliveries?status=pending|delivered|failed&limit=n
//	POST   /agents/{agent}/deliveries/recover   {"since": "<RFC 3339>"}
//	GET    /deliveries/{id}
//	POST   /deliveries/{id}/retry
//	GET    /tasks/{id}
type API struct {
	// Prefix is where the API is mounted, "/api" by default.
	Prefix string
	// Keys authenticates callers with bearer keys.
	Keys *signing.Bearer

	Store    store.Store
	Registry *Registry
	// Agents returns the agents of the current config.
	Agents func() map[string]*Agent
	// CheckURL refuses callback URLs that are malformed or resolve to
	// addresses deliveries may not reach.
	CheckURL func(ctx context.Context, rawURL string) error
	// Changed is told when a callback changed, so the dispatcher can
	// forget its health.
	Changed func(id string)

	Logger  *zap.Logger
	Metrics Metrics
	Now     func() time.Time
}

// maxAPIBody bounds management request bodies.
const maxAPIBody = 64 << 10

// WebhookView is a registration as the API shows it. The secret is only
// present in the answer to its creation.
type WebhookView struct {
	ID             string `json:"id"`
	AgentID        string `json:"agent_id"`
	URL            string `json:"url"`
	Method         string `json:"method"`
	Status         string `json:"status"`
	Format         Format `json:"format"`
	Ordered        bool   `json:"ordered"`
	Source         string `json:"source"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	Secret         string `json:"secret,omitempty"`
	// Static callbacks have no creation time: they exist while the config
	// has them. Their updated_at is when agenthook disabled one.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// DeliveryView is a delivery as the API shows it.
type DeliveryView struct {
	ID            string          `json:"id"`
	TaskID        string          `json:"task_id"`
	AgentID       string          `json:"agent_id"`
	ChatID        string          `json:"chat_id,omitempty"`
	CallbackID    string          `json:"callback_id"`
	EventType     string          `json:"event_type"`
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attempt_count"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	Attempts      []AttemptView   `json:"attempts,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// AttemptView is one attempt of a delivery.
type AttemptView struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
}

// Owns reports whether a path is under the API's prefix; others belong to
// whatever handles the rest of the site.
func (a *API) Owns(path string) bool {
	return path == a.prefix() || strings.HasPrefix(path, a.prefix()+"/")
}

func (a *API) prefix() string {
	if p := strings.TrimRight(a.Prefix, "/"); p != "" {
		return p
	}
	return "/api"
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := a.serve(w, r); err != nil {
		var he *Error
		if errors.As(err, &he) && he.Status >= 500 && he.Err != nil {
			a.Logger.Error("api request failed", zap.String("path", r.URL.Path), zap.Error(he.Err))
		}
		WriteError(w, err)
	}
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.Keys.Verify(r, nil, a.Now()); err != nil {
		a.Metrics.AuthFailure("api", "invalid")
		return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "a valid API key is required (Authorization: Bearer <key>)",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="agenthook"`}}}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, a.prefix()+"/")
	if !ok {
		return notFound("no such API route")
	}
	parts := strings.Split(strings.TrimRight(rest, "/"), "/")
	ctx, cancel := withStoreTimeout(r.Context())
	defer cancel()
	r = r.WithContext(ctx)
	route := func(methods ...string) error {
		for _, m := range methods {
			if r.Method == m || (r.Method == http.MethodHead && m == http.MethodGet) {
				return nil
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		return Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use %s", strings.Join(methods, " or "))
	}
	switch {
	case len(parts) == 3 && parts[0] == "agents" && parts[2] == "webhooks":
		agent, err := a.agent(parts[1])
		if err != nil {
			return err
		}
		if err := route(http.MethodGet, http.MethodPost); err != nil {
			return err
		}
		if r.Method == http.MethodPost {
			return a.createWebhook(w, r, agent)
		}
		return a.listWebhooks(w, r, agent)
	case len(parts) == 4 && parts[0] == "agents" && parts[2] == "webhooks":
		agent, err := a.agent(parts[1])
		if err != nil {
			return err
		}
		if err := route(http.MethodGet, http.MethodPatch, http.MethodDelete); err != nil {
			return err
		}
		return a.webhook(w, r, agent, parts[3])
	case len(parts) == 3 && parts[0] == "agents" && parts[2] == "deliveries":
		agent, err := a.agent(parts[1])
		if err != nil {
			return err
		}
		if err := route(http.MethodGet); err != nil {
			return err
		}
		return a.listDeliveries(w, r, agent)
	case len(parts) == 4 && parts[0] == "agents" && parts[2] == "deliveries" && parts[3] == "recover":
		agent, err := a.agent(parts[1])
		if err != nil {
			return err
		}
		if err := route(http.MethodPost); err != nil {
			return err
		}
		return a.recover(w, r, agent)
	case len(parts) == 2 && parts[0] == "deliveries":
		if err := route(http.MethodGet); err != nil {
			return err
		}
		return a.getDelivery(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "deliveries" && parts[2] == "retry":
		if err := route(http.MethodPost); err != nil {
			return err
		}
		return a.retryDelivery(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "tasks":
		if err := route(http.MethodGet); err != nil {
			return err
		}
		return a.getTask(w, r, parts[1])
	}
	return notFound("no such API route")
}

func notFound(msg string) *Error { return Errorf(http.StatusNotFound, CodeNotFound, "%s", msg) }

func (a *API) agent(name string) (*Agent, error) {
	if ag := a.Agents()[name]; ag != nil {
		return ag, nil
	}
	return nil, notFound("no such agent")
}

// readJSON decodes a bounded body holding one JSON object, refusing
// unknown fields so typos do not pass silently.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	if err != nil {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "the request body could not be read")
	}
	if len(body) > maxAPIBody {
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is larger than %d bytes", maxAPIBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "the body is not the expected JSON object: %s", jsonProblem(err))
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "the body is not the expected JSON object: trailing data after it")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing input values.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field == "" {
			return "the body must be a JSON object"
		}
		return "field " + ute.Field + " must be " + jsonKind(ute.Type)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "malformed JSON"
}

// jsonKind names a Go type the way a JSON caller thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}

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
		return Errorf(http.StatusBadRequest, CodeMissingFields, "url is required")
	}
	if in.URL != nil {
		if err := a.CheckURL(ctx, *in.URL); err != nil {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "url is not acceptable: %s", err.Error())
		}
		reg.URL = *in.URL
	}
	if in.Method != nil {
		m := strings.ToUpper(*in.Method)
		if m != http.MethodPost && m != http.MethodPut {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "method must be POST or PUT")
		}
		reg.Method = m
	}
	if in.Status != nil {
		if *in.Status != StatusActive && *in.Status != StatusInactive {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "status must be active or inactive")
		}
		// A caller's choice replaces agenthook's: the reason goes.
		reg.Status, reg.DisabledReason = *in.Status, ""
	}
	if in.Format != nil {
		if *in.Format != string(FormatRaw) && *in.Format != string(FormatCognigy) {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "format must be raw or cognigy")
		}
		reg.Format = *in.Format
	}
	if in.Ordered != nil {
		reg.Ordered = *in.Ordered
	}
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, agent *Agent) error {
	var in webhookInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	now := a.Now()
	reg := &store.Registration{ID: "wh_" + NewID(), Agent: agent.Name, Method: http.MethodPost, Status: StatusActive, Format: string(FormatRaw), CreatedAt: now, UpdatedAt: now}
	if err := a.apply(r.Context(), in, reg, true); err != nil {
		return err
	}
	secret, err := signing.GenerateSecret()
	if err != nil {
		return err
	}
	reg.Secret = secret
	if err := a.Store.CreateRegistration(r.Context(), reg); err != nil {
		return storeError(err)
	}
	a.Registry.Invalidate()
	v := registrationView(reg)
	v.Secret = secret // shown once: it signs every delivery to this URL
	w.Header().Set("Location", strings.TrimRight(r.URL.Path, "/")+"/"+reg.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func registrationView(r *store.Registration) WebhookView {
	created, updated := r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return WebhookView{
		ID: r.ID, AgentID: r.Agent, URL: r.URL, Method: r.Method, Status: r.Status,
		Format: Format(r.Format), Ordered: r.Ordered, Source: "api", DisabledReason: r.DisabledReason,
		CreatedAt: &created, UpdatedAt: &updated,
	}
}

// staticView shows a callback from the config; it is read-only, except
// that an agenthook-disabled one can be enabled again.
func (a *API) staticView(ctx context.Context, cb *Callback) (WebhookView, error) {
	v := WebhookView{ID: cb.ID, AgentID: cb.Agent, URL: cb.URL, Method: cb.Method, Status: StatusActive, Format: cb.Format, Ordered: cb.Ordered, Source: "config"}
	st, err := a.Registry.State(ctx, cb.ID)
	if err != nil {
		return v, storeError(err)
	}
	if st != nil && st.Disabled {
		at := st.DisabledAt.UTC()
		v.Status, v.DisabledReason, v.UpdatedAt = StatusDisabled, st.Reason, &at
	}
	return v, nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, agent *Agent) error {
	data := []WebhookView{}
	for _, cb := range agent.Callbacks {
		v, err := a.staticView(r.Context(), cb)
		if err != nil {
			return err
		}
		data = append(data, v)
	}
	regs, err := a.Store.ListRegistrations(r.Context(), agent.Name)
	if err != nil {
		return storeError(err)
	}
	for _, reg := range regs {
		data = append(data, registrationView(reg))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

func (a *API) webhook(w http.ResponseWriter, r *http.Request, agent *Agent, id string) error {
	for _, cb := range agent.Callbacks {
		if cb.ID == id {
			return a.staticWebhook(w, r, cb)
		}
	}
	reg, err := a.Store.GetRegistration(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && reg.Agent != agent.Name) {
		return notFound("no such webhook")
	}
	if err != nil {
		return storeError(err)
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, registrationView(reg))
		return nil
	case http.MethodDelete:
		if err := a.Store.DeleteRegistration(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return storeError(err)
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
		return storeError(err)
	}
	if in.Status != nil && reg.Status == StatusActive {
		// A fresh start: no failing streak carried over to disable it
		// again at the first failure.
		if err := a.Store.DeleteCallbackState(r.Context(), id); err != nil {
			return storeError(err)
		}
	}
	a.changed(id)
	writeJSON(w, http.StatusOK, registrationView(reg))
	return nil
}

func (a *API) staticWebhook(w http.ResponseWriter, r *http.Request, cb *Callback) error {
	switch r.Method {
	case http.MethodDelete:
		e := Errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "this callback comes from the Caddyfile; remove it there")
		e.Header = http.Header{"Allow": {"GET, PATCH"}}
		return e
	case http.MethodPatch:
		var in webhookInput
		if err := readJSON(r, &in); err != nil {
			return err
		}
		if in.URL != nil || in.Method != nil || in.Format != nil || in.Ordered != nil || in.Status == nil || *in.Status != StatusActive {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "this callback comes from the Caddyfile: only {\"status\": \"active\"} (to enable it again) can be changed here")
		}
		if err := a.Store.DeleteCallbackState(r.Context(), cb.ID); err != nil {
			return storeError(err)
		}
		a.changed(cb.ID)
	}
	v, err := a.staticView(r.Context(), cb)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) changed(id string) {
	a.Registry.Invalidate()
	if a.Changed != nil {
		a.Changed(id)
	}
}

func deliveryView(d *store.Delivery, full bool) DeliveryView {
	v := DeliveryView{
		ID: d.ID, TaskID: d.TaskID, AgentID: d.Agent, ChatID: d.ChatID, CallbackID: d.CallbackID,
		EventType: d.EventType, Status: string(d.Status), AttemptCount: d.AttemptCount, LastError: d.LastError,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.Status == store.DeliveryPending {
		t := d.NextAttemptAt.UTC()
		v.NextAttemptAt = &t
	}
	if full {
		v.Attempts = make([]AttemptView, 0, len(d.Attempts))
		for _, at := range d.Attempts {
			v.Attempts = append(v.Attempts, AttemptView{At: at.At.UTC(), StatusCode: at.StatusCode, LatencyMS: float64(at.Latency.Microseconds()) / 1000, Error: at.Error, Response: at.Response})
		}
		if json.Valid(d.Payload) {
			v.Payload = d.Payload
		}
	}
	return v
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, agent *Agent) error {
	q := r.URL.Query()
	f := store.DeliveryFilter{Agent: agent.Name, Status: store.DeliveryStatus(q.Get("status"))}
	switch f.Status {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "status must be pending, delivered or failed")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return Errorf(http.StatusBadRequest, CodeBadRequest, "limit must be between 1 and 1000")
		}
		f.Limit = n
	}
	ds, err := a.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		return storeError(err)
	}
	data := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		data = append(data, deliveryView(d, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

func (a *API) recover(w http.ResponseWriter, r *http.Request, agent *Agent) error {
	var in struct {
		Since *string `json:"since"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return Errorf(http.StatusBadRequest, CodeMissingFields, "since is required, as an RFC 3339 time")
	}
	since, err := time.Parse(time.RFC3339Nano, *in.Since)
	if err != nil {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "since must be an RFC 3339 time, such as 2026-01-02T15:04:05Z")
	}
	n, err := a.Store.RecoverDeliveries(r.Context(), agent.Name, since)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"recovered": n})
	return nil
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request, id string) error {
	if !validID(id) {
		return notFound("no such delivery")
	}
	d, err := a.Store.GetDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such delivery")
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, deliveryView(d, true))
	return nil
}

func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request, id string) error {
	if !validID(id) {
		return notFound("no such delivery")
	}
	d, err := a.Store.RetryDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such delivery")
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusAccepted, deliveryView(d, false))
	return nil
}

func (a *API) getTask(w http.ResponseWriter, r *http.Request, id string) error {
	taskNotFound := Errorf(http.StatusNotFound, CodeTaskNotFound, "no such task")
	if !validID(id) {
		return taskNotFound
	}
	t, err := a.Store.GetTask(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return taskNotFound
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, ViewOf(t))
	return nil
}
