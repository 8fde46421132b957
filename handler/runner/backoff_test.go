package runner

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	within := func(got, d time.Duration) bool {
		return got >= time.Duration(float64(d)*0.8) && got <= time.Duration(float64(d)*1.2)
	}
	tests := []struct {
		base    time.Duration
		attempt int
		want    time.Duration // before jitter
	}{
		{time.Second, 0, time.Second},
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 8, 128 * time.Second},
		{time.Second, 9, 256 * time.Second},
		{time.Second, 10, maxBackoff},
		{time.Second, 1000, maxBackoff},
		{time.Minute, 3, 4 * time.Minute},
		{time.Minute, 4, maxBackoff},
		{time.Hour, 1, maxBackoff},
		{time.Nanosecond, 63, maxBackoff},
	}
	for _, tt := range tests {
		tt.want = min(tt.want, maxBackoff*5/6)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 2000 {
			got := backoff(tt.base, tt.attempt)
			if !within(got, tt.want) {
				t.Fatalf("backoff(%v, %d) = %v, want %v ±20%%", tt.base, tt.attempt, got, tt.want)
			}
			lo, hi = min(lo, got), max(hi, got)
		}
		if lo > time.Duration(float64(tt.want)*0.85) || hi < time.Duration(float64(tt.want)*1.15) {
			t.Fatalf("backoff(%v, %d) spans only [%v, %v]", tt.base, tt.attempt, lo, hi)
		}
	}
	// The cap applies after the jitter: the longest wait is maxBackoff.
	for range 1000 {
		if got := backoff(time.Second, 50); got > maxBackoff || got < maxBackoff*5/6*8/10 {
			t.Fatalf("capped backoff %v", got)
		}
	}
}
