package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
)

// lines names verifiers as the config does: <scheme>#<n>, counting per
// scheme.
func lines(vs ...signing.Verifier) []AuthLine {
	n := map[string]int{}
	out := make([]AuthLine, len(vs))
	for i, v := range vs {
		n[v.Scheme()]++
		out[i] = AuthLine{Name: LineName(v.Scheme(), n[v.Scheme()]), Verifier: v}
	}
	return out
}

func newBearer(t *testing.T, tokens ...string) *signing.Bearer {
	t.Helper()
	b, err := signing.NewBearer(tokens)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replayVerifier accepts every request and names its message by the
// X-Msg-Id header, like Standard Webhooks' webhook-id.
type replayVerifier struct{}

func (replayVerifier) Scheme() string { return "test" }
func (replayVerifier) Verify(r *http.Request, _ []byte, _ time.Time) (signing.Result, error) {
	return signing.Result{Principal: "test", KeyID: "k1", ReplayKey: "test:" + r.Header.Get("X-Msg-Id"), ReplayTTL: time.Hour}, nil
}

// replayKey is the key the endpoint "ep" keeps for a replayVerifier
// message on its first line.
func replayKey(msg string) string {
	id := Identity{Line: "test#1", KeyID: "k1"}
	id.named("test:"+msg, time.Hour)
	id.bind("ep")
	return id.ReplayKey
}

func replayFixture(t *testing.T, mode Mode) *epFixture {
	return newEpFixture(t, mode, func(e *Endpoint) {
		e.Auth = Auth{Lines: lines(replayVerifier{})}
	})
}

func TestEndpointReplayKeyReleasedOnFailure(t *testing.T) {
	t.Parallel()
	f := replayFixture(t, ModeSync)
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
	if fresh, _ := f.st.Remember(context.Background(), replayKey("m1"), time.Hour); fresh {
		t.Fatal("the key of an accepted message was not kept")
	}

	// A 5xx answer from the backend also gives it back.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusServiceUnavailable)
		return nil
	})
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m2"); rec.Code != 503 {
		t.Fatal(rec.Code)
	}
	if fresh, _ := f.st.Remember(context.Background(), replayKey("m2"), time.Hour); !fresh {
		t.Fatal("the key of a request answered 5xx was kept")
	}
	// So does a request refused after authentication (unknown chat).
	wantError(t, f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m3", DefaultContinueHeader, handler.NewID()), http.StatusNotFound, handler.CodeChatNotFound)
	if fresh, _ := f.st.Remember(context.Background(), replayKey("m3"), time.Hour); !fresh {
		t.Fatal("the key of a refused request was kept")
	}
	// A 4xx answer is the backend's verdict: the key stays used.
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusBadRequest)
		return nil
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "m4")
	if fresh, _ := f.st.Remember(context.Background(), replayKey("m4"), time.Hour); fresh {
		t.Fatal("the key of a request answered 4xx was released")
	}
}

func TestEndpointReplayKeyReleasedOnCutShort(t *testing.T) {
	t.Parallel()
	f := replayFixture(t, ModeSync)
	f.setBackend(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "part")
		return errors.New("reset")
	})
	f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "cut")
	if fresh, _ := f.st.Remember(context.Background(), replayKey("cut"), time.Hour); !fresh {
		t.Fatal("the key of a cut-short answer was kept")
	}
}

// TestEndpointSyncDuplicate: a sync endpoint answers a duplicate of an
// accepted message 200 with Idempotent-Replayed, without calling the
// backend: a 409 would make the sender count a failure and retry.
func TestEndpointSyncDuplicate(t *testing.T) {
	t.Parallel()
	f := replayFixture(t, ModeSync)
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_1"); rec.Code != 200 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_1")
	var d duplicate
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil || d != (duplicate{"duplicate", "msg_1"}) || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("duplicate: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if n := len(f.calls()); n != 1 {
		t.Fatalf("the backend was called %d times, want 1", n)
	}
}

