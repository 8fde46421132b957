package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// checkDeliveries refuses deliveries that cannot be stored, before the
// transaction starts, so that FinishTask fails whole.
func checkDeliveries(ds []*store.Delivery) error {
	seen := make(map[string]bool, len(ds))
	for _, d := range ds {
		if d == nil || d.ID == "" || d.CallbackID == "" {
			return store.Invalid("a delivery needs an id and a callback id")
		}
		for _, f := range []string{d.ID, d.MessageID, d.TaskID, d.Agent, d.ChatID, d.CallbackID, d.OrderKey, d.EventType} {
			if !validText(f) {
				return store.Invalid("delivery fields must be valid UTF-8 without NUL")
			}
		}
		if seen[d.ID] {
			return store.Invalid("a delivery id is listed twice")
		}
		seen[d.ID] = true
		if err := store.CheckSize("a delivery", d.RecordBytes()); err != nil {
			return err
		}
	}
	return nil
}

// FinishTask implements store.Tasks: the final status, the chat's
// conversation and the deliveries commit together, or not at all.
func (s *Store) FinishTask(ctx context.Context, f store.TaskFinish) error {
	if err := s.live(); err != nil {
		return err
	}
	if !f.Status.Final() {
		return store.Invalid("finishing a task needs a final status")
	}
	if err := checkDeliveries(f.Deliveries); err != nil {
		return err
	}
	if !validID(f.ID) || !validID(f.Owner) {
		return store.ErrLeaseLost
	}
	var code pgtype.Int4
	var ctype string
	var body []byte
	if r := f.Result; r != nil {
		code, ctype, body = pgtype.Int4{Int32: int32(r.StatusCode), Valid: true}, cleanText(r.ContentType), r.Body
	}
	chat := f.ConversationID != "" || !f.ChatExpiresAt.IsZero()
	// Two round trips (see pipelinedTx): BEGIN with the task's and the
	// chat's updates, whose answers are checked before the deliveries go
	// with COMMIT.
	err := s.pipelinedTx(ctx, func(c *pgx.Conn) error {
		now := s.clock()
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		// Before any row lock, as inserts take it (see headLockSQL).
		b.Queue(headLockSQL, f.ID, lockClassHead)
		// The request body is not needed once the task is final. The
		// fields the final record is weighed by come back, so that the
		// size limit is checked before the commit, without a round trip
		// of its own.
		b.Queue(`
			UPDATE agenthook_tasks SET status = $3, error = $4, lease_owner = '', lease_until = NULL,
				due_at = NULL, head = false, updated_at = $5, finished_at = $5, expires_at = $6,
				result_code = $7, result_type = $8, result_body = $9, body = NULL
			WHERE id = $1 AND status = 'STARTED' AND lease_owner = $2
			RETURNING id, agent, chat_id, principal, endpoint, request, meta`,
			f.ID, f.Owner, string(f.Status), cleanText(f.Error), now, ts(f.ExpiresAt), code, ctype, body)
		// The chat's next task, if any, becomes its head.
		b.Queue(`
			UPDATE agenthook_tasks SET head = true
			WHERE id = (SELECT n.id FROM agenthook_tasks n
				WHERE n.chat_id = (SELECT chat_id FROM agenthook_tasks WHERE id = $1)
					AND n.status IN ('PENDING', 'STARTED')
				ORDER BY n.seq LIMIT 1) AND NOT head`, f.ID)
		if chat {
			// The chat is the task's (this transaction sees the update
			// above; if it matched nothing, the transaction rolls back).
			// An expired chat stays expired rather than come back.
			b.Queue(`UPDATE agenthook_chats SET
					conversation_id = CASE WHEN length($2::bytea) > 0 THEN $2::bytea ELSE conversation_id END,
					expires_at = coalesce($3, expires_at), updated_at = $4
				WHERE id = (SELECT chat_id FROM agenthook_tasks WHERE id = $1) AND expires_at > $4
				RETURNING octet_length(id) + octet_length(agent) + octet_length(principal) + octet_length(conversation_id)`,
				f.ID, []byte(f.ConversationID), ts(f.ChatExpiresAt), now)
		}
		var t store.Task
		var principal, request, meta []byte
		br := c.SendBatch(ctx, b)
		err := func() error {
			if _, err := br.Exec(); err != nil { // BEGIN
				return err
			}
			if _, err := br.Exec(); err != nil { // headLockSQL
				return err
			}
			err := br.QueryRow().Scan(&t.ID, &t.Agent, &t.ChatID, &principal, &t.Endpoint, &request, &meta)
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrLeaseLost
			}
			if err != nil {
				return err
			}
			if _, err := br.Exec(); err != nil { // the next head
				return err
			}
			if !chat {
				return nil
			}
			var weight int
			err = br.QueryRow().Scan(&weight)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // no live chat
			}
			if err != nil {
				return err
			}
			return store.CheckSize("the chat", weight)
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		t.Principal = string(principal)
		if err := json.Unmarshal(request, &t.Request); err != nil {
			return fmt.Errorf("decoding a task's request: %w", err)
		}
		if len(meta) > 0 {
			if err := json.Unmarshal(meta, &t.Meta); err != nil {
				return fmt.Errorf("decoding a task's meta: %w", err)
			}
		}
		if err := store.CheckSize("the finished task", f.RecordBytes(&t)); err != nil {
			return err // the transaction rolls back: nothing is written
		}
		b = &pgx.Batch{}
		queueInsertDeliveries(b, f.Deliveries, now, false)
		b.Queue(`COMMIT`)
		return c.SendBatch(ctx, b).Close()
	})
	if err != nil {
		if isUniqueViolation(err) {
			return &store.Error{Op: "finishing task", Kind: store.ErrInvalid, Detail: "a delivery id is already used", Err: err}
		}
		return wrapErr("finishing task", err)
	}
	// The chat's next task may be claimable now.
	s.changed(true, len(f.Deliveries) > 0)
	return nil
}

