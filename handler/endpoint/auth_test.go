package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// replayVerifier accepts every request and names its message by the
// X-Msg-Id header, like Standard Webhooks' webhook-id.
type replayVerifier struct{}

func (replayVerifier) Scheme() string { return "test" }
func (replayVerifier) Verify(r *http.Request, _ []byte, _ time.Time) (signing.Result, error) {
	return signing.Result{Principal: "test", ReplayKey: "test:" + r.Header.Get("X-Msg-Id"), ReplayTTL: time.Hour}, nil
}

func TestEndpointReplayKeyReleasedOnFailure(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, func(e *Endpoint) {
		e.Auth = Auth{Verifiers: []signing.Verifier{replayVerifier{}}, Replay: e.Store.(store.ReplayGuard)}
	})
	fail := true
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		if fail {
			return &handler.BackendError{Status: 502, Err: errors.New("down")}
		}
		_, _ = io.WriteString(w, "ok")
		return nil
	})
	// A failed request gives its id back: the sender's retry is not a replay.
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"), http.StatusBadGateway, handler.CodeBadGateway)
	fail = false
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"); rec.Code != 200 {
		t.Fatalf("retry after a failure: %d %s", rec.Code, rec.Body)
	}
	// A success keeps it.
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m1"), http.StatusConflict, handler.CodeReplayed)

	// A 5xx answer from the backend also gives it back.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m2"); rec.Code != 503 {
		t.Fatal(rec.Code)
	}
	if fresh, _ := f.st.Remember(context.Background(), "test:m2", time.Hour); !fresh {
		t.Fatal("the key of a request answered 5xx was kept")
	}
	// So does a request refused after authentication (unknown chat).
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m3", DefaultContinueHeader, handler.NewID()), http.StatusNotFound, handler.CodeChatNotFound)
	if fresh, _ := f.st.Remember(context.Background(), "test:m3", time.Hour); !fresh {
		t.Fatal("the key of a refused request was kept")
	}
	// A 4xx answer is the backend's verdict: the key stays used.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m4")
	if fresh, _ := f.st.Remember(context.Background(), "test:m4", time.Hour); fresh {
		t.Fatal("the key of a request answered 4xx was released")
	}
}

func TestEndpointReplayKeyReleasedOnCutShort(t *testing.T) {
	t.Parallel()
	f := newEpFixture(t, ModeSync, func(e *Endpoint) {
		e.Auth = Auth{Verifiers: []signing.Verifier{replayVerifier{}}, Replay: e.Store.(store.ReplayGuard)}
	})
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "part")
		return errors.New("reset")
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "cut")
	if fresh, _ := f.st.Remember(context.Background(), "test:cut", time.Hour); !fresh {
		t.Fatal("the key of a cut-short answer was kept")
	}
}

// fakeVerifier answers every request with err, or accepts it as
// principal when err is nil.
type fakeVerifier struct {
	scheme, principal string
	err               error
}

func (v fakeVerifier) Scheme() string { return v.scheme }
func (v fakeVerifier) Verify(*http.Request, []byte, time.Time) (signing.Result, error) {
	if v.err != nil {
		return signing.Result{}, v.err
	}
	return signing.Result{Principal: v.principal}, nil
}

// TestAuthBusy: a verifier that could not get a slot for its check did
// not judge the credentials, so the answer is 503 overloaded with
// Retry-After, not 401; another verifier that accepts still wins.
func TestAuthBusy(t *testing.T) {
	t.Parallel()
	busy := fakeVerifier{scheme: "basic", err: fmt.Errorf("basic: %w", signing.ErrBusy)}
	missing := fakeVerifier{scheme: "bearer", err: fmt.Errorf("bearer: %w", signing.ErrMissing)}
	ok := fakeVerifier{scheme: "bearer", principal: "bearer:abc"}
	req := httptest.NewRequest(http.MethodPost, "/p", nil)

	for _, vs := range [][]signing.Verifier{{busy}, {busy, missing}, {missing, busy}} {
		a := Auth{Verifiers: vs}
		_, err := a.Authenticate(context.Background(), req, nil, time.Now())
		var he *handler.Error
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.Code != handler.CodeOverloaded || he.RetryAfter != 1 {
			t.Fatalf("%d verifiers, one busy: %v; want 503 overloaded with Retry-After 1", len(vs), err)
		}
		rec := httptest.NewRecorder()
		handler.WriteError(rec, err)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || rec.Header().Get("Www-Authenticate") != "" {
			t.Fatalf("answer %d %v", rec.Code, rec.Header())
		}
	}
	a := Auth{Verifiers: []signing.Verifier{busy, ok}}
	if id, err := a.Authenticate(context.Background(), req, nil, time.Now()); err != nil || id.Principal != "bearer:abc" {
		t.Fatalf("busy then accepted: %+v, %v", id, err)
	}

	// Through an endpoint: 503, and the backend is not called.
	f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.Auth = Auth{Verifiers: []signing.Verifier{busy}} })
	rec := f.do(http.MethodPost, "/p", "{}")
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeOverloaded)
	if rec.Header().Get("Retry-After") != "1" || len(f.calls()) != 0 {
		t.Fatalf("Retry-After %q, %d backend calls", rec.Header().Get("Retry-After"), len(f.calls()))
	}
}
