package handler

import (
	"strconv"
	"strings"
)

// Loop protection. Every delivery carries the sending installation's id
// (HeaderOrigin) and its hop count (HeaderHops): the hops of the request
// that made its task, plus one. An endpoint refuses a request that carries
// its own installation's id, since that is one of its deliveries coming
// back, and one whose hop count is over its limit, which ends a loop that
// runs through other installations too. A chain of different
// installations within the limit keeps working.
const (
	HeaderHops   = "X-Agenthook-Hops"
	HeaderOrigin = "X-Agenthook-Origin"

	// MetaHops is the task Meta key with the hop count of the request
	// that made the task, when it had one.
	MetaHops = "agenthook.hops"

	// DefaultMaxHops is how many agenthook hops a request may carry.
	DefaultMaxHops = 3
)

// ParseHops reads a hop count header: absent is 0; anything but a
// non-negative number is not ok.
func ParseHops(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// TaskHops is the hop count a task's request carried.
func TaskHops(meta map[string]string) int {
	n, ok := ParseHops(meta[MetaHops])
	if !ok {
		return 0
	}
	return n
}
