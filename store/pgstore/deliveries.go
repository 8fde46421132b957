package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// recoverChunk bounds the deliveries RecoverDeliveries moves per
// transaction.
const recoverChunk = 500

const deliveryMetaCols = `d.id, d.task_id, d.agent, d.chat_id, d.callback_id, d.order_key, d.seq, d.event_type,
	d.status, d.attempts, d.attempt_count, d.next_attempt_at, d.lease_owner, d.lease_until, d.last_error,
	d.created_at, d.updated_at, d.expires_at, d.requeued_at, d.hops, d.message_id`

// deliveryCols are the columns scanDelivery reads, from
// agenthook_deliveries as d; deliveryColsNoPayload leaves the payload out.
const (
	deliveryCols          = deliveryMetaCols + `, d.payload`
	deliveryColsNoPayload = deliveryMetaCols + `, NULL::bytea`
)

func scanDelivery(row pgx.Row) (*store.Delivery, error) {
	var d store.Delivery
	var status string
	var attempts []byte
	var next, leaseUntil, created, updated, expires, requeued pgtype.Timestamptz
	err := row.Scan(&d.ID, &d.TaskID, &d.Agent, &d.ChatID, &d.CallbackID, &d.OrderKey, &d.Seq, &d.EventType,
		&status, &attempts, &d.AttemptCount, &next, &d.LeaseOwner, &leaseUntil, &d.LastError,
		&created, &updated, &expires, &requeued, &d.Hops, &d.MessageID, &d.Payload)
	if err != nil {
		return nil, err
	}
	d.Status = store.DeliveryStatus(status)
	if len(attempts) > 0 {
		if err := json.Unmarshal(attempts, &d.Attempts); err != nil {
			return nil, fmt.Errorf("decoding a delivery's attempts: %w", err)
		}
		if len(d.Attempts) == 0 {
			d.Attempts = nil
		}
	}
	d.NextAttemptAt, d.LeaseUntil = fromTS(next), fromTS(leaseUntil)
	d.CreatedAt, d.UpdatedAt = fromTS(created), fromTS(updated)
	d.ExpiresAt, d.RequeuedAt = fromTS(expires), fromTS(requeued)
	return &d, nil
}

// RecordAttempt implements store.Deliveries.
func (s *Store) RecordAttempt(ctx context.Context, o store.DeliveryOutcome) error {
	if err := s.live(); err != nil {
		return err
	}
	switch o.Status {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
	default:
		return store.Invalid("unknown delivery status")
	}
	if !validID(o.ID) || !validID(o.Owner) {
		return store.ErrLeaseLost
	}
	// Two round trips (see pipelinedTx): BEGIN with the read, the write
	// with COMMIT.
	err := s.pipelinedTx(ctx, func(c *pgx.Conn) error {
		now := s.clock()
		var raw []byte
		var fixed int // what the delivery's other counted fields weigh
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		// A lease that ran out still counts until someone else claims the
		// delivery, as in the Badger engine.
		b.Queue(`SELECT attempts, octet_length(id) + octet_length(task_id) + octet_length(agent)
				+ octet_length(chat_id) + octet_length(callback_id) + octet_length(order_key)
				+ octet_length(event_type) + octet_length(message_id) + coalesce(octet_length(payload), 0)
			FROM agenthook_deliveries
			WHERE id = $1 AND status = 'pending' AND lease_owner = $2 FOR UPDATE`, o.ID, o.Owner)
		br := c.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&raw, &fixed)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrLeaseLost
		}
		if err != nil {
			return err
		}
		var attempts []store.Attempt
		if err := json.Unmarshal(raw, &attempts); err != nil {
			return fmt.Errorf("decoding a delivery's attempts: %w", err)
		}
		attempts = store.AppendAttempt(attempts, o.Attempt)
		weight := fixed + len(o.Attempt.Error)
		for i := range attempts {
			weight += attempts[i].RecordBytes()
		}
		if err := store.CheckSize("the delivery", weight); err != nil {
			return err
		}
		enc, err := json.Marshal(attempts)
		if err != nil {
			return fmt.Errorf("encoding attempts: %w", err)
		}
		b = &pgx.Batch{}
		b.Queue(asyncCommitSQL)
		if o.Status == store.DeliveryPending {
			next := o.NextAttemptAt
			if next.IsZero() {
				next = now
			}
			b.Queue(`UPDATE agenthook_deliveries SET attempts = $2::text::json, attempt_count = attempt_count + 1,
					last_error = $3, updated_at = $4, next_attempt_at = $5, due_at = $5,
					lease_owner = '', lease_until = NULL
				WHERE id = $1`, o.ID, string(enc), cleanText(o.Attempt.Error), now, next)
		} else {
			b.Queue(`UPDATE agenthook_deliveries SET attempts = $2::text::json, attempt_count = attempt_count + 1,
					last_error = $3, updated_at = $4, status = $5, expires_at = $6,
					next_attempt_at = NULL, due_at = NULL, lease_owner = '', lease_until = NULL
				WHERE id = $1`, o.ID, string(enc), cleanText(o.Attempt.Error), now, string(o.Status), ts(o.ExpiresAt))
		}
		b.Queue(`COMMIT`)
		return c.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return wrapErr("recording delivery attempt", err)
	}
	// Pending again, or final and so unblocking its order key: either way
	// a dispatcher has something to look at.
	s.changed(false, true)
	return nil
}

