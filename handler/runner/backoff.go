package runner

import (
	"time"

	"github.com/agenthook/agenthook/handler"
)

// backoff is base·2^(attempt-1) with ±20% jitter, at most maxBackoff.
// The cap applies before the jitter (to 5/6 of maxBackoff), so capped
// retries stay spread out.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return handler.Jitter(min(d, maxBackoff*5/6))
}