// TestEndpointReplayTTL: a message is remembered for the endpoint's
// ReplayTTL (24 h by default), but never for less than its verifier needs.
func TestEndpointReplayTTL(t *testing.T) {
	t.Parallel()
	e := &Endpoint{}
	c := &call{identity: Identity{ReplayTTL: 10 * time.Minute}}
	if got := e.replayTTL(c); got != DefaultReplayTTL {
		t.Fatalf("default: %v", got)
	}
	e.ReplayTTL = time.Minute
	if got := e.replayTTL(c); got != 10*time.Minute {
		t.Fatalf("below the verifier's need: %v", got)
	}
	e.ReplayTTL = time.Hour
	if got := e.replayTTL(c); got != time.Hour {
		t.Fatalf("configured: %v", got)
	}
}

// TestEndpointAsyncDuplicate: on an async endpoint, a duplicate of an
// accepted message gets the first 202, task and chat, with
// Idempotent-Replayed, and creates nothing, also after the verifier's own
// replay window; a failed intake keeps nothing, so the retry runs; and
// the same message id on another endpoint is another message.
func TestEndpointAsyncDuplicate(t *testing.T) {
	t.Parallel()
	f := replayFixture(t, ModeAsync)
	first := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_a")
	var a accepted
	if first.Code != 202 || json.Unmarshal(first.Body.Bytes(), &a) != nil {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	f.clock.Advance(35 * time.Minute) // a retry, long after the signature's tolerance
	for range 2 {
		rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_a")
		var again accepted
		if rec.Code != 202 || json.Unmarshal(rec.Body.Bytes(), &again) != nil || again != a || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatalf("duplicate: %d %s, want %+v", rec.Code, rec.Body, a)
		}
	}
	// The same id with another body is not a retry.
	wantError(t, f.do(http.MethodPost, "/p", `{"other":1}`, "X-Msg-Id", "msg_a"), http.StatusConflict, handler.CodeReplayed)
	// After ReplayTTL, the id is forgotten.
	f.clock.Advance(DefaultReplayTTL)
	if rec := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_a"); rec.Code != 202 || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("after the TTL: %d %v", rec.Code, rec.Header())
	}

	// Another endpoint (another name) has its own namespace.
	g := newEpFixture(t, ModeAsync, func(e *Endpoint) {
		e.Name = "other"
		e.Auth = Auth{Lines: lines(replayVerifier{})}
		e.Store = f.st
	})
	g.st = f.st
	rec := g.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_b")
	rec2 := f.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "msg_b")
	if rec.Code != 202 || rec2.Code != 202 || rec2.Header().Get("Idempotent-Replayed") != "" || rec.Body.String() == rec2.Body.String() {
		t.Fatalf("one id on two endpoints: %d %s / %d %v %s", rec.Code, rec.Body, rec2.Code, rec2.Header(), rec2.Body)
	}

	// An intake that fails stores nothing: the retry creates the task.
	h := replayFixture(t, ModeAsync)
	h.e.MaxQueue = 1
	h.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "fill")
	h.clock.Advance(2 * time.Second) // past the store's count cache
	wantError(t, h.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "shed"), http.StatusServiceUnavailable, handler.CodeOverloaded)
	h.e.MaxQueue = 0
	if rec := h.do(http.MethodPost, "/p", "{}", "X-Msg-Id", "shed"); rec.Code != 202 || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry after a shed request: %d %v", rec.Code, rec.Header())
	}
}

