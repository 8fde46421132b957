package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// WebhookView is a callback as the API shows it. Secrets (the signing
// secret, the hmac secret, the basic password) are only present in the
// answer that made them: a creation or a rotation.
type WebhookView struct {
	ID             string `json:"id"`
	AgentID        string `json:"agent_id"`
	URL            string `json:"url"`
	Method         string `json:"method"`
	Status         string `json:"status"`
	Format         string `json:"format"`
	Ordered        bool   `json:"ordered"`
	Source         string `json:"source"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	Secret         string `json:"secret,omitempty"`

	// Events are the event types the callback receives, defaults
	// spelled out.
	Events   []string `json:"events"`
	Filter   string   `json:"filter,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	// Headers show each value, except those of names that look like they
	// carry a credential.
	Headers   map[string]string `json:"headers,omitempty"`
	BasicAuth *BasicAuthView    `json:"basic_auth,omitempty"`
	HMAC      *HMACView         `json:"hmac,omitempty"`
	// Signature is the Standard Webhooks scheme of the secret: v1
	// (HMAC-SHA256, whsec_) or v1a (ed25519, whsk_); PublicKey is the
	// whpk_ key v1a receivers verify with.
	Signature string `json:"signature,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	// PreviousSecretsExpireAt is when the secrets a rotation replaced stop
	// signing; absent when none do.
	PreviousSecretsExpireAt *time.Time `json:"previous_secrets_expire_at,omitempty"`
	Concurrency             int        `json:"concurrency,omitempty"`
	RetrySchedule           []string   `json:"retry_schedule,omitempty"`
	Timeout                 string     `json:"timeout,omitempty"`
	RateLimit               float64    `json:"rate_limit,omitempty"`

	// Static callbacks have no creation time: they exist while the config
	// has them. Their updated_at is when agenthook disabled one.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`

	// Health is in listings: the failing streak (shared by the instances
	// through the store) and this instance's circuit breaker.
	Health *HealthView `json:"health,omitempty"`
}

// HealthView is a callback's health.
type HealthView struct {
	// FailingSince is the first failure after the last success; absent
	// when the callback is healthy.
	FailingSince *time.Time             `json:"failing_since,omitempty"`
	Breaker      *delivery.BreakerState `json:"breaker,omitempty"`
}

// BasicAuthView is basic_auth without its password.
type BasicAuthView struct {
	Username string `json:"username"`
}

// HMACView is hmac without its secret, but in the answer that made it.
type HMACView struct {
	Header    string `json:"header"`
	Algorithm string `json:"algorithm"`
	Encoding  string `json:"encoding"`
	Prefix    string `json:"prefix,omitempty"`
	Secret    string `json:"secret,omitempty"`
}

