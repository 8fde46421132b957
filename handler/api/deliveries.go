package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	q := r.URL.Query()
	f := store.DeliveryFilter{Agent: agent.Name, Status: store.DeliveryStatus(q.Get("status"))}
	switch f.Status {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "status must be pending, delivered or failed")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "limit must be between 1 and 1000")
		}
		f.Limit = n
	}
	ds, err := a.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		return handler.StoreError(err)
	}
	data := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		data = append(data, deliveryView(d, false))
	}
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

func (a *API) recover(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	var in struct {
		Since *string `json:"since"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "since is required, as an RFC 3339 time")
	}
	since, err := time.Parse(time.RFC3339Nano, *in.Since)
	if err != nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "since must be an RFC 3339 time, such as 2026-01-02T15:04:05Z")
	}
	n, err := a.Store.RecoverDeliveries(r.Context(), agent.Name, since)
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusAccepted, map[string]int{"recovered": n})
	return nil
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !handler.ValidID(id) {
		return notFound("no such delivery")
	}
	d, err := a.Store.GetDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such delivery")
	}
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusOK, deliveryView(d, true))
	return nil
}

func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !handler.ValidID(id) {
		return notFound("no such delivery")
	}
	d, err := a.Store.RetryDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such delivery")
	}
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusAccepted, deliveryView(d, false))
	return nil
}