// ReleaseDelivery implements store.Deliveries.
func (s *Store) ReleaseDelivery(ctx context.Context, id, owner string) error {
	if err := s.live(); err != nil {
		return err
	}
	if !validID(id) || !validID(owner) {
		return store.ErrLeaseLost
	}
	tag, err := s.execAsync(ctx, `
		UPDATE agenthook_deliveries SET lease_owner = '', lease_until = NULL, due_at = next_attempt_at
		WHERE id = $1 AND status = 'pending' AND lease_owner = $2`, id, owner)
	if err != nil {
		return wrapErr("releasing delivery", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrLeaseLost
	}
	s.changed(false, true)
	return nil
}

// GetDelivery implements store.Deliveries.
func (s *Store) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryCols+` FROM agenthook_deliveries d
		WHERE d.id = $1 AND (d.expires_at IS NULL OR d.expires_at > $2)`, id, s.clock()))
	if err != nil {
		return nil, wrapErr("reading delivery", notFound(err))
	}
	return d, nil
}

// ListDeliveries implements store.Deliveries. Dead letters are listed by
// the time they failed, the others by the time they were created.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	for _, v := range []string{f.Agent, string(f.Status), f.CallbackID, f.TaskID, f.ChatID, f.EventType} {
		if !validText(v) {
			return nil, nil // no stored delivery has it
		}
	}
	if f.After != nil && !validText(f.After.ID) {
		return nil, nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	at := `d.created_at`
	if f.Status == store.DeliveryFailed {
		at = `d.updated_at`
	}
	q := &query{}
	q.where(`d.agent = `, f.Agent)
	q.where(`(d.expires_at IS NULL OR d.expires_at > `, s.clock(), `)`)
	q.whereSet(`d.status = `, string(f.Status))
	q.whereSet(`d.callback_id = `, f.CallbackID)
	q.whereSet(`d.task_id = `, f.TaskID)
	q.whereSet(`d.chat_id = `, f.ChatID)
	q.whereSet(`d.event_type = `, f.EventType)
	q.timeRange(at, f.Since, f.Until)
	q.after(at, `d.id`, f.After)
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColsNoPayload+` FROM agenthook_deliveries d
		WHERE `+q.sql()+` ORDER BY `+at+` DESC, d.id COLLATE "C" DESC LIMIT `+q.arg(limit), q.args...)
	if err != nil {
		return nil, wrapErr("listing deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(row) })
	return out, wrapErr("listing deliveries", err)
}

// RetryDelivery implements store.Deliveries.
func (s *Store) RetryDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, store.ErrNotFound
	}
	var out *store.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock()
		d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryCols+` FROM agenthook_deliveries d
			WHERE d.id = $1 AND (d.expires_at IS NULL OR d.expires_at > $2) FOR UPDATE`, id, now))
		if err != nil {
			return notFound(err)
		}
		if d.Status != store.DeliveryPending {
			if d.Seq, err = requeueDeliveries(ctx, tx, []string{d.ID}, []string{d.OrderKey}, now); err != nil {
				return err
			}
			d.Status, d.UpdatedAt, d.NextAttemptAt, d.ExpiresAt, d.RequeuedAt = store.DeliveryPending, now, now, time.Time{}, now
			d.LeaseOwner, d.LeaseUntil = "", time.Time{}
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, wrapErr("retrying delivery", err)
	}
	s.changed(false, true)
	return out, nil
}

