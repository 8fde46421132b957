package delivery

import (
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/agenthook/agenthook/store"
)

func TestRetryAfterTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := func(v string) *http.Response {
		r := &http.Response{Header: http.Header{}}
		if v != "" {
			r.Header.Set("Retry-After", v)
		}
		return r
	}
	tests := []struct {
		name string
		resp *http.Response
		want time.Duration
		ok   bool
	}{
		{"no response", nil, 0, false},
		{"no header", resp(""), 0, false},
		{"seconds", resp("120"), 120 * time.Second, true},
		{"spaces", resp("  30 "), 30 * time.Second, true},
		{"zero", resp("0"), time.Second, true},
		{"negative", resp("-5"), 0, false},
		{"huge", resp("99999999999"), maxRetryAfter, true},
		{"beyond int64", resp("99999999999999999999999"), 0, false},
		{"fraction", resp("1.5"), 0, false},
		{"IMF date", resp(now.Add(90 * time.Minute).Format(http.TimeFormat)), 90 * time.Minute, true},
		{"RFC 850 date", resp(now.Add(time.Hour).Format(time.RFC850)), time.Hour, true},
		{"ANSI C date", resp(now.Add(2 * time.Hour).Format(time.ANSIC)), 2 * time.Hour, true},
		{"past date", resp(now.Add(-time.Hour).Format(http.TimeFormat)), time.Second, true},
		{"far date", resp(now.Add(100 * time.Hour).Format(http.TimeFormat)), maxRetryAfter, true},
		{"garbage", resp("tomorrow"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retryAfter(tt.resp, now)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("retryAfter = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestAttemptsInRoundTable(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(mins ...int) []store.Attempt {
		var out []store.Attempt
		for _, m := range mins {
			out = append(out, store.Attempt{At: t0.Add(time.Duration(m) * time.Minute)})
		}
		return out
	}
	tests := []struct {
		name string
		d    store.Delivery
		want int
	}{
		{"new", store.Delivery{}, 0},
		{"never requeued", store.Delivery{AttemptCount: 3, Attempts: at(0, 1, 2)}, 3},
		// The store may keep fewer attempts than it counts.
		{"never requeued, log truncated", store.Delivery{AttemptCount: 60, Attempts: at(0, 1)}, 60},
		{"requeued, nothing since", store.Delivery{AttemptCount: 8, Attempts: at(0, 1, 2, 3, 4, 5, 6, 7), RequeuedAt: t0.Add(10 * time.Minute)}, 0},
		{"requeued, two since", store.Delivery{AttemptCount: 10, Attempts: at(0, 1, 2, 3, 4, 5, 6, 7, 11, 12), RequeuedAt: t0.Add(10 * time.Minute)}, 2},
		{"attempt at the requeue instant counts", store.Delivery{AttemptCount: 2, Attempts: at(0, 10), RequeuedAt: t0.Add(10 * time.Minute)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := attemptsInRound(&tt.d); got != tt.want {
				t.Fatalf("attemptsInRound = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestNextAttempt runs on the bubble's clock: each step of the schedule
// is waited for with its jitter, a longer Retry-After wins, and the
// schedule's end is a dead letter; a replay starts it over.
func TestNextAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		schedule := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}
		dl := &store.Delivery{}
		within := func(got time.Time, step time.Duration) bool {
			wait := time.Until(got)
			return wait >= step*8/10 && wait <= step*12/10
		}
		for i, step := range schedule {
			next, ok := nextAttempt(schedule, dl, nil, time.Now())
			if !ok || !within(next, step) {
				t.Fatalf("attempt %d: next in %v (ok %v), want %v ±20%%", i+1, time.Until(next), ok, step)
			}
			time.Sleep(time.Until(next))
			dl.AttemptCount++
			dl.Attempts = append(dl.Attempts, store.Attempt{At: time.Now()})
		}
		if _, ok := nextAttempt(schedule, dl, nil, time.Now()); ok {
			t.Fatal("a next attempt after the schedule ran out")
		}

		// A replay starts the schedule over; Retry-After longer than the
		// step wins, shorter does not.
		time.Sleep(time.Hour)
		dl.RequeuedAt = time.Now()
		resp := &http.Response{Header: http.Header{"Retry-After": {strconv.Itoa(120)}}}
		next, ok := nextAttempt(schedule, dl, resp, time.Now())
		if !ok || time.Until(next) != 120*time.Second {
			t.Fatalf("after a replay with Retry-After 120: next in %v (ok %v)", time.Until(next), ok)
		}
		resp.Header.Set("Retry-After", time.Now().Add(time.Second).UTC().Format(http.TimeFormat))
		if next, _ := nextAttempt(schedule, dl, resp, time.Now()); !within(next, schedule[0]) {
			t.Fatalf("a Retry-After shorter than the step: next in %v", time.Until(next))
		}
	})
}
