package handler

import (
	"testing"
	"time"
)

func TestJitterSpread(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Second
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for range 10000 {
		j := Jitter(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < 80*time.Second || hi >= 120*time.Second {
		t.Fatalf("Jitter(100s) spans [%v, %v], want within [80s, 120s)", lo, hi)
	}
	if lo > 81*time.Second || hi < 119*time.Second {
		t.Fatalf("Jitter(100s) spans only [%v, %v]", lo, hi)
	}
}