// queueInsertDeliveries queues new pending deliveries. Seqs are drawn in
// the order of ds, after taking the locks of their order keys, so that
// the deliveries of one key commit in seq order across instances. With
// skipTaken, an id already stored is skipped instead of failing the
// transaction.
func queueInsertDeliveries(b *pgx.Batch, ds []*store.Delivery, now time.Time, skipTaken bool) {
	if len(ds) == 0 {
		return
	}
	n := len(ds)
	ids, taskIDs, agents, chatIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	callbacks, orderKeys, events, messages := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads := make([][]byte, n)
	next := make([]pgtype.Timestamptz, n)
	hops := make([]int32, n)
	var locks []int32
	for i, d := range ds {
		ids[i], taskIDs[i], agents[i], chatIDs[i] = d.ID, d.TaskID, d.Agent, d.ChatID
		callbacks[i], orderKeys[i], events[i], payloads[i] = d.CallbackID, d.OrderKey, d.EventType, d.Payload
		hops[i], messages[i] = int32(d.Hops), d.MessageID
		at := d.NextAttemptAt
		if at.IsZero() {
			at = now
		}
		next[i] = ts(at)
		if d.OrderKey != "" {
			locks = append(locks, lockKey(d.OrderKey))
		}
	}
	queueLocks(b, lockClassOrderKey, locks)
	conflict := ""
	if skipTaken {
		conflict = ` ON CONFLICT (id) DO NOTHING`
	}
	b.Queue(`
		INSERT INTO agenthook_deliveries (id, task_id, agent, chat_id, callback_id, order_key, seq,
			event_type, payload, status, next_attempt_at, due_at, created_at, updated_at, hops, message_id)
		SELECT u.id, u.task_id, u.agent, u.chat_id, u.callback_id, u.order_key, nextval('agenthook_seq'),
			u.event_type, u.payload, 'pending', u.next_at, u.next_at, $1, $1, u.hops, u.message_id
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::bytea[], $10::timestamptz[], $11::int4[], $12::text[])
			WITH ORDINALITY AS u(id, task_id, agent, chat_id, callback_id, order_key, event_type, payload, next_at, hops, message_id, ord)
		ORDER BY u.ord`+conflict,
		now, ids, taskIDs, agents, chatIDs, callbacks, orderKeys, events, payloads, next, hops, messages)
}
