// Package stats keeps the last hour of what the dashboard charts: tasks
// accepted, delivery attempts and their failures, the time from a task's
// 202 to its first delivered callback, and queue depth, in one-minute
// buckets per agent.
//
// It is kept in memory by each Caddy instance (it survives config reloads,
// not restarts): several instances sharing a store each chart what they
// did themselves. Queue depth is the exception: it is read from the store,
// so it is the same everywhere.
package stats

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
)

const (
	// Bucket is the width of one point of the series.
	Bucket = time.Minute
	// Buckets is how many points a snapshot has: the last hour.
	Buckets = 60
	// maxTimed bounds the tasks whose 202 is remembered until their first
	// callback is delivered; the oldest are forgotten first.
	maxTimed = 20000
	// latency histogram: bucket i holds samples up to latencyBase *
	// latencyGrowth^i milliseconds; the last one holds everything longer.
	latencyBase    = 1.0
	latencyGrowth  = 1.25
	latencyBuckets = 72 // up to about 9 hours
)

// Collector counts events. It implements handler.Metrics and
// handler.CallbackTimer, so that it can sit next to the Prometheus
// collectors. The zero value is not usable: use New.
type Collector struct {
	now func() time.Time

	mu      sync.Mutex
	ring    [Buckets]bucket
	timed   map[string]time.Time // task id → its 202
	order   []string             // ids of timed, oldest first
	orderAt int                  // index of the oldest in order once it is full
}

type bucket struct {
	minute int64 // unix minutes; the bucket is empty when it is not the one wanted
	agents map[string]*counts
	// queue depth, instance-wide, when it was sampled in this minute.
	queueSampled     bool
	pending, started int
}

type counts struct {
	accepted       int // tasks answered with 202
	finished       int
	failed         int // tasks that ended in FAILURE
	attempts       int // delivery attempts
	attemptsFailed int // attempts that did not deliver
	latency        [latencyBuckets]uint32
	latencyN       int
}

// New returns an empty collector; now may be nil for time.Now.
func New(now func() time.Time) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{now: now, timed: make(map[string]time.Time)}
}

// at returns the bucket of the current minute, emptied if it held an
// older one. Callers hold mu.
func (c *Collector) current() *bucket {
	m := c.now().Unix() / 60
	b := &c.ring[m%Buckets]
	if b.minute != m {
		*b = bucket{minute: m}
	}
	return b
}

func (b *bucket) agent(name string) *counts {
	if b.agents == nil {
		b.agents = make(map[string]*counts)
	}
	ct := b.agents[name]
	if ct == nil {
		ct = new(counts)
		b.agents[name] = ct
	}
	return ct
}

// Request counts tasks accepted with a 202.
func (c *Collector) Request(agent, _, outcome string) {
	if outcome != "accepted" || agent == "" {
		return
	}
	c.mu.Lock()
	c.current().agent(agent).accepted++
	c.mu.Unlock()
}

// TaskFinished counts finished tasks and failures.
func (c *Collector) TaskFinished(agent, status string, _ time.Duration) {
	c.mu.Lock()
	ct := c.current().agent(agent)
	ct.finished++
	if status == "FAILURE" {
		ct.failed++
	}
	c.mu.Unlock()
}

// DeliveryAttempt counts a callback attempt; every outcome but
// "delivered" is a failure.
func (c *Collector) DeliveryAttempt(agent, outcome string, _ time.Duration) {
	c.mu.Lock()
	ct := c.current().agent(agent)
	ct.attempts++
	if outcome != "delivered" {
		ct.attemptsFailed++
	}
	c.mu.Unlock()
}

// TaskAwaitsCallback remembers when a finished task was accepted, until
// its first callback is delivered.
func (c *Collector) TaskAwaitsCallback(_, taskID string, accepted time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.timed[taskID]; ok {
		return
	}
	if len(c.order) < maxTimed {
		c.order = append(c.order, taskID)
	} else {
		delete(c.timed, c.order[c.orderAt])
		c.order[c.orderAt] = taskID
		c.orderAt = (c.orderAt + 1) % maxTimed
	}
	c.timed[taskID] = accepted
}

