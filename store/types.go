package store

import (
	"net/http"
	"time"
)

// Chat maps an id handed to callers to the backend's own conversation id.
// It is bound to the agent and the principal that created it, so one
// caller cannot continue another's chat.
type Chat struct {
	ID             string    `json:"id"`
	Agent          string    `json:"agent"`
	Principal      string    `json:"principal"`
	ConversationID string    `json:"conversation_id,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
}

// TaskStatus follows DocsGPT's task states.
type TaskStatus string

// The task states, in the order a task moves through them.
const (
	TaskPending TaskStatus = "PENDING"
	TaskStarted TaskStatus = "STARTED"
	TaskSuccess TaskStatus = "SUCCESS"
	TaskFailure TaskStatus = "FAILURE"
)

// Final reports whether the status is SUCCESS or FAILURE.
func (s TaskStatus) Final() bool { return s == TaskSuccess || s == TaskFailure }

// Task is one accepted asynchronous request to an agent.
type Task struct {
	ID        string `json:"id"`
	Agent     string `json:"agent"`
	ChatID    string `json:"chat_id"`
	Principal string `json:"principal"`
	// Endpoint names the agenthook handler that accepted the task, for
	// metrics and logs.
	Endpoint string `json:"endpoint,omitempty"`
	// Seq orders the tasks of one chat. The engine assigns it.
	Seq    int64      `json:"seq,omitzero"`
	Status TaskStatus `json:"status"`

	Request Request `json:"request"`
	Result  *Result `json:"result,omitempty"`
	// Error is the last failure, readable by the caller that polls.
	Error string `json:"error,omitempty"`

	// Attempts counts the backend calls started, including the one under
	// way when STARTED.
	Attempts   int       `json:"attempts,omitzero"`
	RunAfter   time.Time `json:"run_after,omitzero"`
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`

	CreatedAt  time.Time `json:"created_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ExpiresAt is set when the task is final: it is gone after it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// Sensitive keeps bodies out of logs (Cognigy's
	// disableSensitiveLogging, or the endpoint's own setting).
	Sensitive bool `json:"sensitive,omitempty"`
	// Meta carries small per-format values such as Cognigy's userId and
	// sessionId, needed later to shape callback payloads.
	Meta map[string]string `json:"meta,omitempty"`
}

// Request is what the worker sends to the backend, as the caller sent it.
type Request struct {
	Method   string      `json:"method"`
	Host     string      `json:"host,omitempty"`
	Path     string      `json:"path"`
	RawQuery string      `json:"raw_query,omitempty"`
	Header   http.Header `json:"header,omitempty"`
	// RemoteAddr is the caller's address, so the backend's
	// X-Forwarded-For names the caller, not agenthook.
	RemoteAddr string `json:"remote_addr,omitempty"`
	Body       []byte `json:"-"`
}

// Result is the backend's answer to a task.
type Result struct {
	StatusCode  int    `json:"status_code"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"-"`
}

// NewTask is the input of CreateTask.
type NewTask struct {
	Task *Task
	// Chat, if set, is created or replaced in the same transaction, so a
	// chat id handed out with a 202 always resolves.
	Chat        *Chat
	Idempotency *Idempotency
}

// Idempotency remembers the first answer to an Idempotency-Key.
type Idempotency struct {
	// Key is already scoped by the caller (principal, agent, header value)
	// and may be hashed; engines treat it as opaque.
	Key string
	// Fingerprint identifies the request body; a different fingerprint
	// under the same key is a mismatch.
	Fingerprint string
	ExpiresAt   time.Time
}

// Created is the result of CreateTask.
type Created struct {
	Task     *Task
	Replayed bool
}

// Claim is the input of ClaimTasks.
type Claim struct {
	Owner  string
	Agents []string
	Limit  int
	Lease  time.Duration
}

// TaskFinish is the input of FinishTask.
type TaskFinish struct {
	ID     string
	Owner  string
	Status TaskStatus
	Result *Result
	Error  string
	// ConversationID, if set, becomes the chat's conversation id, and
	// ChatExpiresAt its new expiry.
	ConversationID string
	ChatExpiresAt  time.Time
	// ExpiresAt is when the finished task (and its result) is dropped.
	ExpiresAt  time.Time
	Deliveries []*Delivery
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// The delivery states.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one result on its way to one callback URL.
type Delivery struct {
	// ID names this one delivery.
	ID string `json:"id"`
	// MessageID is the Standard Webhooks webhook-id, stable across
	// retries. One event has one, shared by all of its deliveries, so that
	// a receiver behind several callbacks can drop duplicates. Deliveries
	// stored before events had their own id have none: their ID stands in
	// (see WebhookID).
	MessageID string `json:"message_id,omitempty"`
	// TaskID is the task the event is about; empty for operational events
	// that concern no task.
	TaskID string `json:"task_id"`
	Agent  string `json:"agent"`
	ChatID string `json:"chat_id,omitempty"`
	// CallbackID names a static callback from the config or a
	// registration id.
	CallbackID string `json:"callback_id"`
	// OrderKey, when set, makes deliveries that share it go one at a time
	// in creation order.
	OrderKey  string         `json:"order_key,omitempty"`
	Seq       int64          `json:"seq,omitzero"`
	EventType string         `json:"event_type"`
	Payload   []byte         `json:"-"`
	Status    DeliveryStatus `json:"status"`
	// Hops is the delivery's place in a chain of agenthook installations
	// calling each other back: the hops of the request that made its task,
	// plus one. It goes out as X-Agenthook-Hops, so that a loop through
	// other installations ends at their hop limit.
	Hops int `json:"hops,omitempty"`

	Attempts      []Attempt `json:"attempts,omitempty"`
	AttemptCount  int       `json:"attempt_count,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LeaseOwner    string    `json:"lease_owner,omitempty"`
	LeaseUntil    time.Time `json:"lease_until,omitzero"`
	LastError     string    `json:"last_error,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RequeuedAt is when the delivery was last made pending again by hand
	// (retry, recover); the retry schedule starts over from there.
	RequeuedAt time.Time `json:"requeued_at,omitzero"`
}

// Attempt is one try at a delivery, kept for the dead-letter log.
type Attempt struct {
	At         time.Time     `json:"at,omitzero"`
	StatusCode int           `json:"status_code,omitempty"`
	Latency    time.Duration `json:"latency"`
	Error      string        `json:"error,omitempty"`
	// Response holds the first bytes of the answer when they are UTF-8
	// text; ResponseBase64 holds them in standard base64 otherwise.
	Response       string `json:"response,omitempty"`
	ResponseBase64 string `json:"response_base64,omitempty"`
	// ResponseTruncated is set when the answer was longer than what was
	// kept.
	ResponseTruncated bool `json:"response_truncated,omitempty"`
	// ResponseHeader holds some of the answer's headers (bounded, and
	// never Set-Cookie).
	ResponseHeader http.Header `json:"response_header,omitempty"`
}

// DeliveryClaim is the input of ClaimDeliveries.
type DeliveryClaim struct {
	Owner string
	Limit int
	Lease time.Duration
	// Skip lists callbacks that must not be handed out now (paused by the
	// circuit breaker, or at their concurrency limit).
	Skip []string
	// PerCallback caps how many deliveries of one callback one claim
	// returns (0: no cap), so one busy callback cannot take every slot.
	PerCallback int
	// SkipAgents lists agents whose deliveries must not be handed out now
	// (at their share of the claimer's workers), so that one agent's slow
	// receivers cannot hold every worker while another agent's deliveries
	// wait.
	SkipAgents []string
	// PerAgent caps how many deliveries of one agent one claim returns
	// (0: no cap).
	PerAgent int
}

// DeliveryOutcome is the input of RecordAttempt.
type DeliveryOutcome struct {
	ID            string
	Owner         string
	Attempt       Attempt
	Status        DeliveryStatus
	NextAttemptAt time.Time
	// ExpiresAt, for a final status, is when the delivery is dropped.
	ExpiresAt time.Time
}

// DeliveryFilter selects deliveries to list. Empty fields select any.
type DeliveryFilter struct {
	Agent      string
	Status     DeliveryStatus
	CallbackID string
	TaskID     string
	ChatID     string
	EventType  string
	// Since and Until bound the listing time (see ListTime): [Since,
	// Until).
	Since, Until time.Time
	// After, if set, starts the page after this position (the listing
	// time and id of the last delivery of the previous page).
	After *Position
	Limit int // 0: DefaultListLimit
}

// Registration is a callback URL registered through the management API,
// shaped after Tess's agent webhooks.
type Registration struct {
	ID     string `json:"id"`
	Agent  string `json:"agent_id"`
	URL    string `json:"url"`
	Method string `json:"method"`
	// Status is "active", "inactive", or "disabled" (set by agenthook when
	// the callback kept failing or answered 410).
	Status string `json:"status"`
	// Secret signs deliveries the Standard Webhooks way: whsec_... (v1,
	// HMAC-SHA256) or whsk_... (v1a, ed25519). It must be kept readable,
	// since it is needed to sign.
	Secret         string    `json:"secret"`
	Format         string    `json:"format,omitempty"`
	Ordered        bool      `json:"ordered,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
	// Options are the settings beyond Tess's fields: everything a
	// callback of the Caddyfile can carry.
	Options RegistrationOptions `json:"options,omitzero"`
}

