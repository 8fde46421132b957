package testkit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// FreePort returns a loopback port that was free a moment ago, for a
// process to listen on later (a Caddy, a receiver brought back), or for
// nothing to listen on.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The ports handed out lie below the kernel's ephemeral range, from which
// outgoing connections and listeners on port 0 take theirs. A port of the
// ephemeral range, free when handed out, may be taken by any client
// connection before the process meant for it listens, and tests running
// in parallel make thousands of connections; a port below the range is
// taken only by a listener asking for it by number. Within a process, no
// port is handed out twice.
const (
	portsLow  = 20000
	portsHigh = 32768 // the usual start of the ephemeral range
)

var ports struct {
	mu     sync.Mutex
	handed map[int]bool
	low    int // the range in use: [low, high)
	high   int
}

func freePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.handed == nil {
		ports.handed = map[int]bool{}
		ports.low, ports.high = portRange(ephemeralLow())
	}
	if ports.high-ports.low < 1000 {
		// The ephemeral range leaves too little room below it: fall back
		// to whatever the kernel gives.
		return kernelPort()
	}
	n := ports.high - ports.low
	start := rand.IntN(n)
	for i := range n {
		p := ports.low + (start+i)%n
		if ports.handed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue // taken
		}
		l.Close()
		ports.handed[p] = true
		return p, nil
	}
	return 0, errors.New("no free port left below the ephemeral range")
}

// portRange is [portsLow, min(portsHigh, ephemeral start)).
func portRange(ephemeral int) (low, high int) {
	return portsLow, min(portsHigh, ephemeral)
}

// ephemeralLow reads the start of the kernel's ephemeral port range
// (Linux); elsewhere it assumes the usual one.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return portsHigh
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return portsHigh
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return portsHigh
	}
	return n
}

func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