// CallbackDelivered records the time from a task's 202 to now, the first
// time one of its callbacks is delivered on this instance.
func (c *Collector) CallbackDelivered(agent, taskID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	accepted, ok := c.timed[taskID]
	if !ok {
		return
	}
	// Left in order: its slot is reused in turn, and a delete of an
	// id no longer in timed is harmless.
	delete(c.timed, taskID)
	ms := float64(c.now().Sub(accepted)) / float64(time.Millisecond)
	ct := c.current().agent(agent)
	ct.latency[latencyIndex(ms)]++
	ct.latencyN++
}

func latencyIndex(ms float64) int {
	if ms <= latencyBase {
		return 0
	}
	i := int(math.Ceil(math.Log(ms/latencyBase) / math.Log(latencyGrowth)))
	return min(i, latencyBuckets-1)
}

// latencyBound is the upper bound of a histogram bucket, in milliseconds.
func latencyBound(i int) float64 { return latencyBase * math.Pow(latencyGrowth, float64(i)) }

// SampleQueue records the store's queue depth for the current minute.
func (c *Collector) SampleQueue(pending, started int) {
	c.mu.Lock()
	b := c.current()
	b.queueSampled, b.pending, b.started = true, pending, started
	c.mu.Unlock()
}

// QueueCounter reads the queue depth: the tasks waiting and running (a
// store's TaskCounts).
type QueueCounter func(ctx context.Context) (pending, started int, err error)

// ReadQueue reads the queue depth with read, waiting on the store no
// longer than handler.StoreTimeout, into the current minute. A failed read
// leaves the minute as it was; it is logged at debug level (its category
// only), unless ctx ended.
func (c *Collector) ReadQueue(ctx context.Context, read QueueCounter, logger *zap.Logger) {
	ctx, cancel := handler.WithStoreTimeout(ctx)
	defer cancel()
	pending, started, err := read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Debug("stats: reading queue depth", handler.StoreErrField(err))
		}
		return
	}
	c.SampleQueue(pending, started)
}

// The rest of handler.Metrics is not charted.
func (c *Collector) AuthFailure(string, string)                   {}
func (c *Collector) BackendLatency(string, string, time.Duration) {}
func (c *Collector) TaskRetried(string)                           {}
func (c *Collector) CallbackDisabled(string)                      {}
func (c *Collector) Event(string, string)                         {}
func (c *Collector) BackendTokens(string, string, int64)          {}

// Point is one minute of the series. Rates are per second over the
// minute (the current minute: over the part of it gone by). A value is
// absent (null) when there is nothing to compute it from.
type Point struct {
	Start time.Time `json:"start"`
	// Tasks are the tasks accepted (202), Deliveries the delivery
	// attempts and DeliveriesFailed those that did not deliver.
	Tasks            int     `json:"tasks"`
	Deliveries       int     `json:"deliveries"`
	DeliveriesFailed int     `json:"deliveries_failed"`
	TasksPerSec      float64 `json:"tasks_per_s"`
	DeliveriesPerS   float64 `json:"deliveries_per_s"`
	// FailureRate is the share of delivery attempts that did not deliver.
	FailureRate *float64 `json:"failure_rate"`
	TasksFailed int      `json:"tasks_failed"`
	// LatencyP50MS and LatencyP99MS: from a task's 202 to its first
	// delivered callback, in milliseconds (the upper bound of a
	// histogram bucket, so within 25%).
	LatencyP50MS *float64 `json:"latency_p50_ms"`
	LatencyP99MS *float64 `json:"latency_p99_ms"`
	// QueuePending and QueueStarted are the tasks waiting and running,
	// as last sampled in the minute; absent for keys limited to some
	// agents (the count is the store's, of every agent).
	QueuePending *int `json:"queue_pending"`
	QueueStarted *int `json:"queue_started"`
}

