package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/store"
)

// The benchmarks run on the shared test server (fsync on), or on
// AGENTHOOK_PG_DSN. Each CreateTask is committed before it returns, so the
// serial benchmark measures a commit per task, and the parallel one shows
// what group commit makes of concurrent requests.

var benchN atomic.Int64

func benchTask(chats int) store.NewTask {
	i := benchN.Add(1)
	n := newTask(fmt.Sprint("bench-", i), fmt.Sprint("chat-", i%int64(chats)))
	n.Task.Request.Body = make([]byte, 512)
	return n
}

// BenchmarkCreateTask creates tasks one after the other (serial: a commit
// per task) and from many goroutines at once (parallel: group commit),
// with 512-byte bodies spread over 1000 chats.
func BenchmarkCreateTask(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := open(b, testkit.Postgres(b), nil)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.CreateTask(ctx, benchTask(1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := open(b, testkit.Postgres(b), nil)
		ctx := context.Background()
		b.ReportAllocs()
		// 32 goroutines per CPU: like concurrent HTTP requests.
		b.SetParallelism(32)
		before, beforeN := s.batch.batches.Load(), s.batch.batched.Load()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.CreateTask(ctx, benchTask(1000)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		if tx := s.batch.batches.Load() - before; tx > 0 {
			b.ReportMetric(float64(s.batch.batched.Load()-beforeN)/float64(tx), "tasks/tx")
		}
	})
}

// BenchmarkCreateTaskIdempotent is the parallel benchmark with an
// Idempotency key on every request: a transaction per request, which the
// server may still flush together with others.
func BenchmarkCreateTaskIdempotent(b *testing.B) {
	s := open(b, testkit.Postgres(b), nil)
	ctx := context.Background()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := benchTask(1000)
			n.Idempotency = &store.Idempotency{Key: n.Task.ID, Fingerprint: "fp", ExpiresAt: time.Now().Add(time.Hour)}
			if _, err := s.CreateTask(ctx, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClaimFinish claims tasks one by one and finishes each with one
// delivery: the work of a task runner, without the backend.
func BenchmarkClaimFinish(b *testing.B) {
	s := open(b, testkit.Postgres(b), nil)
	ctx := context.Background()
	prefill(b, s, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ts, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "bench", Limit: 1, Lease: time.Minute})
		if err != nil || len(ts) != 1 {
			b.Fatalf("ClaimTasks = %d, %v", len(ts), err)
		}
		err = s.FinishTask(ctx, store.TaskFinish{
			ID: ts[0].ID, Owner: "bench", Status: store.TaskSuccess,
			Result:    &store.Result{StatusCode: 200, Body: []byte(`{"answer":"ok"}`)},
			ExpiresAt: time.Now().Add(time.Hour),
			Deliveries: []*store.Delivery{{ID: fmt.Sprint("d-", i, "-", ts[0].ID), TaskID: ts[0].ID, Agent: "agent-a",
				CallbackID: "cb-1", Payload: []byte(`{"type":"task.succeeded"}`)}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimDeliveries claims and settles deliveries, ten at a time,
// at most two per callback.
func BenchmarkClaimDeliveries(b *testing.B) {
	s := open(b, testkit.Postgres(b), nil)
	ctx := context.Background()
	mustCreate(b, s, "feeder", "chat-0")
	if _, _, err := s.ClaimTasks(ctx, store.Claim{Owner: "w", Limit: 1, Lease: time.Hour}); err != nil {
		b.Fatal(err)
	}
	ds := make([]*store.Delivery, b.N)
	for i := range ds {
		ds[i] = &store.Delivery{ID: fmt.Sprint("d-", i), Agent: "agent-a", CallbackID: fmt.Sprint("cb-", i%8), Payload: []byte("{}")}
	}
	if err := s.FinishTask(ctx, store.TaskFinish{ID: "feeder", Owner: "w", Status: store.TaskSuccess, Deliveries: ds}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		got, _, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Owner: "d", Limit: 10, PerCallback: 2, Lease: time.Minute})
		if err != nil || len(got) == 0 {
			b.Fatalf("ClaimDeliveries = %d, %v", len(got), err)
		}
		for _, d := range got {
			if err := s.RecordAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d", Status: store.DeliveryDelivered,
				Attempt: store.Attempt{At: time.Now(), StatusCode: 200}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		done += len(got)
	}
}

// prefill creates n tasks in n chats, concurrently so that they share
// commits.
func prefill(b *testing.B, s *Store, n int) {
	b.Helper()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	for range 32 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := s.CreateTask(context.Background(), benchTask(n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
