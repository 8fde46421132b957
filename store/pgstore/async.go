package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Durability, write by write.
//
// CreateTask and FinishTask (and the configuration writes: registrations,
// callback states) wait for their commit to be flushed to disk, as the
// contract asks. The other writes (claims, requeues, releases, delivery
// attempts, chats, replay keys) commit with synchronous_commit off, as the
// Badger engine writes them without an fsync: they are durable against a
// crash of agenthook itself at once, since the server has them, and
// against a crash of the database server within a few hundred
// milliseconds. What such a crash can lose is safe to lose: a claim (the
// work is claimed again), an attempt record (the delivery is sent again,
// with the same webhook-id), a release (the lease runs out). Not waiting
// for the disk halves the cost of a claim, which was two flushes per task
// with FinishTask's.

// asyncCommitSQL makes the current transaction commit without waiting for
// the flush. set_config with is_local applies to the transaction as a
// whole, also the implicit one of a pipeline.
const asyncCommitSQL = `SELECT set_config('synchronous_commit', 'off', true)`

// execAsync runs one statement in a transaction of its own that commits
// asynchronously, in one round trip.
func (s *Store) execAsync(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	b.Queue(asyncCommitSQL)
	b.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// pipelinedTx runs a transaction whose first statements go in one round
// trip with its BEGIN, and whose last ones with its COMMIT: two round
// trips instead of the four of BEGIN, a read, the writes and COMMIT each
// on their own. fn queues BEGIN as the first statement of its first batch
// and COMMIT as the last of its last (it checks what the first batch
// read before it sends the second). On any error, or if fn returns
// without committing, the transaction is rolled back; a connection that
// cannot roll back is left for the pool to close.
func (s *Store) pipelinedTx(ctx context.Context, fn func(c *pgx.Conn) error) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer pc.Release()
	c := pc.Conn()
	err = fn(c)
	if c.PgConn().TxStatus() != 'I' && !c.IsClosed() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = c.Exec(rctx, "ROLLBACK")
		cancel()
	}
	return err
}
