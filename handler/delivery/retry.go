package delivery

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// nextAttempt is when a failed delivery is tried again: the schedule's
// next step with ±20% jitter, or later if the receiver asked for it with
// Retry-After. ok is false when the schedule has run out.
func nextAttempt(schedule []time.Duration, dl *store.Delivery, resp *http.Response, now time.Time) (next time.Time, ok bool) {
	n := attemptsInRound(dl) + 1
	if n > len(schedule) {
		return time.Time{}, false
	}
	next = now.Add(handler.Jitter(schedule[n-1]))
	if ra, ok := retryAfter(resp, now); ok && now.Add(ra).After(next) {
		next = now.Add(ra)
	}
	return next, true
}

// attemptsInRound counts the attempts since the delivery was last
// requeued by hand, so a replay starts the schedule over.
func attemptsInRound(dl *store.Delivery) int {
	if dl.RequeuedAt.IsZero() {
		return dl.AttemptCount
	}
	n := 0
	for _, a := range dl.Attempts {
		if !a.At.Before(dl.RequeuedAt) {
			n++
		}
	}
	return n
}

// retryAfter reads a Retry-After header (seconds or a date), clamped to
// at least a second and at most maxRetryAfter.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), maxRetryAfter), true
}
