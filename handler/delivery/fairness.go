package delivery

import "sync"

// agentSlots counts each agent's attempts in flight on this instance, so
// that one agent's slow receivers can hold at most its share of the
// workers and another agent's deliveries still go out.
type agentSlots struct {
	mu       sync.Mutex
	inflight map[string]int
}

// full names the agents at their share: the next claim skips them.
func (s *agentSlots) full(share int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for agent, n := range s.inflight {
		if n >= share {
			out = append(out, agent)
		}
	}
	return out
}

// reserve takes a slot of agent's share, or reports that none is free.
func (s *agentSlots) reserve(agent string, share int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = make(map[string]int)
	}
	if s.inflight[agent] >= share {
		return false
	}
	s.inflight[agent]++
	return true
}

func (s *agentSlots) unreserve(agent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[agent]--; s.inflight[agent] <= 0 {
		delete(s.inflight, agent)
	}
}