// TestIdentity pins the identity strings: endpoint, line and, for Basic,
// the user; secrets of one line are one principal.
func TestIdentity(t *testing.T) {
	t.Parallel()
	hash, err := signing.HashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	basic, err := signing.NewBasic("", []signing.BasicUser{{Username: "td", Hash: hash}, {Username: "ops", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	a := Auth{Lines: lines(newBearer(t, "old", "new"), basic, newBearer(t, "other"))}
	who := func(header string) Identity {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("Authorization", header)
		id, err := a.Authenticate(req, nil, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", header, err)
		}
		id.bind("support-sync:/prompts/support")
		return id
	}
	old, new := who("Bearer old"), who("Bearer new")
	if old.Principal != "support-sync:/prompts/support/bearer#1" || new.Principal != old.Principal || old.KeyID == new.KeyID {
		t.Fatalf("rotation: %+v / %+v", old, new)
	}
	if p := who("Bearer other").Principal; p != "support-sync:/prompts/support/bearer#2" {
		t.Fatalf("second bearer line: %q", p)
	}
	td := who("Basic dGQ6cHc=") // td:pw
	if td.Principal != "support-sync:/prompts/support/basic#1/td" || td.User != "td" {
		t.Fatalf("basic: %+v", td)
	}
	anon, _ := (&Auth{None: true}).Authenticate(httptest.NewRequest(http.MethodPost, "/", nil), nil, time.Now())
	anon.bind("support-async")
	if anon.Principal != "support-async/anonymous" || anon.KeyID != "" {
		t.Fatalf("anonymous: %+v", anon)
	}

	// Principal → KeyIDs: a line's credentials, a user's own.
	m := a.KeyIDs("ep")
	if !slices.Contains(m["ep/bearer#1"], old.KeyID) || !slices.Contains(m["ep/bearer#1"], new.KeyID) || len(m["ep/bearer#1"]) != 2 {
		t.Fatalf("bearer#1 KeyIDs %q", m["ep/bearer#1"])
	}
	if !slices.Equal(m["ep/basic#1/td"], []string{td.KeyID}) || slices.Contains(m["ep/basic#1/ops"], td.KeyID) {
		t.Fatalf("basic users' KeyIDs: td %q, ops %q", m["ep/basic#1/td"], m["ep/basic#1/ops"])
	}
}

// TestEndpointHooks: the endpoint reports the identity, the agent, the
// chat and the task as it learns them.
func TestEndpointHooks(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeSync, ModeAsync} {
		got := map[string]string{}
		f := newEpFixture(t, mode, func(e *Endpoint) {
			e.OnIdentity = func(_ *http.Request, id Identity) { got["principal"] = id.Principal }
			e.OnValue = func(_ *http.Request, k, v string) { got[k] = v }
		})
		rec := f.do(http.MethodPost, "/p", "{}")
		if got["principal"] != "ep/anonymous" || got[ValueAgent] != "agent-a" || got[ValueChatID] != rec.Header().Get(DefaultChatHeader) {
			t.Fatalf("%s: %v", mode, got)
		}
		if (mode == ModeAsync) != (got[ValueTaskID] != "") {
			t.Fatalf("%s: task id %q", mode, got[ValueTaskID])
		}
	}
}

// fakeVerifier answers every request with err, or accepts it when err is
// nil.
type fakeVerifier struct {
	scheme string
	err    error
}

func (v fakeVerifier) Scheme() string { return v.scheme }
func (v fakeVerifier) Verify(*http.Request, []byte, time.Time) (signing.Result, error) {
	if v.err != nil {
		return signing.Result{}, v.err
	}
	return signing.Result{KeyID: "fake"}, nil
}

// TestAuthBusy: a verifier that could not get a slot for its check did
// not judge the credentials, so the answer is 503 overloaded with
// Retry-After, not 401; another verifier that accepts still wins.
func TestAuthBusy(t *testing.T) {
	t.Parallel()
	busy := fakeVerifier{scheme: "basic", err: fmt.Errorf("basic: %w", signing.ErrBusy)}
	missing := fakeVerifier{scheme: "bearer", err: fmt.Errorf("bearer: %w", signing.ErrMissing)}
	ok := fakeVerifier{scheme: "bearer"}
	req := httptest.NewRequest(http.MethodPost, "/p", nil)

	for _, vs := range [][]signing.Verifier{{busy}, {busy, missing}, {missing, busy}} {
		a := Auth{Lines: lines(vs...)}
		_, err := a.Authenticate(req, nil, time.Now())
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
	a := Auth{Lines: lines(busy, ok)}
	if id, err := a.Authenticate(req, nil, time.Now()); err != nil || id.Line != "bearer#1" {
		t.Fatalf("busy then accepted: %+v, %v", id, err)
	}

	// Through an endpoint: 503, and the backend is not called.
	f := newEpFixture(t, ModeSync, func(e *Endpoint) { e.Auth = Auth{Lines: lines(busy)} })
	rec := f.do(http.MethodPost, "/p", "{}")
	wantError(t, rec, http.StatusServiceUnavailable, handler.CodeOverloaded)
	if rec.Header().Get("Retry-After") != "1" || len(f.calls()) != 0 {
		t.Fatalf("Retry-After %q, %d backend calls", rec.Header().Get("Retry-After"), len(f.calls()))
	}
}
