package pgstore

import (
	"context"
	"time"
)

// Telling other instances about new work.
//
// A write that makes work claimable wakes this instance's runners at once
// and asks the notifier goroutine to NOTIFY the other instances. The
// NOTIFY is not part of the write's own transaction, on purpose: PostgreSQL
// serializes the commits of all transactions that notify (they hold one
// database-wide lock from the notify until the commit is flushed), which
// measured here halved the throughput of concurrent writes, the very
// commits the server could otherwise flush together. The notifier sends
// one small transaction at a time, with synchronous_commit off (a wake-up
// need not be durable), at most one per notifySpacing, coalescing
// everything asked while the previous one was under way or spaced.
//
// A notification is lost only if this process dies between a commit and
// its NOTIFY. Listeners therefore also wake their runners every
// safetyWake (see listen.go), which bounds the delay such a loss causes.

// notifySQL sends both notifications or one, in one round trip (no
// arguments: the simple protocol, which allows several statements).
var notifySQL = map[[2]bool]string{
	{true, false}: notifyTx("SELECT pg_notify('" + chanTasks + "', '');"),
	{false, true}: notifyTx("SELECT pg_notify('" + chanDeliveries + "', '');"),
	{true, true}:  notifyTx("SELECT pg_notify('" + chanTasks + "', ''), pg_notify('" + chanDeliveries + "', '');"),
}

func notifyTx(sel string) string {
	return "BEGIN; SET LOCAL synchronous_commit TO off; " + sel + " COMMIT;"
}

// changed records that work may have become claimable: it wakes the local
// runners and has the other instances notified.
func (s *Store) changed(tasks, deliveries bool) {
	if tasks {
		wake(s.taskWake)
		wake(s.notifyTasks)
	}
	if deliveries {
		wake(s.delivWake)
		wake(s.notifyDeliv)
	}
}

// notifyLoop is the notifier goroutine. At Close it sends what is still
// pending, briefly.
func (s *Store) notifyLoop() {
	defer s.bg.Done()
	for {
		var tasks, deliveries bool
		select {
		case <-s.notifyTasks:
			tasks = true
		case <-s.notifyDeliv:
			deliveries = true
		case <-s.ctx.Done():
			tasks, deliveries = pending(s.notifyTasks), pending(s.notifyDeliv)
			if tasks || deliveries {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				s.sendNotify(ctx, tasks, deliveries)
				cancel()
			}
			return
		}
		tasks = tasks || pending(s.notifyTasks)
		deliveries = deliveries || pending(s.notifyDeliv)
		s.sendNotify(s.ctx, tasks, deliveries)
		if notifySpacing > 0 {
			t := time.NewTimer(notifySpacing)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
		}
	}
}

// notifySpacing is the least time between two notifications. At intake
// the batch writer commits every few milliseconds, and a notification
// each time cost every instance's server connection, listener and Go
// runtime more CPU than the wake-ups were worth: with 10 ms, a 20 s
// intake at 64 connections sent 1.8k notifications instead of 8k, and
// PostgreSQL and Caddy each spent about 7% less CPU per task. Another
// instance hears of new work at most this much later; this instance's own
// runners are woken at once. A variable for tests.
var notifySpacing = 10 * time.Millisecond

// sendNotify sends one notification transaction. Errors are only logged:
// the listeners' safety wake-ups cover a lost notification, and a database
// that cannot be reached makes every listener reconnect, which wakes its
// runners anyway.
func (s *Store) sendNotify(ctx context.Context, tasks, deliveries bool) {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, notifySQL[[2]bool{tasks, deliveries}]); err != nil && s.ctx.Err() == nil {
		s.log.Warn("cannot notify other instances", errField(err))
	}
}

// pending takes a signal from ch if there is one.
func pending(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// safetyWake is how often listeners wake their runners even without a
// notification. A variable for tests.
var safetyWake = 30 * time.Second
