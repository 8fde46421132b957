package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/agenthook/agenthook/store"
)

// ListTasks implements store.Tasks.
func (s *Store) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validText(f.ChatID) || !validText(string(f.Status)) || (f.After != nil && !validText(f.After.ID)) {
		return nil, nil // no stored task has it
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	q := &query{}
	q.where(`(t.expires_at IS NULL OR t.expires_at > `, s.clock(), `)`)
	if len(f.Agents) > 0 {
		q.where(`t.agent = ANY(`, validTexts(f.Agents), `)`)
	}
	q.whereSet(`t.chat_id = `, f.ChatID)
	q.whereSet(`t.status = `, string(f.Status))
	q.timeRange(`t.created_at`, f.Since, f.Until)
	q.after(`t.created_at`, `t.id`, f.After)
	rows, err := s.pool.Query(ctx, `SELECT `+taskColsNoBodies+` FROM agenthook_tasks t
		WHERE `+q.sql()+` ORDER BY t.created_at DESC, t.id COLLATE "C" DESC LIMIT `+q.arg(limit), q.args...)
	if err != nil {
		return nil, wrapErr("listing tasks", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Task, error) { return scanTask(row) })
	return out, wrapErr("listing tasks", err)
}