// RegistrationOptions are a registration's subscription, authentication,
// signing and pacing. Zero values mean the defaults of a Caddyfile
// callback.
type RegistrationOptions struct {
	// Events are the event types the callback receives; empty means
	// task.succeeded and task.failed.
	Events []string `json:"events,omitempty"`
	// Filter is a jq expression over the event that must yield true for
	// the callback to receive it.
	Filter string `json:"filter,omitempty"`
	// Endpoint, if set, restricts task events to the tasks accepted by
	// the agenthook endpoint of that name.
	Endpoint string `json:"endpoint,omitempty"`
	// Headers are added to every delivery.
	Headers http.Header `json:"headers,omitempty"`
	// BasicAuth sends an Authorization: Basic header.
	BasicAuth *BasicCredentials `json:"basic_auth,omitempty"`
	// HMAC adds a signature of the body in one header.
	HMAC *HMACSettings `json:"hmac,omitempty"`
	// PreviousSecrets still sign next to Secret until their time is up:
	// the grace period of a rotation.
	PreviousSecrets []RetiredSecret `json:"previous_secrets,omitempty"`
	// Concurrency bounds the attempts in flight to the callback.
	Concurrency int `json:"concurrency,omitempty"`
	// RetrySchedule replaces the configured waits between attempts.
	RetrySchedule []time.Duration `json:"retry_schedule,omitempty"`
	// Timeout bounds one attempt, below the configured timeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// RateLimit paces deliveries to at most this many per second.
	RateLimit float64 `json:"rate_limit,omitempty"`
}

// BasicCredentials are a user and password a callback sends.
type BasicCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// HMACSettings sign a delivery's body in one header (see
// signing.HMACConfig for the defaults).
type HMACSettings struct {
	Secret    string `json:"secret"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
}

// RetiredSecret is a signing secret replaced by a rotation; deliveries
// are signed with it too until Until.
type RetiredSecret struct {
	Secret string    `json:"secret"`
	Until  time.Time `json:"until"`
}

// CallbackState is the health of one callback.
type CallbackState struct {
	ID    string `json:"id"`
	Agent string `json:"agent"`
	// FailingSince is the first failure after the last success; zero when
	// the callback is healthy.
	FailingSince time.Time `json:"failing_since,omitzero"`
	Disabled     bool      `json:"disabled,omitempty"`
	DisabledAt   time.Time `json:"disabled_at,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// WebhookID is the delivery's webhook-id: its event's message id, or,
// for a delivery stored before events had one, its own id.
func (d *Delivery) WebhookID() string {
	if d.MessageID != "" {
		return d.MessageID
	}
	return d.ID
}
