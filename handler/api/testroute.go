package api

import (
	"errors"
	"net/http"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
)

// testInput is the body of the test route; it may be left out.
type testInput struct {
	// EventType is the example's type; default the first the callback
	// receives.
	EventType *string `json:"event_type"`
}

// TestView is the outcome of a test event.
type TestView struct {
	EventType  string  `json:"event_type"`
	MessageID  string  `json:"message_id"`
	Delivered  bool    `json:"delivered"`
	StatusCode int     `json:"status_code,omitempty"`
	LatencyMS  float64 `json:"latency_ms"`
	// Response is the start of the receiver's answer.
	Response string `json:"response,omitempty"`
	Error    string `json:"error,omitempty"`
}

// testWebhook sends a signed example event to a callback, static or
// registered, whatever its status, and answers with what came of it. It
// is neither queued, retried nor counted against the callback's health.
func (a *API) testWebhook(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	id := r.PathValue("id")
	var in testInput
	if r.ContentLength != 0 {
		if err := readJSON(r, &in); err != nil {
			return err
		}
	}
	cb := a.staticCallback(agent.Name, id)
	if cb == nil {
		if _, err := a.registration(r.Context(), agent.Name, id); err != nil {
			return err
		}
		var err error
		cb, err = a.Registry.Lookup(r.Context(), agent.Name, id)
		if errors.Is(err, delivery.ErrCallbackGone) {
			return notFound("no such webhook")
		}
		if err != nil {
			return handler.StoreError(err)
		}
	}
	typ := eventsOf(cb.Events)[0]
	if in.EventType != nil {
		if err := delivery.CheckEvents([]string{*in.EventType}); err != nil {
			return badRequest("event_type: %s", err.Error())
		}
		typ = *in.EventType
	}
	if a.Tester == nil {
		return handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "test events cannot be sent now")
	}
	res, err := a.Tester.SendTest(r.Context(), cb, typ)
	if err != nil {
		return handler.StoreError(err)
	}
	att := res.Attempt
	handler.WriteJSON(w, http.StatusOK, TestView{
		EventType: res.EventType, MessageID: res.MessageID, Delivered: att.StatusCode >= 200 && att.StatusCode < 300,
		StatusCode: att.StatusCode, LatencyMS: float64(att.Latency.Microseconds()) / 1000, Response: att.Response, Error: att.Error,
	})
	return nil
}

// eventTypes lists the event types with the JSON Schema of their bodies.
func (a *API) eventTypes(w http.ResponseWriter, r *http.Request) error {
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": delivery.EventTypes()})
	return nil
}
