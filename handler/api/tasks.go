package api

import (
	"errors"
	"net/http"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func (a *API) getTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	taskNotFound := handler.Errorf(http.StatusNotFound, handler.CodeTaskNotFound, "no such task")
	if !handler.ValidID(id) {
		return taskNotFound
	}
	t, err := a.Store.GetTask(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return taskNotFound
	}
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusOK, handler.ViewOf(t))
	return nil
}
