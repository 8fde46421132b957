package api

import (
	"errors"
	"net/http"
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
		return badParam("status must be pending, delivered or failed")
	}
	var err error
	if f.CallbackID, err = idParam(q, "callback"); err != nil {
		return err
	}
	if f.TaskID, err = idParam(q, "task"); err != nil {
		return err
	}
	if f.ChatID, err = idParam(q, "chat"); err != nil {
		return err
	}
	if f.EventType, err = eventParam(q); err != nil {
		return err
	}
	if f.Since, f.Until, err = timeRange(q); err != nil {
		return err
	}
	limit, err := pageLimit(q)
	if err != nil {
		return err
	}
	// Dead letters are listed by the time they failed, so their cursors
	// are of another listing.
	listing := listDeliveries
	if f.Status == store.DeliveryFailed {
		listing = listDeadLetters
	}
	if f.After, err = decodeCursor(listing, q.Get("cursor")); err != nil {
		return err
	}
	// One more than the page tells whether there is a next one.
	f.Limit = limit + 1
	ds, err := a.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		return handler.StoreError(err)
	}
	out := page[DeliveryView]{Data: make([]DeliveryView, 0, min(len(ds), limit))}
	for i, d := range ds {
		if i == limit {
			last := ds[i-1]
			out.NextCursor = encodeCursor(listing, store.Position{At: f.ListTime(last), ID: last.ID})
			break
		}
		out.Data = append(out.Data, deliveryView(d, false))
	}
	handler.WriteJSON(w, http.StatusOK, out)
	return nil
}

// recoverInput is the body of POST .../deliveries/recover.
type recoverInput struct {
	Since    *string `json:"since"`
	Until    *string `json:"until"`
	Callback *string `json:"callback"`
	DryRun   bool    `json:"dry_run"`
}

func (a *API) recover(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	var in recoverInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	// since stays required: a recover without it would replay every dead
	// letter kept, which is rarely what a tired operator meant.
	if in.Since == nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "since is required, as an RFC 3339 time")
	}
	f := store.RecoverFilter{Agent: agent.Name, DryRun: in.DryRun}
	var err error
	if f.Since, err = bodyTime(*in.Since, "since"); err != nil {
		return err
	}
	if in.Until != nil {
		if f.Until, err = bodyTime(*in.Until, "until"); err != nil {
			return err
		}
	}
	if err := checkRange(f.Since, f.Until); err != nil {
		return err
	}
	if in.Callback != nil {
		if !handler.ValidID(*in.Callback) {
			return badParam("callback must be a callback id, such as wh_… or cfg-<agent>-<n>")
		}
		f.CallbackID = *in.Callback
	}
	n, err := a.Store.RecoverDeliveries(r.Context(), f)
	if err != nil {
		return handler.StoreError(err)
	}
	if f.DryRun {
		handler.WriteJSON(w, http.StatusOK, map[string]any{"dry_run": true, "matched": n})
		return nil
	}
	handler.WriteJSON(w, http.StatusAccepted, map[string]int{"recovered": n})
	return nil
}

func bodyTime(s, name string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam("%s must be an RFC 3339 time, such as 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

// delivery reads a delivery the request's key sees: the others do not
// exist for it.
func (a *API) delivery(r *http.Request) (*store.Delivery, error) {
	id := r.PathValue("id")
	if !handler.ValidID(id) {
		return nil, notFound("no such delivery")
	}
	d, err := a.Store.GetDelivery(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !callerOf(r).sees(d.Agent)) {
		return nil, notFound("no such delivery")
	}
	if err != nil {
		return nil, handler.StoreError(err)
	}
	return d, nil
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := a.delivery(r)
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, deliveryView(d, true))
	return nil
}

func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	// Looked up first, so that a key limited to other agents finds
	// nothing to retry (404), read-only or not, as on the agents' routes.
	if _, err := a.delivery(r); err != nil {
		return err
	}
	if callerOf(r).ReadOnly {
		return forbidden("this API key is read-only")
	}
	d, err := a.Store.RetryDelivery(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such delivery")
	}
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusAccepted, deliveryView(d, false))
	return nil
}