// RecoverDeliveries implements store.Deliveries, in transactions of at
// most recoverChunk deliveries.
func (s *Store) RecoverDeliveries(ctx context.Context, f store.RecoverFilter) (int, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	if !validText(f.Agent) || !validText(f.CallbackID) {
		return 0, nil
	}
	// Deliveries that fail again while this runs are not picked up twice.
	until := s.clock()
	selected := func(now time.Time) *query {
		q := &query{}
		q.where(`d.agent = `, f.Agent)
		q.where(`d.status = 'failed' AND d.updated_at <= `, until)
		q.where(`(d.expires_at IS NULL OR d.expires_at > `, now, `)`)
		q.whereSet(`d.callback_id = `, f.CallbackID)
		q.timeRange(`d.updated_at`, f.Since, f.Until)
		return q
	}
	if f.DryRun {
		q := selected(until)
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM agenthook_deliveries d WHERE `+q.sql(), q.args...).Scan(&n)
		return n, wrapErr("counting deliveries to recover", err)
	}
	total := 0
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			now := s.clock()
			q := selected(now)
			rows, err := tx.Query(ctx, `SELECT d.id, d.order_key FROM agenthook_deliveries d
				WHERE `+q.sql()+`
				ORDER BY d.updated_at, d.seq
				LIMIT `+q.arg(recoverChunk)+`
				FOR UPDATE SKIP LOCKED`, q.args...)
			if err != nil {
				return err
			}
			var ids, keys []string
			var id, key string
			if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
				ids, keys = append(ids, id), append(keys, key)
				return nil
			}); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			n = len(ids)
			_, err = requeueDeliveries(ctx, tx, ids, keys, now)
			return err
		})
		if err != nil {
			return total, wrapErr("recovering deliveries", err)
		}
		total += n
		if n < recoverChunk {
			break
		}
	}
	if total > 0 {
		s.changed(false, true)
	}
	return total, nil
}

// requeueDeliveries makes final deliveries, locked by tx, pending again and
// due now. Each goes to the back of its order key with a new seq: a replay
// is a new send. Seqs are drawn after the order keys' locks and handed out
// in the order of ids. It returns the last seq.
func requeueDeliveries(ctx context.Context, tx pgx.Tx, ids, keys []string, now time.Time) (int64, error) {
	var locks []int32
	for _, k := range keys {
		if k != "" {
			locks = append(locks, lockKey(k))
		}
	}
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	queueLocks(b, lockClassOrderKey, locks)
	b.Queue(`SELECT nextval('agenthook_seq') FROM generate_series(1, $1)`, len(ids))
	br := tx.SendBatch(ctx, b)
	seqs, err := func() ([]int64, error) {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
		if len(locks) > 0 {
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[int64])
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	slices.Sort(seqs)
	_, err = tx.Exec(ctx, `UPDATE agenthook_deliveries d SET status = 'pending', seq = u.seq,
			next_attempt_at = $1, due_at = $1, expires_at = NULL, requeued_at = $1, updated_at = $1,
			lease_owner = '', lease_until = NULL
		FROM unnest($2::text[], $3::int8[]) AS u(id, seq) WHERE d.id = u.id`, now, ids, seqs)
	if err != nil {
		return 0, err
	}
	return seqs[len(seqs)-1], nil
}

// DeliveryCounts implements store.Deliveries.
func (s *Store) DeliveryCounts(ctx context.Context) (pending, failed int, err error) {
	if err := s.live(); err != nil {
		return 0, 0, err
	}
	err = s.serialCount(ctx, `
		SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
		FROM agenthook_deliveries
		WHERE status = 'pending' OR (status = 'failed' AND (expires_at IS NULL OR expires_at > $1))`,
		[]any{s.clock()}, &pending, &failed)
	if err != nil {
		return 0, 0, wrapErr("counting deliveries", err)
	}
	return pending, failed, nil
}
