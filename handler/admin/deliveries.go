package admin

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// Paging. The store lists the newest deliveries of one agent up to a
// limit and has no cursor yet, so a page is cut from the newest
// maxScan of each agent; the cursor is opaque to clients, so that it can
// become a store cursor without changing them.
const (
	defaultPage = 50
	maxPage     = 500
	maxScan     = 1000
)

// DeliveryPage is the answer of GET deliveries.
type DeliveryPage struct {
	Data []DeliveryView `json:"data"`
	// NextCursor, when set, fetches the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

func listDeliveries(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	q := r.URL.Query()
	st := store.DeliveryStatus(cmp.Or(q.Get("status"), string(store.DeliveryFailed)))
	switch st {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "status must be failed, pending or delivered")
	}
	limit := defaultPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "limit must be between 1 and %d", maxPage)
		}
		limit = n
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "o"))
		if !strings.HasPrefix(c, "o") || err != nil || n < 0 {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "cursor is not one this route handed out")
		}
		offset = n
	}
	if offset+limit > maxScan {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest,
			"pages reach the %d newest deliveries of each agent; narrow the list with agent or status", maxScan)
	}
	agents, err := rt.agentsOf(q.Get("agent"))
	if err != nil {
		return err
	}
	var all []*store.Delivery
	for _, agent := range agents {
		ds, err := rt.Store.ListDeliveries(r.Context(), store.DeliveryFilter{Agent: agent, Status: st, Limit: offset + limit + 1})
		if err != nil {
			return handler.StoreError(err)
		}
		all = append(all, ds...)
	}
	// Newest first across agents, as the store orders one agent's: dead
	// letters by when they failed, others by when they were made.
	when := func(d *store.Delivery) time.Time {
		if st == store.DeliveryFailed {
			return d.UpdatedAt
		}
		return d.CreatedAt
	}
	slices.SortFunc(all, func(a, b *store.Delivery) int {
		return cmp.Or(when(b).Compare(when(a)), cmp.Compare(b.ID, a.ID))
	})
	page := DeliveryPage{Data: []DeliveryView{}}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		page.Data = append(page.Data, deliveryView(all[i], false))
	}
	if len(all) > offset+limit && offset+limit < maxScan {
		page.NextCursor = "o" + strconv.Itoa(offset+limit)
	}
	handler.WriteJSON(w, http.StatusOK, page)
	return nil
}

func getDelivery(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	id := r.PathValue("id")
	if !handler.ValidID(id) {
		return handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such delivery")
	}
	d, err := rt.Store.GetDelivery(r.Context(), id)
	if err != nil {
		return storeErr(err, "delivery")
	}
	handler.WriteJSON(w, http.StatusOK, deliveryView(d, true))
	return nil
}

func retryDelivery(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	id := r.PathValue("id")
	if !handler.ValidID(id) {
		return handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no such delivery")
	}
	d, err := rt.Store.RetryDelivery(r.Context(), id)
	if err != nil {
		return storeErr(err, "delivery")
	}
	handler.WriteJSON(w, http.StatusAccepted, deliveryView(d, false))
	return nil
}
