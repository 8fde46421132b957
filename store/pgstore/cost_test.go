package pgstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// TestCostPerTask measures what one task costs PostgreSQL over its whole
// life (intake, claim, finish with one delivery, delivery claim, delivery
// attempt): WAL bytes, transactions and rows written, from the server's
// own counters. It is a measurement for BENCHMARKS.md's capacity model,
// not a check, so it runs only with AGENTHOOK_PG_COST=1.
func TestCostPerTask(t *testing.T) {
	if os.Getenv("AGENTHOOK_PG_COST") == "" {
		t.Skip("a measurement: set AGENTHOOK_PG_COST=1")
	}
	dsn := testkit.Postgres(t)
	px := newTurnProxy(t, dsn)
	s := open(t, px.dsn, nil)
	ctx := context.Background()
	const n = 4000
	type counters struct {
		wal, turns, up, down                int64
		commits, inserted, updated, deleted int64
	}
	read := func() counters {
		t.Helper()
		var c counters
		// pg_stat_database is updated when a backend reports; force it.
		if _, err := s.pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Logf("pg_stat_force_next_flush: %v", err)
		}
		time.Sleep(1200 * time.Millisecond)
		err := s.pool.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint,
			xact_commit, tup_inserted, tup_updated, tup_deleted
			FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.wal, &c.commits, &c.inserted, &c.updated, &c.deleted)
		if err != nil {
			t.Fatal(err)
		}
		c.turns, c.up, c.down = px.counts()
		return c
	}
	report := func(phase string, a, b counters) {
		per := func(x, y int64) float64 { return float64(y-x) / n }
		// The counters' own queries (two round trips a read) are left in:
		// over n tasks they are noise.
		msg := fmt.Sprintf("%s, per task: %.2f round trips, %.0f bytes sent, %.0f received; WAL %.0f bytes, %.2f commits, rows inserted %.2f, updated %.2f, deleted %.2f",
			phase, per(a.turns, b.turns), per(a.up, b.up), per(a.down, b.down), per(a.wal, b.wal), per(a.commits, b.commits), per(a.inserted, b.inserted), per(a.updated, b.updated), per(a.deleted, b.deleted))
		t.Log(msg)
		fmt.Println(msg)
	}
	body := make([]byte, 180) // the bench's request body
	for i := range body {
		body[i] = 'x'
	}
	c0 := read()
	// Intake from 64 goroutines at once, as the bench's 64 connections:
	// group commit shares transactions.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range 64 {
		wg.Go(func() {
			for i := g; i < n; i += 64 {
				id := fmt.Sprint("cost-", i)
				nt := newTask(id, "chat-"+id)
				nt.Task.Request.Body = body
				nt.Chat = &store.Chat{ID: "chat-" + id, Agent: "agent-a", ExpiresAt: time.Now().Add(time.Hour)}
				if _, err := s.CreateTask(ctx, nt); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c1 := read()
	report("intake (64 concurrent callers)", c0, c1)
	// Run: claims of up to 16, as the runner's default slots, then a
	// finish with one delivery each.
	done := 0
	for done < n {
		tasks, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 16, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 0 {
			t.Fatalf("no task to claim after %d", done)
		}
		for _, tk := range tasks {
			err := s.FinishTask(ctx, store.TaskFinish{ID: tk.ID, Owner: "w", Status: store.TaskSuccess,
				Result:    &store.Result{StatusCode: 200, ContentType: "application/json", Body: body},
				ExpiresAt: time.Now().Add(time.Hour),
				Deliveries: []*store.Delivery{{ID: "d-" + tk.ID, MessageID: "m-" + tk.ID, TaskID: tk.ID, Agent: tk.Agent, ChatID: tk.ChatID,
					CallbackID: "cb", EventType: "task.completed", Payload: body, Status: store.DeliveryPending,
					NextAttemptAt: time.Now()}}})
			if err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	c2 := read()
	report("claim (16 a claim) and finish with one delivery", c1, c2)
	done = 0
	for done < n {
		ds, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 16, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			t.Fatalf("no delivery to claim after %d", done)
		}
		for _, d := range ds {
			if err := s.RecordAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d", Status: store.DeliveryDelivered,
				Attempt: store.Attempt{At: time.Now(), StatusCode: 200, Latency: time.Millisecond}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	c3 := read()
	report("delivery claim (16 a claim) and attempt", c2, c3)
	report("whole task", c0, c3)
}

// turnProxy sits between the store and PostgreSQL and counts round
// trips: a turn is the client sending after the server last spoke (or
// first), so a pipelined batch is one, however many statements it holds.
type turnProxy struct {
	dsn             string
	turns, up, down atomic.Int64
}

func (p *turnProxy) counts() (turns, up, down int64) {
	return p.turns.Load(), p.up.Load(), p.down.Load()
}

func newTurnProxy(t *testing.T, dsn string) *turnProxy {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("the turn counter needs a URL DSN: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	target := u.Host
	u.Host = ln.Addr().String()
	p := &turnProxy{dsn: u.String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *turnProxy) serve(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	var serverSpoke atomic.Bool
	serverSpoke.Store(true)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				p.down.Add(int64(n))
				serverSpoke.Store(true)
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.up.Add(int64(n))
			if serverSpoke.Swap(false) {
				p.turns.Add(1)
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a broken connection: either ends it
		}
	}
}