// DeliveryView is a delivery as the API shows it.
type DeliveryView struct {
	ID string `json:"id"`
	// MessageID is the webhook-id, shared by the deliveries of one event.
	MessageID     string          `json:"message_id"`
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

// AttemptView is one attempt of a delivery. The receiver's answer takes
// the forms of a task's result (see handler.AnswerOf): UTF-8 text in
// response, anything else in response_base64.
type AttemptView struct {
	At                time.Time           `json:"at"`
	StatusCode        int                 `json:"status_code,omitempty"`
	LatencyMS         float64             `json:"latency_ms"`
	Error             string              `json:"error,omitempty"`
	Response          string              `json:"response,omitempty"`
	ResponseBase64    string              `json:"response_base64,omitempty"`
	ResponseTruncated bool                `json:"response_truncated,omitempty"`
	ResponseHeaders   map[string][]string `json:"response_headers,omitempty"`
}

// KeyView is an API key as the API shows it: never the key itself, but
// in the answer that mints it.
type KeyView struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Name   string `json:"name,omitempty"`
	// Agents is absent for a key that sees every agent.
	Agents    []string   `json:"agents,omitempty"`
	ReadOnly  bool       `json:"read_only"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Key       string     `json:"key,omitempty"`
}

// Where a key comes from.
const (
	sourceConfig = "config"
	sourceAPI    = "api"
)

func configKeyView(id string, s Scope) KeyView {
	return KeyView{ID: id, Source: sourceConfig, Agents: s.Agents, ReadOnly: s.ReadOnly}
}

func mintedKeyView(k *store.APIKey) KeyView {
	created := k.CreatedAt.UTC()
	v := KeyView{ID: k.ID, Source: sourceAPI, Name: k.Name, Agents: k.Agents, ReadOnly: k.ReadOnly,
		CreatedBy: k.CreatedBy, CreatedAt: &created}
	if !k.ExpiresAt.IsZero() {
		exp := k.ExpiresAt.UTC()
		v.ExpiresAt = &exp
	}
	return v
}

func attemptView(at store.Attempt) AttemptView {
	return AttemptView{At: at.At.UTC(), StatusCode: at.StatusCode, LatencyMS: float64(at.Latency.Microseconds()) / 1000,
		Error: at.Error, Response: at.Response, ResponseBase64: at.ResponseBase64, ResponseTruncated: at.ResponseTruncated,
		ResponseHeaders: at.ResponseHeader}
}

func registrationView(r *store.Registration, now time.Time) WebhookView {
	created, updated := r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	o := r.Options
	v := WebhookView{
		ID: r.ID, AgentID: r.Agent, URL: r.URL, Method: r.Method, Status: r.Status,
		Format: r.Format, Ordered: r.Ordered, Source: "api", DisabledReason: r.DisabledReason,
		Events: eventsOf(o.Events), Filter: o.Filter, Endpoint: o.Endpoint, Headers: headersView(o.Headers),
		Signature: "v1", Concurrency: o.Concurrency, RetrySchedule: scheduleView(o.RetrySchedule), RateLimit: o.RateLimit,
		CreatedAt: &created, UpdatedAt: &updated,
	}
	if strings.HasPrefix(r.Secret, "whsk_") {
		v.Signature = "v1a"
		v.PublicKey, _ = signing.Ed25519PublicKey(r.Secret)
	}
	if o.Timeout > 0 {
		v.Timeout = o.Timeout.String()
	}
	if o.BasicAuth != nil {
		v.BasicAuth = &BasicAuthView{Username: o.BasicAuth.Username}
	}
	if h := o.HMAC; h != nil {
		v.HMAC = &HMACView{Header: or(h.Header, "x-signature"), Algorithm: or(h.Algorithm, "sha256"), Encoding: or(h.Encoding, "hex"), Prefix: h.Prefix}
	}
	for _, p := range o.PreviousSecrets {
		if p.Until.After(now) && (v.PreviousSecretsExpireAt == nil || p.Until.After(*v.PreviousSecretsExpireAt)) {
			u := p.Until.UTC()
			v.PreviousSecretsExpireAt = &u
		}
	}
	return v
}

// eventsOf spells out a callback's events, the default included.
func eventsOf(events []string) []string {
	if len(events) == 0 {
		return append([]string(nil), delivery.DefaultEvents...)
	}
	return append([]string(nil), events...)
}

func scheduleView(s []time.Duration) []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s))
	for i, d := range s {
		out[i] = d.String()
	}
	return out
}

// credentialName matches header names that likely carry a credential:
// their values are not shown.
var credentialName = regexp.MustCompile(`(?i)auth|token|key|secret|signature|password|cookie|credential|session`)

// redacted stands for a header value that is not shown.
const redacted = "(hidden)"

func headersView(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := make(map[string]string, len(h))
	for k, vs := range h {
		if credentialName.MatchString(k) {
			m[k] = redacted
			continue
		}
		m[k] = strings.Join(vs, ", ")
	}
	return m
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func deliveryView(d *store.Delivery, full bool) DeliveryView {
	v := DeliveryView{
		ID: d.ID, MessageID: d.WebhookID(), TaskID: d.TaskID, AgentID: d.Agent, ChatID: d.ChatID, CallbackID: d.CallbackID,
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
			v.Attempts = append(v.Attempts, attemptView(at))
		}
		if json.Valid(d.Payload) {
			v.Payload = d.Payload
		}
	}
	return v
}
