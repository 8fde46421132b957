package caddymodule

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/memstore"
)

// The runtime samples the queue depth into the dashboard's stats by
// itself, so the chart has points for minutes nobody was watching; and it
// stops sampling when ctx ends.
func TestRuntimeSamplesQueue(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Options{})
	ctx := t.Context()
	for _, id := range []string{"t1", "t2"} {
		task := &store.Task{ID: id, Agent: "support", ChatID: "c-" + id, Request: store.Request{Method: "POST", Path: "/"}}
		if _, err := st.CreateTask(ctx, store.NewTask{Task: task}); err != nil {
			t.Fatal(err)
		}
	}
	m := newMetrics()
	rt := newRuntime("test", st, zap.NewNop(), m)

	if s := m.stats.Snapshot(func(string) bool { return true }, true); s.Hour.QueuePending != nil {
		t.Fatalf("a queue depth before any sample: %d", *s.Hour.QueuePending)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go rt.sampleQueue(sctx, done)
	cancel()
	<-done // the first sample is taken before the first wait

	s := m.stats.Snapshot(func(string) bool { return true }, true)
	if s.Hour.QueuePending == nil || *s.Hour.QueuePending != 2 || s.Hour.QueueStarted == nil || *s.Hour.QueueStarted != 0 {
		t.Fatalf("sampled queue: pending %v, started %v; want 2 and 0", s.Hour.QueuePending, s.Hour.QueueStarted)
	}
}
