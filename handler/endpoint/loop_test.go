package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

const testOrigin = "ah_0123456789abcdef0123456789abcdef"

func withLoopGuard(maxHops int) func(e *Endpoint) {
	return func(e *Endpoint) {
		e.Origin = func(context.Context) (string, error) { return testOrigin, nil }
		e.MaxHops = maxHops
	}
}

// TestEndpointRefusesOwnDelivery: a request carrying this installation's
// marker is one of its own deliveries coming back; it is refused before
// the body is read or the caller authenticated, in both modes.
func TestEndpointRefusesOwnDelivery(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeSync, ModeAsync} {
		f := newEpFixture(t, mode, withLoopGuard(0))
		rec := f.do(http.MethodPost, "/p", "{}", handler.HeaderOrigin, testOrigin, handler.HeaderHops, "1")
		wantError(t, rec, http.StatusLoopDetected, handler.CodeLoopDetected)
		if len(f.calls()) != 0 {
			t.Fatalf("%s: the backend was called", mode)
		}
		// Another installation's delivery is fine.
		rec = f.do(http.MethodPost, "/p", "{}", handler.HeaderOrigin, "ah_another", handler.HeaderHops, "1")
		if rec.Code != http.StatusOK && rec.Code != http.StatusAccepted {
			t.Fatalf("%s: another installation's delivery: %d %s", mode, rec.Code, rec.Body)
		}
	}
}

func TestEndpointHopLimit(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, withLoopGuard(0))
	for hops, want := range map[string]int{
		"": http.StatusAccepted, "0": http.StatusAccepted, "3": http.StatusAccepted,
		"4": http.StatusLoopDetected, "99999999999999999999": http.StatusBadRequest,
		"-1": http.StatusBadRequest, "two": http.StatusBadRequest,
	} {
		rec := f.do(http.MethodPost, "/p", "{}", handler.HeaderHops, hops)
		if rec.Code != want {
			t.Errorf("hops %q: %d %s, want %d", hops, rec.Code, rec.Body, want)
		}
	}
	f = newEpFixture(t, ModeSync, withLoopGuard(1))
	wantError(t, f.do(http.MethodPost, "/p", "{}", handler.HeaderHops, "2"), http.StatusLoopDetected, handler.CodeLoopDetected)
	if rec := f.do(http.MethodPost, "/p", "{}", handler.HeaderHops, "1"); rec.Code != http.StatusOK {
		t.Fatalf("hops 1 with a limit of 1: %d", rec.Code)
	}
}

// TestEndpointKeepsHops: an async task remembers the hops its request
// carried, so that its deliveries carry one more.
func TestEndpointKeepsHops(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, withLoopGuard(0))
	for hops, want := range map[string]int{"2": 2, "": 0} {
		rec := f.do(http.MethodPost, "/p", "{}", handler.HeaderHops, hops, handler.HeaderOrigin, "ah_another")
		var a accepted
		if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		task, err := f.st.GetTask(context.Background(), a.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if got := handler.TaskHops(task.Meta); got != want {
			t.Errorf("hops %q: the task keeps %d, want %d", hops, got, want)
		}
	}
}

func TestEndpointOriginStoreDown(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeAsync, func(e *Endpoint) {
		e.Origin = func(context.Context) (string, error) { return "", store.Unavailable("down", errors.New("x")) }
	})
	wantError(t, f.do(http.MethodPost, "/p", "{}", handler.HeaderOrigin, testOrigin), http.StatusServiceUnavailable, handler.CodeUnavailable)
	// Without the header, the store is not asked.
	if rec := f.do(http.MethodPost, "/p", "{}"); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
