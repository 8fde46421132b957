package api

import (
	"encoding/json"
	"time"

	"github.com/agenthook/agenthook/store"
)

// WebhookView is a registration as the API shows it. The secret is only
// present in the answer to its creation.
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

func registrationView(r *store.Registration) WebhookView {
	created, updated := r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return WebhookView{
		ID: r.ID, AgentID: r.Agent, URL: r.URL, Method: r.Method, Status: r.Status,
		Format: r.Format, Ordered: r.Ordered, Source: "api", DisabledReason: r.DisabledReason,
		CreatedAt: &created, UpdatedAt: &updated,
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
			v.Attempts = append(v.Attempts, attemptView(at))
		}
		if json.Valid(d.Payload) {
			v.Payload = d.Payload
		}
	}
	return v
}
