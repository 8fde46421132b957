package pgstore

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// The sweeper deletes what has expired: finished tasks, settled
// deliveries, chats, idempotency keys, replay keys and API keys. Reads already hide
// expired records (they compare expires_at with the clock), so the
// sweeper only reclaims space, and several instances sweeping at once
// merely share the work.

const (
	sweepBatch      = 1000 // rows per DELETE, so no statement runs long
	sweepMaxBatches = 100  // DELETEs per table per sweep; the rest waits for the next
)

// sweepTables lists the tables with an expires_at column and their keys.
var sweepTables = []struct{ table, key string }{
	{"agenthook_tasks", "id"},
	{"agenthook_deliveries", "id"},
	{"agenthook_chats", "id"},
	{"agenthook_idempotency", "key"},
	{"agenthook_replay_keys", "key"},
	{"agenthook_api_keys", "id"},
	{"agenthook_chat_history", "chat_id"},
}

// maintenanceLoop sweeps every sweepEvery (never if it is not positive)
// and repairs heads every headRepairInterval, until Close.
func (s *Store) maintenanceLoop(sweepEvery time.Duration, repairAfter string) {
	defer s.bg.Done()
	var sweepC <-chan time.Time
	if sweepEvery > 0 {
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		sweepC = t.C
	}
	repair := time.NewTicker(headRepairInterval)
	defer repair.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-repair.C:
			next, err := s.repairHeadsLogged(s.ctx, repairAfter)
			if err == nil {
				repairAfter = next
			}
		case <-sweepC:
			n, err := s.sweep(s.ctx)
			switch {
			case err != nil && s.ctx.Err() == nil:
				s.log.Warn("cannot sweep expired records", errField(err))
			case n > 0:
				s.log.Debug("swept expired records", zap.Int("records", n))
			}
		}
	}
}

// sweep deletes expired records in bounded batches and returns how many.
func (s *Store) sweep(ctx context.Context) (int, error) {
	now := s.clock()
	total := 0
	for _, tb := range sweepTables {
		// SKIP LOCKED: a row another instance is deleting, or a writer
		// holds, waits for the next sweep.
		sql := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (
			SELECT %[2]s FROM %[1]s WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, tb.table, tb.key)
		for range sweepMaxBatches {
			tag, err := s.pool.Exec(ctx, sql, now, sweepBatch)
			if err != nil {
				return total, wrapErr("sweeping "+tb.table, err)
			}
			n := int(tag.RowsAffected())
			total += n
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}
