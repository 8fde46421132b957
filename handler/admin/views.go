package admin

import (
	"time"

	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// Counts are the queue depths: tasks waiting and running, deliveries
// waiting and dead-lettered.
type Counts struct {
	Tasks      TaskCounts     `json:"tasks"`
	Deliveries DeliveryCounts `json:"deliveries"`
}

// TaskCounts counts the tasks not finished.
type TaskCounts struct {
	Pending int `json:"pending"`
	Started int `json:"started"`
}

// DeliveryCounts counts the deliveries not delivered.
type DeliveryCounts struct {
	Pending int `json:"pending"`
	Failed  int `json:"failed"`
}

// Status is the answer of GET status.
type Status struct {
	Counts
	Agents []AgentStatus `json:"agents"`
}

// AgentStatus is what is cheap to know of one agent: its callbacks by
// status. (Counts per agent would need a count the store does not keep.)
type AgentStatus struct {
	Name      string         `json:"name"`
	Callbacks map[string]int `json:"callbacks"`
}

// TaskView is a task without its request or result.
type TaskView struct {
	ID           string     `json:"id"`
	Agent        string     `json:"agent"`
	ChatID       string     `json:"chat_id"`
	Endpoint     string     `json:"endpoint,omitempty"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	Error        string     `json:"error,omitempty"`
	ResultStatus int        `json:"result_status,omitempty"`
	ResultBytes  int        `json:"result_bytes,omitempty"`
	RunAfter     *time.Time `json:"run_after,omitempty"`
	LeaseOwner   string     `json:"lease_owner,omitempty"`
	LeaseUntil   *time.Time `json:"lease_until,omitempty"`
	Traceparent  string     `json:"traceparent,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// DeliveryView is a delivery without its payload.
type DeliveryView struct {
	ID            string        `json:"id"`
	TaskID        string        `json:"task_id"`
	Agent         string        `json:"agent"`
	ChatID        string        `json:"chat_id,omitempty"`
	CallbackID    string        `json:"callback_id"`
	EventType     string        `json:"event_type"`
	Status        string        `json:"status"`
	AttemptCount  int           `json:"attempt_count"`
	NextAttemptAt *time.Time    `json:"next_attempt_at,omitempty"`
	LastError     string        `json:"last_error,omitempty"`
	PayloadBytes  int           `json:"payload_bytes,omitempty"`
	Attempts      []AttemptView `json:"attempts,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

// AttemptView is one attempt of a delivery.
type AttemptView struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// CallbackView is one callback and whether deliveries go to it.
type CallbackView struct {
	ID     string `json:"id"`
	Agent  string `json:"agent"`
	Source string `json:"source"` // config or api
	// URL is a static callback's origin only (its path and query often
	// hold a secret), a registration's whole URL.
	URL          string     `json:"url"`
	Status       string     `json:"status"`
	Reason       string     `json:"reason,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func taskView(t *store.Task) TaskView {
	v := TaskView{
		ID: t.ID, Agent: t.Agent, ChatID: t.ChatID, Endpoint: t.Endpoint, Status: string(t.Status),
		Attempts: t.Attempts, Error: t.Error, Traceparent: t.Meta[tracing.MetaTraceparent],
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), FinishedAt: timePtr(t.FinishedAt),
	}
	if t.Result != nil {
		v.ResultStatus, v.ResultBytes = t.Result.StatusCode, len(t.Result.Body)
	}
	switch t.Status {
	case store.TaskPending:
		v.RunAfter = timePtr(t.RunAfter)
	case store.TaskStarted:
		v.LeaseOwner, v.LeaseUntil = t.LeaseOwner, timePtr(t.LeaseUntil)
	}
	return v
}

func deliveryView(d *store.Delivery, full bool) DeliveryView {
	v := DeliveryView{
		ID: d.ID, TaskID: d.TaskID, Agent: d.Agent, ChatID: d.ChatID, CallbackID: d.CallbackID,
		EventType: d.EventType, Status: string(d.Status), AttemptCount: d.AttemptCount, LastError: d.LastError,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.Status == store.DeliveryPending {
		v.NextAttemptAt = timePtr(d.NextAttemptAt)
	}
	if full {
		v.PayloadBytes = len(d.Payload)
		for _, at := range d.Attempts {
			v.Attempts = append(v.Attempts, AttemptView{At: at.At.UTC(), StatusCode: at.StatusCode, LatencyMS: float64(at.Latency.Microseconds()) / 1000, Error: at.Error})
		}
	}
	return v
}
