package pgstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"go.uber.org/zap"
)

// The listener: one connection outside the pool that LISTENs for the
// NOTIFYs instances send when they make work claimable (notify.go), and
// wakes this instance's runners. Local writes wake the runners directly;
// the listener hears their notifications too, which costs a spare wake-up
// at most.

const (
	chanTasks      = "agenthook_tasks"
	chanDeliveries = "agenthook_deliveries"

	// pingTimeout bounds the listener's pings, each reconnection attempt
	// and each notification sent.
	pingTimeout = 5 * time.Second

	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// listenConn connects and subscribes to both channels.
func (s *Store) listenConn(ctx context.Context, cc *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return nil, openErr("connecting the listener", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+chanTasks+"; LISTEN "+chanDeliveries); err != nil {
		closeConn(conn)
		return nil, openErr("subscribing to notifications", err)
	}
	return conn, nil
}

// listen is the listener goroutine. It owns conn, reconnects with
// backoff when the connection fails, and wakes both runners after every
// reconnection, since work may have arrived while nobody listened.
func (s *Store) listen(conn *pgx.Conn, cc *pgx.ConnConfig) {
	defer s.bg.Done()
	backoff, failures := minBackoff, 0
	for {
		if conn == nil {
			// Jitter keeps instances that lost the server together from
			// reconnecting in step.
			delay := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			ctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
			c, err := s.listenConn(ctx, cc)
			cancel()
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				// Once at first, then every tenth attempt, so that an
				// outage is visible without flooding the log.
				if failures%10 == 0 {
					s.log.Warn("listener cannot reconnect", zap.Int("attempt", failures+1), errField(err))
				}
				failures++
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			if failures > 0 {
				s.log.Info("listener reconnected", zap.Int("failed_attempts", failures))
			}
			conn, backoff, failures = c, minBackoff, 0
			wake(s.taskWake)
			wake(s.delivWake)
		}
		err := s.forward(conn)
		closeConn(conn)
		conn = nil
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("listener lost its connection, reconnecting", errField(err))
	}
}

// forward passes notifications on to the wake channels until the
// connection fails or the store closes. Every safetyWake it also wakes
// both runners unasked (see notify.go), and when the connection has been
// quiet that long, it pings the server, so that a connection that died
// silently is noticed and replaced.
func (s *Store) forward(conn *pgx.Conn) error {
	tick := time.Now().Add(safetyWake)
	heard := false
	for {
		ctx, cancel := context.WithDeadline(s.ctx, tick)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		switch {
		case err == nil:
			heard = true
			switch n.Channel {
			case chanTasks:
				wake(s.taskWake)
			case chanDeliveries:
				wake(s.delivWake)
			}
		case s.ctx.Err() != nil:
			return s.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			// A timed-out wait leaves the connection usable.
		default:
			return err
		}
		if time.Now().Before(tick) {
			continue
		}
		if !heard {
			ctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				return err
			}
		}
		wake(s.taskWake)
		wake(s.delivWake)
		tick, heard = time.Now().Add(safetyWake), false
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
