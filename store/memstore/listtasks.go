package memstore

import (
	"context"
	"slices"

	"github.com/agenthook/agenthook/store"
)

// ListTasks implements store.Tasks: newest first, without request and
// result bodies.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*store.Task
	for id, t := range s.tasks {
		if !f.Matches(t) || !f.After.Admits(t.CreatedAt, t.ID) || s.liveTask(id) == nil {
			continue
		}
		c := copyTask(t, false)
		if c.Result != nil {
			c.Result.Body = nil
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *store.Task) int {
		return store.NewerFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
