package stats

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func all(string) bool { return true }

func TestCollectorSeries(t *testing.T) {
	c0 := &clock{t: time.Date(2026, 1, 2, 15, 4, 30, 0, time.UTC)}
	c := New(c0.now)
	for range 6 {
		c.Request("support", "support-async", "accepted")
	}
	c.Request("support", "support-async", "unauthorized") // not a task
	c.Request("billing", "billing-async", "accepted")
	c.DeliveryAttempt("support", "delivered", time.Millisecond)
	c.DeliveryAttempt("support", "retry", time.Millisecond)
	c.DeliveryAttempt("support", "failed", time.Millisecond)
	c.DeliveryAttempt("support", "delivered", time.Millisecond)
	c.TaskFinished("support", "FAILURE", time.Second)
	c.TaskAwaitsCallback("support", "t1", c0.t.Add(-200*time.Millisecond))
	c.CallbackDelivered("support", "t1")
	c.CallbackDelivered("support", "t1") // only the first callback counts
	c.CallbackDelivered("support", "t-unknown")
	c.SampleQueue(7, 2)

	s := c.Snapshot(all, true)
	if len(s.Points) != Buckets || s.BucketSeconds != 60 {
		t.Fatalf("%d points of %ds", len(s.Points), s.BucketSeconds)
	}
	last := s.Points[Buckets-1]
	if !last.Start.Equal(time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)) {
		t.Fatalf("last point starts at %v", last.Start)
	}
	// 30s of the current minute gone by: 7 tasks in 30s.
	if last.TasksPerSec != round(7.0/30) || last.DeliveriesPerS != round(4.0/30) || last.TasksFailed != 1 {
		t.Fatalf("rates %+v", last)
	}
	if last.FailureRate == nil || *last.FailureRate != 0.5 {
		t.Fatalf("failure rate %v", last.FailureRate)
	}
	if last.LatencyP50MS == nil || *last.LatencyP50MS < 200 || *last.LatencyP50MS > 250 {
		t.Fatalf("p50 %v", last.LatencyP50MS)
	}
	if last.QueuePending == nil || *last.QueuePending != 7 || *last.QueueStarted != 2 {
		t.Fatalf("queue %v %v", last.QueuePending, last.QueueStarted)
	}
	if first := s.Points[0]; first.FailureRate != nil || first.LatencyP50MS != nil || first.QueuePending != nil {
		t.Fatalf("an empty minute has values: %+v", first)
	}

	// A key that sees billing only: its tasks, no deliveries, no queue.
	s = c.Snapshot(func(a string) bool { return a == "billing" }, false)
	last = s.Points[Buckets-1]
	if last.TasksPerSec != round(1.0/30) || last.FailureRate != nil || last.LatencyP50MS != nil || last.QueuePending != nil || s.Hour.QueuePending != nil {
		t.Fatalf("billing sees %+v", last)
	}

	// An hour later the minute is gone; the ring's slot is reused.
	c0.t = c0.t.Add(time.Hour)
	c.Request("support", "support-async", "accepted")
	s = c.Snapshot(all, true)
	if got := s.Points[Buckets-1]; got.TasksPerSec != round(1.0/30) || got.FailureRate != nil {
		t.Fatalf("after an hour %+v", got)
	}
	if s.Hour.DeliveriesPerS != 0 {
		t.Fatalf("the hour still counts old deliveries: %+v", s.Hour)
	}
}

func TestCollectorQuantiles(t *testing.T) {
	c0 := &clock{t: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)}
	c := New(c0.now)
	for i := range 100 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26))
		d := 10 * time.Millisecond
		if i == 99 {
			d = 10 * time.Second
		}
		c.TaskAwaitsCallback("support", id, c0.t.Add(-d))
		c.CallbackDelivered("support", id)
	}
	h := c.Snapshot(all, true).Hour
	if *h.LatencyP50MS < 10 || *h.LatencyP50MS > 12.5 {
		t.Fatalf("p50 %v", *h.LatencyP50MS)
	}
	if *h.LatencyP99MS < 10 || *h.LatencyP99MS > 12.5 {
		t.Fatalf("p99 %v: one sample in 100 is the 100th percentile", *h.LatencyP99MS)
	}
}

func TestCollectorForgetsOldestTimedTasks(t *testing.T) {
	c0 := &clock{t: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)}
	c := New(c0.now)
	for i := range maxTimed + 10 {
		c.TaskAwaitsCallback("support", string(rune(0x4e00+i)), c0.t)
	}
	if len(c.timed) != maxTimed || len(c.order) != maxTimed {
		t.Fatalf("timed %d, order %d", len(c.timed), len(c.order))
	}
	if _, ok := c.timed[string(rune(0x4e00))]; ok {
		t.Fatal("the oldest was kept")
	}
	c.CallbackDelivered("support", string(rune(0x4e00+maxTimed+9)))
	if c.Snapshot(all, true).Hour.LatencyP50MS == nil {
		t.Fatal("the newest was forgotten")
	}
}
