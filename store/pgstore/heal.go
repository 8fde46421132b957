package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Head repair.
//
// Claims read only head tasks (see 0006_task_heads.sql), so a chat whose
// unfinished tasks have no head would never run. That happens when an
// instance of an older version shares the database: it inserts tasks
// without setting head and finishes them without moving it. It would
// also happen after any bug in head maintenance. repairHeads finds such
// chats and marks their first unfinished task, so that they are picked up
// within headRepairInterval; it also clears the head of finished tasks
// that an older instance left marked.

const (
	// headRepairInterval is how often the maintenance loop repairs heads:
	// the longest a task created or finished by an older instance (during
	// a rolling upgrade) waits before a newer instance can claim it. When
	// nothing is stranded a repair costs one walk of chats (see
	// repairScanSQL), so a few seconds cost little.
	headRepairInterval = 5 * time.Second
	// headRepairChats bounds the chats one repair looks at, so that one
	// statement never walks a whole large backlog; a cursor carries the
	// walk on from the next repair.
	headRepairChats = 1000
)

// repairScanSQL walks the chats that have unfinished tasks, in chat_id
// order after $1, at most $2 of them, with a skip scan of the index
// agenthook_tasks_chat (chat_id, seq): each step is one index descent to
// the next chat's first unfinished task. It returns the chats whose first
// unfinished task is not a head and that have no unfinished head at all,
// and the last chat walked (in a row with stranded false) unless the walk
// reached the end. It reads only, without locks: repairHeadsSQL checks
// again under the chats' head locks.
const repairScanSQL = `
	WITH RECURSIVE walk(chat_id, head, n) AS (
		(SELECT chat_id, head, 1 FROM agenthook_tasks
			WHERE status IN ('PENDING', 'STARTED') AND chat_id > $1
			ORDER BY chat_id, seq LIMIT 1)
		UNION ALL
		SELECT nx.chat_id, nx.head, w.n + 1 FROM walk w, LATERAL (
			SELECT chat_id, head FROM agenthook_tasks
			WHERE status IN ('PENDING', 'STARTED') AND chat_id > w.chat_id
			ORDER BY chat_id, seq LIMIT 1) nx
		WHERE w.n < $2)
	SELECT w.chat_id, true FROM walk w
	WHERE NOT w.head AND NOT EXISTS (SELECT 1 FROM agenthook_tasks h
		WHERE h.chat_id = w.chat_id AND h.head AND h.status IN ('PENDING', 'STARTED'))
	UNION ALL
	(SELECT chat_id, false FROM walk WHERE n = $2)`

// repairHeadsSQL marks the first unfinished task of each chat of $1 that
// has no unfinished head. It runs after the chats' head locks, so its
// snapshot sees every insert and finish that held them, and none can run
// until it commits: a chat never gets two heads.
const repairHeadsSQL = `
	UPDATE agenthook_tasks t SET head = true
	FROM unnest($1::text[]) AS c(chat_id), LATERAL (
		SELECT f.id FROM agenthook_tasks f
		WHERE f.chat_id = c.chat_id AND f.status IN ('PENDING', 'STARTED')
		ORDER BY f.seq LIMIT 1) first
	WHERE t.id = first.id AND NOT t.head AND NOT EXISTS (SELECT 1 FROM agenthook_tasks h
		WHERE h.chat_id = c.chat_id AND h.head AND h.status IN ('PENDING', 'STARTED'))`

// clearFinishedHeadsSQL unmarks finished tasks left marked by an older
// instance's finish (every finish sets due_at to NULL, and unfinished
// tasks always have one), so they do not linger in the head index. One
// descent of agenthook_tasks_head finds them; none are there normally.
const clearFinishedHeadsSQL = `
	UPDATE agenthook_tasks SET head = false
	WHERE id IN (SELECT id FROM agenthook_tasks WHERE head AND due_at IS NULL
		AND status NOT IN ('PENDING', 'STARTED') LIMIT $1 FOR UPDATE SKIP LOCKED)`

// repairHeads runs one repair over at most chats chats and returns how
// many heads it marked. after is the walk's cursor: the last chat walked
// by the previous repair, "" to start from the first; the returned cursor
// is for the next one.
func (s *Store) repairHeads(ctx context.Context, after string, chats int) (marked int, next string, err error) {
	rows, err := s.pool.Query(ctx, repairScanSQL, after, chats)
	if err != nil {
		return 0, after, wrapErr("finding chats without a head", err)
	}
	var stranded []string
	var chat string
	var isStranded bool
	_, err = pgx.ForEachRow(rows, []any{&chat, &isStranded}, func() error {
		if isStranded {
			stranded = append(stranded, chat)
		} else {
			next = chat
		}
		return nil
	})
	if err != nil {
		return 0, after, wrapErr("finding chats without a head", err)
	}
	if _, err := s.pool.Exec(ctx, clearFinishedHeadsSQL, chats); err != nil {
		return 0, next, wrapErr("clearing finished heads", err)
	}
	if len(stranded) == 0 {
		return 0, next, nil
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The head locks, in hashtext order as inserts take them.
		if _, err := tx.Exec(ctx, `SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM
			(SELECT DISTINCT hashtext(c) AS k FROM unnest($2::text[]) AS c ORDER BY 1) AS ks`,
			lockClassHead, stranded); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, repairHeadsSQL, stranded)
		marked = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, next, wrapErr("repairing heads", err)
	}
	if marked > 0 {
		s.log.Info("marked the head task of chats that had none", zap.Int("chats", marked))
		s.changed(true, false)
	}
	return marked, next, nil
}

// repairHeadsLogged runs repairHeads and logs its failure, which the next
// repair retries.
func (s *Store) repairHeadsLogged(ctx context.Context, after string) (string, error) {
	_, next, err := s.repairHeads(ctx, after, headRepairChats)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("cannot repair task heads", errField(err))
	}
	return next, err
}
