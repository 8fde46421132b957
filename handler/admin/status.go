package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func counts(ctx context.Context, rt *Runtime) (Counts, error) {
	var c Counts
	var err error
	if c.Tasks.Pending, c.Tasks.Started, err = rt.Store.TaskCounts(ctx); err != nil {
		return c, handler.StoreError(err)
	}
	if c.Deliveries.Pending, c.Deliveries.Failed, err = rt.Store.DeliveryCounts(ctx); err != nil {
		return c, handler.StoreError(err)
	}
	return c, nil
}

func status(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	c, err := counts(r.Context(), rt)
	if err != nil {
		return err
	}
	cbs, err := callbacks(r.Context(), rt, "")
	if err != nil {
		return err
	}
	s := Status{Counts: c, Agents: make([]AgentStatus, 0, len(rt.Agents))}
	byAgent := map[string]map[string]int{}
	for _, name := range rt.Agents {
		byAgent[name] = map[string]int{}
	}
	for _, cb := range cbs {
		if m := byAgent[cb.Agent]; m != nil {
			m[cb.Status]++
		}
	}
	for _, name := range rt.Agents {
		s.Agents = append(s.Agents, AgentStatus{Name: name, Callbacks: byAgent[name]})
	}
	handler.WriteJSON(w, http.StatusOK, s)
	return nil
}

func taskCounts(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	c, err := counts(r.Context(), rt)
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, c.Tasks)
	return nil
}

func getTask(w http.ResponseWriter, r *http.Request, rt *Runtime) error {
	id := r.PathValue("id")
	notFound := handler.Errorf(http.StatusNotFound, handler.CodeTaskNotFound, "no such task")
	if !handler.ValidID(id) {
		return notFound
	}
	t, err := rt.Store.GetTask(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return handler.StoreError(err)
	}
	handler.WriteJSON(w, http.StatusOK, taskView(t))
	return nil
}