// Snapshot is the last hour, oldest point first.
type Snapshot struct {
	BucketSeconds int       `json:"bucket_seconds"`
	Scope         string    `json:"scope"`
	Agents        []string  `json:"agents,omitempty"`
	GeneratedAt   time.Time `json:"generated_at"`
	Points        []Point   `json:"points"`
	// Hour sums the whole window: the same fields, rates over the hour.
	Hour Point `json:"hour"`
}

// Snapshot returns the last hour for the agents sees admits; queue
// depth is included only when every agent is seen (all).
func (c *Collector) Snapshot(sees func(agent string) bool, all bool) Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	cur := now.Unix() / 60
	s := Snapshot{BucketSeconds: int(Bucket / time.Second), Scope: "instance", GeneratedAt: now.UTC(), Points: make([]Point, 0, Buckets)}
	var hour counts
	hourSeconds := 0.0
	var lastPending, lastStarted *int
	for m := cur - Buckets + 1; m <= cur; m++ {
		start := time.Unix(m*60, 0).UTC()
		seconds := 60.0
		if m == cur {
			seconds = max(now.Sub(start).Seconds(), 1)
		}
		hourSeconds += seconds
		var sum counts
		b := &c.ring[m%Buckets]
		p := Point{Start: start}
		if b.minute == m {
			for name, ct := range b.agents {
				if sees(name) {
					sum.add(ct)
				}
			}
			if all && b.queueSampled {
				pending, started := b.pending, b.started
				p.QueuePending, p.QueueStarted = &pending, &started
				lastPending, lastStarted = &pending, &started
			}
		}
		sum.fill(&p, seconds)
		hour.add(&sum)
		s.Points = append(s.Points, p)
	}
	hour.fill(&s.Hour, hourSeconds)
	s.Hour.Start = s.Points[0].Start
	s.Hour.QueuePending, s.Hour.QueueStarted = lastPending, lastStarted
	return s
}

func (ct *counts) add(o *counts) {
	ct.accepted += o.accepted
	ct.finished += o.finished
	ct.failed += o.failed
	ct.attempts += o.attempts
	ct.attemptsFailed += o.attemptsFailed
	for i, n := range o.latency {
		ct.latency[i] += n
	}
	ct.latencyN += o.latencyN
}

func (ct *counts) fill(p *Point, seconds float64) {
	p.Tasks, p.Deliveries, p.DeliveriesFailed = ct.accepted, ct.attempts, ct.attemptsFailed
	p.TasksPerSec = round(float64(ct.accepted) / seconds)
	p.DeliveriesPerS = round(float64(ct.attempts) / seconds)
	p.TasksFailed = ct.failed
	if ct.attempts > 0 {
		r := round(float64(ct.attemptsFailed) / float64(ct.attempts))
		p.FailureRate = &r
	}
	if ct.latencyN > 0 {
		p50, p99 := ct.quantile(0.5), ct.quantile(0.99)
		p.LatencyP50MS, p.LatencyP99MS = &p50, &p99
	}
}

func (ct *counts) quantile(q float64) float64 {
	rank := int(math.Ceil(q * float64(ct.latencyN)))
	seen := 0
	for i, n := range ct.latency {
		seen += int(n)
		if seen >= rank {
			return round(latencyBound(i))
		}
	}
	return round(latencyBound(latencyBuckets - 1))
}

func round(v float64) float64 { return math.Round(v*10000) / 10000 }

// AgentsOf lists the agents a snapshot is limited to, sorted, for its
// answer.
func AgentsOf(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return out
}

// Interface guards
var (
	_ handler.Metrics       = (*Collector)(nil)
	_ handler.CallbackTimer = (*Collector)(nil)
)
