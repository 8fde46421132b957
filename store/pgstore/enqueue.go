package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/agenthook/agenthook/store"
)

// EnqueueDeliveries implements store.Deliveries: one transaction, in which
// an id already stored is skipped (ON CONFLICT DO NOTHING), so that two
// instances emitting the same event queue it once. Like the deliveries of
// FinishTask, seqs are drawn under the order keys' locks.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds []*store.Delivery) error {
	if err := s.live(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	if err := checkDeliveries(ds); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// Not fsync'd, as the other engines: an event lost to a crash of
		// the database server is emitted again when its task runs again.
		b.Queue(asyncCommitSQL)
		queueInsertDeliveries(b, ds, s.clock(), true)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return wrapErr("queueing deliveries", err)
	}
	s.changed(false, true)
	return nil
}
