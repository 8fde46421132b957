package testkit

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports come from below the ephemeral range, are free, and are never
// handed out twice, also to tests asking at once.
func TestFreePort(t *testing.T) {
	t.Parallel()
	low, high := portRange(ephemeralLow())
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				p := FreePort(t)
				mu.Lock()
				if seen[p] {
					t.Errorf("port %d handed out twice", p)
				}
				seen[p] = true
				mu.Unlock()
				if high-low >= 1000 && (p < low || p >= high) {
					t.Errorf("port %d outside [%d, %d)", p, low, high)
				}
			}
		}()
	}
	wg.Wait()
	for p := range seen {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
		break
	}
}

func TestPortRange(t *testing.T) {
	t.Parallel()
	if low, high := portRange(32768); low != portsLow || high != portsHigh {
		t.Errorf("usual range: [%d, %d)", low, high)
	}
	if _, high := portRange(25000); high != 25000 {
		t.Errorf("a lower ephemeral range must bound the ports: high %d", high)
	}
}
