package handler

import (
	"math/rand/v2"
	"time"
)

// Jitter spreads d by ±20%, so that retries of many tasks or deliveries
// do not arrive at once.
func Jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
