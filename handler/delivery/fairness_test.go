package delivery

import (
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/agenthook/agenthook/store"
)

func TestAgentSlots(t *testing.T) {
	t.Parallel()
	var s agentSlots
	took := 0
	for range 3 {
		if s.reserve("a", 2) {
			took++
		}
	}
	if took != 2 {
		t.Fatal("a share of 2 did not take exactly 2")
	}
	if !s.reserve("b", 2) {
		t.Fatal("another agent found no slot")
	}
	if full := s.full(2); len(full) != 1 || full[0] != "a" {
		t.Fatalf("full = %v, want [a]", full)
	}
	s.unreserve("a")
	if full := s.full(2); len(full) != 0 {
		t.Fatalf("full = %v after a slot was freed", full)
	}
}

// TestDispatchAgentShare: agent A's receivers hang until the attempt
// times out and it has many deliveries; agent B's deliveries still go
// out at once, because A may hold only its share of the workers.
func TestDispatchAgentShare(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = 10 * time.Second
		f := newBubbleFixture(t, Config{Workers: 4, AgentWorkers: 2, Concurrency: 100, Timeout: timeout, Schedule: []time.Duration{time.Hour}})
		slow := &Callback{ID: "cfg-agent-a-1", Agent: "agent-a", URL: f.url + "/slow", Method: http.MethodPost, Format: FormatRaw}
		slow2 := &Callback{ID: "cfg-agent-a-2", Agent: "agent-a", URL: f.url + "/slow", Method: http.MethodPost, Format: FormatRaw}
		fast := &Callback{ID: "cfg-agent-b-1", Agent: "agent-b", URL: f.url + "/fast", Method: http.MethodPost, Format: FormatRaw}
		f.reg.Configure(Static{"agent-a": {slow, slow2}, "agent-b": {fast}})
		var slowInFlight, slowMax atomic.Int32
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				n := slowInFlight.Add(1)
				for {
					m := slowMax.Load()
					if n <= m || slowMax.CompareAndSwap(m, n) {
						break
					}
				}
				<-r.Context().Done() // hangs until the attempt times out
				slowInFlight.Add(-1)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		f.agent = "agent-a"
		f.enqueue(slow.ID, 10)
		f.enqueue(slow2.ID, 10)
		f.d.Start()
		defer f.d.Stop(time.Second)
		synctest.Wait()
		start := time.Now()
		f.agent = "agent-b"
		ids := f.enqueue(fast.ID, 6)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		for _, id := range ids {
			d := f.get(id)
			if d.Status != store.DeliveryDelivered {
				t.Fatalf("agent-b's delivery %s is %s %v after it was queued, while agent-a's receivers hang", id, d.Status, time.Since(start))
			}
		}
		if got := slowMax.Load(); got != 2 {
			t.Fatalf("agent-a had up to %d attempts in flight, want its share of 2", got)
		}
	})
}
