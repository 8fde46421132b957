package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/internal/handlertest"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/memstore"
	"github.com/agenthook/agenthook/store/storetest"
)

// recvRequest is what the scripted receiver saw.
type recvRequest struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiverHost is the host of the scripted receiver, which answers in
// memory: no network, so that the fixture also runs in a synctest bubble.
// Requests to other hosts go out through the real transport.
const receiverHost = "receiver.test"

// dispFixture is a Dispatcher built by hand, without its claim loop, so
// that a test drives one claim at a time on a fake clock: a
// storetest.Clock, or the clock of a synctest bubble.
type dispFixture struct {
	t       *testing.T
	ctx     context.Context
	now     func() time.Time
	advance func(time.Duration)
	st      *memstore.Store
	reg     *Registry
	d       *Dispatcher
	agent   string
	url     string // the receiver's base URL
	client  *http.Client

	statics []*Callback

	mu     sync.Mutex
	answer func(w http.ResponseWriter, r *http.Request)
	reqs   []recvRequest
}

func newDispFixture(t *testing.T, cfg Config) *dispFixture {
	t.Helper()
	clock := storetest.NewClock(storetest.Start)
	return buildDispFixture(t, cfg, clock.Now, clock.Advance)
}

// newBubbleFixture is a fixture on the clock of the synctest bubble it is
// called in: time moves when the test sleeps.
func newBubbleFixture(t *testing.T, cfg Config) *dispFixture {
	t.Helper()
	return buildDispFixture(t, cfg, time.Now, time.Sleep)
}

func buildDispFixture(t *testing.T, cfg Config, now func() time.Time, advance func(time.Duration)) *dispFixture {
	t.Helper()
	f := &dispFixture{t: t, ctx: context.Background(), now: now, advance: advance, url: "http://" + receiverHost}
	f.st = handlertest.OpenStore(t, now)
	f.answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	f.client = &http.Client{
		Transport:     f,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	f.agent = "agent-a"
	f.reg = &Registry{Store: f.st, Now: now}
	f.d = &Dispatcher{
		Store:    f.st,
		Registry: f.reg,
		Logger:   zap.NewNop(),
		Metrics:  handler.NopMetrics{},
		Now:      now,
		ID:       "test",
	}
	f.configure(cfg)
	t.Cleanup(func() { f.d.jobs.Wait() })
	return f
}

// configure configures the dispatcher, sending through the receiver.
func (f *dispFixture) configure(cfg Config) {
	f.d.Configure(f.withClient(cfg))
}

func (f *dispFixture) withClient(cfg Config) Config {
	if cfg.Client == nil {
		cfg.Client = f.client
	}
	return cfg
}

// RoundTrip answers requests to the receiver with its script.
func (f *dispFixture) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != receiverHost {
		return http.DefaultTransport.RoundTrip(r)
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recvRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	answer := f.answer
	f.mu.Unlock()
	rec := httptest.NewRecorder()
	answer(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err // the attempt timed out while the receiver waited
	}
	return rec.Result(), nil
}

// static adds a static callback to the agent, posting to the receiver.
func (f *dispFixture) static(edit func(cb *Callback)) *Callback {
	cb := &Callback{
		ID:     fmt.Sprintf("cfg-agent-a-%d", len(f.statics)),
		Agent:  f.agent,
		URL:    f.url + "/hook",
		Method: http.MethodPost,
		Format: FormatRaw,
	}
	if edit != nil {
		edit(cb)
	}
	f.statics = append(f.statics, cb)
	f.reg.Configure(Static{f.agent: f.statics})
	return cb
}

// registered stores an API registration posting to the receiver.
func (f *dispFixture) registered(status string) *store.Registration {
	f.t.Helper()
	secret, err := signing.GenerateSecret()
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.now()
	r := &store.Registration{
		ID: "wh_" + handler.NewID(), Agent: f.agent, URL: f.url + "/registered", Method: http.MethodPost,
		Status: status, Secret: secret, CreatedAt: now, UpdatedAt: now,
	}
	if err := f.st.CreateRegistration(f.ctx, r, 0); err != nil {
		f.t.Fatalf("CreateRegistration: %v", err)
	}
	f.reg.Invalidate()
	return r
}

// setAnswer scripts the receiver.
func (f *dispFixture) setAnswer(fn func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	f.answer = fn
	f.mu.Unlock()
}

func (f *dispFixture) answerStatus(code int, header ...string) {
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "answer "+strconv.Itoa(code))
	})
}

func (f *dispFixture) requests() []recvRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// enqueue finishes a fresh task with n deliveries to callback, the way the
// runner does, and returns their ids.
func (f *dispFixture) enqueue(callback string, n int) []string {
	f.t.Helper()
	return f.enqueueWith(callback, n, nil)
}

// enqueueWith is enqueue with each delivery changed by edit first.
func (f *dispFixture) enqueueWith(callback string, n int, edit func(d *store.Delivery)) []string {
	f.t.Helper()
	task := &store.Task{
		ID: handler.NewID(), Agent: f.agent, ChatID: handler.NewID(), Principal: "p",
		Request: store.Request{Method: http.MethodPost, Path: "/x", Body: []byte("{}")},
	}
	if _, err := f.st.CreateTask(f.ctx, store.NewTask{Task: task}); err != nil {
		f.t.Fatalf("CreateTask: %v", err)
	}
	ts, _, err := f.st.ClaimTasks(f.ctx, store.Claim{Owner: "runner", Limit: 1, Lease: time.Hour})
	if err != nil || len(ts) != 1 || ts[0].ID != task.ID {
		f.t.Fatalf("ClaimTasks = %v, %v; want the new task", ts, err)
	}
	var ds []*store.Delivery
	var out []string
	for range n {
		d := &store.Delivery{
			ID: "msg_" + handler.NewID(), TaskID: task.ID, Agent: task.Agent, ChatID: task.ChatID,
			CallbackID: callback, EventType: EventTaskSucceeded,
			Payload: []byte(`{"type":"task.succeeded","task_id":"` + task.ID + `"}`),
		}
		if edit != nil {
			edit(d)
		}
		ds = append(ds, d)
		out = append(out, d.ID)
	}
	err = f.st.FinishTask(f.ctx, store.TaskFinish{
		ID: task.ID, Owner: "runner", Status: store.TaskSuccess,
		Result:    &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"hi"}`)},
		ExpiresAt: f.now().Add(time.Hour), Deliveries: ds,
	})
	if err != nil {
		f.t.Fatalf("FinishTask: %v", err)
	}
	return out
}

// step runs one claim and waits for its attempts to be recorded. It
// returns the claim's next time.
func (f *dispFixture) step() time.Time {
	f.t.Helper()
	_, next, err := f.d.claim(f.ctx, 1000)
	if err != nil {
		f.t.Fatalf("claim: %v", err)
	}
	f.d.jobs.Wait()
	return next
}

func (f *dispFixture) get(id string) *store.Delivery {
	f.t.Helper()
	d, err := f.st.GetDelivery(f.ctx, id)
	if err != nil {
		f.t.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func (f *dispFixture) states() map[string]*store.CallbackState {
	f.t.Helper()
	list, err := f.st.ListCallbackStates(f.ctx)
	if err != nil {
		f.t.Fatalf("ListCallbackStates: %v", err)
	}
	m := make(map[string]*store.CallbackState, len(list))
	for _, s := range list {
		m[s.ID] = s
	}
	return m
}

// wantDelivery checks a delivery's status and attempt count.
func (f *dispFixture) wantDelivery(id string, status store.DeliveryStatus, attempts int) *store.Delivery {
	f.t.Helper()
	d := f.get(id)
	if d.Status != status || d.AttemptCount != attempts {
		f.t.Fatalf("delivery %s: %s after %d attempts (last error %q); want %s after %d", id, d.Status, d.AttemptCount, d.LastError, status, attempts)
	}
	return d
}

// wantWait checks that a pending delivery is due within ±20% of step
// after now, and returns the wait.
func (f *dispFixture) wantWait(id string, step time.Duration) time.Duration {
	f.t.Helper()
	d := f.get(id)
	wait := d.NextAttemptAt.Sub(f.now())
	lo, hi := time.Duration(float64(step)*0.8), time.Duration(float64(step)*1.2)
	if wait < lo || wait > hi {
		f.t.Fatalf("delivery %s is due in %v, want within [%v, %v]", id, wait, lo, hi)
	}
	return wait
}

func inSkip(skip []string, id string) bool { return slices.Contains(skip, id) }

func TestDispatchFirstAttemptImmediate(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	cb := f.static(nil)
	f.answerStatus(http.StatusOK)
	id := f.enqueue(cb.ID, 1)[0]
	if d := f.get(id); !d.NextAttemptAt.Equal(f.now()) {
		t.Fatalf("a new delivery is due at %v, want now (%v)", d.NextAttemptAt, f.now())
	}
	f.step()
	d := f.wantDelivery(id, store.DeliveryDelivered, 1)
	a := d.Attempts[0]
	if !a.At.Equal(f.now()) || a.StatusCode != 200 || a.Error != "" || a.Response != "answer 200" {
		t.Fatalf("attempt = %+v", a)
	}
	if !d.ExpiresAt.Equal(f.now().Add(handler.DefaultRetention)) {
		t.Fatalf("ExpiresAt = %v, want now + retention", d.ExpiresAt)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Path != "/hook" {
		t.Fatalf("receiver saw %d requests", len(reqs))
	}
	h := reqs[0].Header
	for k, v := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "agenthook", "X-Agenthook-Event": EventTaskSucceeded,
		"X-Agenthook-Attempt": "1", "Webhook-Id": id, "Webhook-Timestamp": strconv.FormatInt(f.now().Unix(), 10),
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := string(reqs[0].Body); got != string(d.Payload) {
		t.Errorf("body %q, want the payload %q", got, d.Payload)
	}
}

func TestDispatchJitterBounds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		schedule := []time.Duration{10 * time.Second, time.Minute}
		f := newBubbleFixture(t, Config{Schedule: schedule, BreakerThreshold: 1 << 30, Concurrency: 1000})
		cb := f.static(nil)
		f.answerStatus(http.StatusInternalServerError)
		const n = 150
		ids := f.enqueue(cb.ID, n)
		for round, step := range schedule {
			f.step()
			lo, hi := time.Duration(1<<62), time.Duration(0)
			var latest time.Time
			for _, id := range ids {
				f.wantDelivery(id, store.DeliveryPending, round+1)
				w := f.wantWait(id, step)
				lo, hi = min(lo, w), max(hi, w)
				if na := f.get(id).NextAttemptAt; na.After(latest) {
					latest = na
				}
			}
			// With 150 draws of a uniform ±20%, both ends are nearly reached.
			if lo > time.Duration(float64(step)*0.9) || hi < time.Duration(float64(step)*1.1) {
				t.Fatalf("round %d: waits span [%v, %v] for step %v; want a spread over most of ±20%%", round, lo, hi, step)
			}
			f.advance(latest.Sub(f.now()))
		}
		// The schedule has run out: the next failure dead-letters.
		f.step()
		for _, id := range ids {
			f.wantDelivery(id, store.DeliveryFailed, 1+len(schedule))
		}
		if got := len(f.requests()); got != n*(1+len(schedule)) {
			t.Fatalf("receiver saw %d requests, want %d", got, n*(1+len(schedule)))
		}
	})
}

func TestDispatchRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		step     time.Duration
		header   func(now time.Time) string
		exact    time.Duration // the wait, when Retry-After wins
		jittered bool          // the schedule's step wins instead
	}{
		{"seconds, larger than the step", 10 * time.Second, func(time.Time) string { return "120" }, 120 * time.Second, false},
		{"seconds, smaller than the step", 10 * time.Second, func(time.Time) string { return "2" }, 0, true},
		{"seconds, clamped to 12h", 10 * time.Second, func(time.Time) string { return "999999999" }, 12 * time.Hour, false},
		{"zero, clamped to 1s", 100 * time.Millisecond, func(time.Time) string { return "0" }, time.Second, false},
		{"date, larger than the step", 10 * time.Second, func(now time.Time) string { return now.Add(time.Hour).UTC().Format(http.TimeFormat) }, time.Hour, false},
		{"date, clamped to 12h", 10 * time.Second, func(now time.Time) string { return now.Add(48 * time.Hour).UTC().Format(http.TimeFormat) }, 12 * time.Hour, false},
		{"date in the past, clamped to 1s", 100 * time.Millisecond, func(now time.Time) string { return now.Add(-time.Hour).UTC().Format(http.TimeFormat) }, time.Second, false},
		{"garbage", 10 * time.Second, func(time.Time) string { return "soon" }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newBubbleFixture(t, Config{Schedule: []time.Duration{tt.step}})
				cb := f.static(nil)
				f.answerStatus(http.StatusServiceUnavailable, "Retry-After", tt.header(f.now()))
				id := f.enqueue(cb.ID, 1)[0]
				f.step()
				d := f.wantDelivery(id, store.DeliveryPending, 1)
				if tt.jittered {
					f.wantWait(id, tt.step)
					return
				}
				if got := d.NextAttemptAt.Sub(f.now()); got != tt.exact {
					t.Fatalf("next attempt in %v, want %v", got, tt.exact)
				}
			})
		})
	}
}

func TestDispatchGoneDisablesRegistration(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	r := f.registered(StatusActive)
	f.answerStatus(http.StatusGone)
	ids := f.enqueue(r.ID, 1)
	f.step()
	d := f.wantDelivery(ids[0], store.DeliveryFailed, 1)
	if d.Attempts[0].StatusCode != http.StatusGone || !strings.Contains(d.LastError, "410") {
		t.Fatalf("attempt = %+v", d.Attempts[0])
	}
	got, err := f.st.GetRegistration(f.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusDisabled || got.DisabledReason != "the receiver answered 410 Gone" {
		t.Fatalf("registration: status %q, reason %q; want disabled for 410", got.Status, got.DisabledReason)
	}
	st := f.states()[r.ID]
	if st == nil || !st.Disabled || st.Agent != f.agent || st.Reason != got.DisabledReason || !st.DisabledAt.Equal(f.now()) {
		t.Fatalf("callback state = %+v, want disabled now for 410", st)
	}
	// The next delivery to it fails without a request.
	more := f.enqueue(r.ID, 1)
	f.step()
	d = f.wantDelivery(more[0], store.DeliveryFailed, 1)
	if d.LastError != "the callback is disabled: the receiver answered 410 Gone" {
		t.Fatalf("LastError = %q", d.LastError)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("receiver saw %d requests, want 1", n)
	}
	if cbs, err := f.reg.Active(f.ctx, f.agent); err != nil || len(cbs) != 0 {
		t.Fatalf("Active = %v, %v; want none", cbs, err)
	}
}

func TestDispatchGoneDisablesStaticCallback(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	cb := f.static(nil)
	other := f.static(func(c *Callback) { c.URL = f.url + "/other" })
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			w.WriteHeader(http.StatusGone)
		}
	})
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	f.wantDelivery(id, store.DeliveryFailed, 1)
	if st := f.states()[cb.ID]; st == nil || !st.Disabled {
		t.Fatalf("callback state = %+v, want disabled", st)
	}
	cbs, err := f.reg.Active(f.ctx, f.agent)
	if err != nil || len(cbs) != 1 || cbs[0].ID != other.ID {
		t.Fatalf("Active = %v, %v; want only %s", cbs, err, other.ID)
	}
	looked, err := f.reg.Lookup(f.ctx, f.agent, cb.ID)
	if err != nil || looked.Usable() || looked.Status() != StatusDisabled {
		t.Fatalf("Lookup = %+v, %v; want disabled", looked, err)
	}
}

func TestDispatchRedirectIsFailure(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{time.Minute}})
	cb := f.static(nil)
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryPending, 1)
	a := d.Attempts[0]
	if a.StatusCode != http.StatusFound || !strings.Contains(a.Error, "redirects are not followed") {
		t.Fatalf("attempt = %+v, want 302 with \"redirects are not followed\"", a)
	}
	f.wantWait(id, time.Minute)
	for _, r := range f.requests() {
		if r.Path != "/hook" {
			t.Fatalf("the redirect was followed to %s", r.Path)
		}
	}
}

func TestDispatchNon2xxAreFailures(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusNoContent, http.StatusAccepted, 304, 400, 404, 429, 500, 503} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			f := newDispFixture(t, Config{})
			cb := f.static(nil)
			f.answerStatus(code)
			id := f.enqueue(cb.ID, 1)[0]
			f.step()
			want := store.DeliveryPending
			if code >= 200 && code < 300 {
				want = store.DeliveryDelivered
			}
			d := f.wantDelivery(id, want, 1)
			if want == store.DeliveryPending && d.LastError == "" {
				t.Fatalf("a %d left no error", code)
			}
		})
	}
}

func TestDispatchDeadLetterAndRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		schedule := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
		retention := 48 * time.Hour
		f := newBubbleFixture(t, Config{Schedule: schedule, Retention: retention, BreakerThreshold: 100})
		cb := f.static(nil)
		f.answerStatus(http.StatusInternalServerError)
		id := f.enqueue(cb.ID, 1)[0]
		for i, step := range schedule {
			f.step()
			f.wantDelivery(id, store.DeliveryPending, i+1)
			f.wantWait(id, step)
			f.advance(2 * step)
		}
		f.step()
		d := f.wantDelivery(id, store.DeliveryFailed, 1+len(schedule))
		if !d.ExpiresAt.Equal(f.now().Add(retention)) || d.LastError == "" {
			t.Fatalf("dead letter: expires %v, error %q", d.ExpiresAt, d.LastError)
		}
		if p, failed, _ := f.st.DeliveryCounts(f.ctx); p != 0 || failed != 1 {
			t.Fatalf("DeliveryCounts = %d, %d; want 0 pending, 1 failed", p, failed)
		}

		// A replay starts the schedule over.
		f.advance(time.Hour)
		rd, err := f.st.RetryDelivery(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !rd.RequeuedAt.Equal(f.now()) {
			t.Fatalf("RequeuedAt = %v, want now", rd.RequeuedAt)
		}
		f.advance(time.Second)
		for i, step := range schedule {
			f.step()
			f.wantDelivery(id, store.DeliveryPending, 1+len(schedule)+i+1)
			f.wantWait(id, step)
			f.advance(2 * step)
		}
		f.step()
		f.wantDelivery(id, store.DeliveryFailed, 2*(1+len(schedule)))

		// And a success after a replay delivers it.
		f.advance(time.Hour)
		if _, err := f.st.RetryDelivery(f.ctx, id); err != nil {
			t.Fatal(err)
		}
		f.answerStatus(http.StatusOK)
		f.step()
		f.wantDelivery(id, store.DeliveryDelivered, 2*(1+len(schedule))+1)
	})
}

func TestDispatchEmptyScheduleDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{}})
	cb := f.static(nil)
	f.answerStatus(http.StatusInternalServerError)
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	f.wantDelivery(id, store.DeliveryFailed, 1)
}

func TestDispatchBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const threshold, cooldown = 3, 30 * time.Second
		f := newBubbleFixture(t, Config{
			Schedule:         []time.Duration{time.Hour, time.Hour, time.Hour},
			BreakerThreshold: threshold, BreakerCooldown: cooldown, Concurrency: 5,
		})
		cb := f.static(nil)
		healthy := f.static(func(c *Callback) { c.URL = f.url + "/healthy" })
		var mu sync.Mutex
		status := http.StatusInternalServerError
		var gate chan struct{} // when set, /hook waits for it
		got := make(chan struct{}, 10)
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/hook" {
				w.WriteHeader(http.StatusOK)
				return
			}
			mu.Lock()
			code, g := status, gate
			mu.Unlock()
			got <- struct{}{}
			if g != nil {
				<-g
			}
			w.WriteHeader(code)
		})
		hookRequests := func() int {
			n := 0
			for _, r := range f.requests() {
				if r.Path == "/hook" {
					n++
				}
			}
			return n
		}
		drainGot := func() {
			for {
				select {
				case <-got:
				default:
					return
				}
			}
		}

		// threshold failures in a row, one delivery at a time.
		for i := range threshold {
			f.enqueue(cb.ID, 1)
			f.step()
			if skip, _ := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); inSkip(skip, cb.ID) != (i == threshold-1) {
				t.Fatalf("after %d failures, skip list %v", i+1, skip)
			}
		}
		drainGot()
		opened := f.now()
		skip, reopen := f.d.breaker.skipList(opened, f.d.config().Concurrency)
		if !inSkip(skip, cb.ID) || !reopen.Equal(opened.Add(cooldown)) {
			t.Fatalf("skipList = %v, reopen %v; want %s until %v", skip, reopen, cb.ID, opened.Add(cooldown))
		}

		// While open: nothing goes to it, the healthy callback still gets its
		// deliveries, and the claim says when to come back.
		waiting := f.enqueue(cb.ID, 4)
		ok := f.enqueue(healthy.ID, 2)
		next := f.step()
		if n := hookRequests(); n != threshold {
			t.Fatalf("%d requests to the paused callback, want %d", n, threshold)
		}
		for _, id := range ok {
			f.wantDelivery(id, store.DeliveryDelivered, 1)
		}
		for _, id := range waiting {
			f.wantDelivery(id, store.DeliveryPending, 0)
		}
		if next.IsZero() || next.After(opened.Add(cooldown)) {
			t.Fatalf("claim's next = %v, want no later than the end of the cooldown %v", next, opened.Add(cooldown))
		}
		f.advance(cooldown - time.Second)
		f.step()
		if n := hookRequests(); n != threshold {
			t.Fatalf("%d requests before the cooldown ended, want %d", n, threshold)
		}

		// The cooldown is over: exactly one probe, even with four due; it
		// fails and the breaker opens again.
		f.advance(time.Second)
		g := make(chan struct{})
		mu.Lock()
		gate = g
		mu.Unlock()
		if _, _, err := f.d.claim(f.ctx, 1000); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("no probe arrived")
		}
		if skip, _ := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); !inSkip(skip, cb.ID) {
			t.Fatalf("skip list %v during the probe, want %s", skip, cb.ID)
		}
		close(g)
		f.d.jobs.Wait()
		if n := hookRequests(); n != threshold+1 {
			t.Fatalf("%d requests after the probe, want %d", n, threshold+1)
		}
		pending := 0
		for _, id := range waiting {
			if f.get(id).AttemptCount == 0 {
				pending++
			}
		}
		if pending != 3 {
			t.Fatalf("%d deliveries untouched by the probe, want 3", pending)
		}
		reopened := f.now()
		if skip, reopen := f.d.breaker.skipList(reopened, f.d.config().Concurrency); !inSkip(skip, cb.ID) || !reopen.Equal(reopened.Add(cooldown)) {
			t.Fatalf("after a failed probe: skip %v, reopen %v; want paused until %v", skip, reopen, reopened.Add(cooldown))
		}
		f.step()
		if n := hookRequests(); n != threshold+1 {
			t.Fatalf("requests went out while the breaker was open again")
		}

		// A successful probe closes it: the rest go at once.
		f.advance(cooldown)
		mu.Lock()
		gate, status = nil, http.StatusOK
		mu.Unlock()
		f.step() // the probe
		f.step() // the rest
		drainGot()
		delivered := 0
		for _, id := range waiting {
			switch d := f.get(id); {
			case d.Status == store.DeliveryDelivered:
				delivered++
			case d.AttemptCount == 1 && d.NextAttemptAt.After(f.now()):
				// The failed probe, waiting for its next step.
			default:
				t.Fatalf("delivery %s is %s after %d attempts once the breaker closed", id, d.Status, d.AttemptCount)
			}
		}
		if delivered != 3 {
			t.Fatalf("%d delivered once the breaker closed, want 3", delivered)
		}
		if skip, reopen := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); inSkip(skip, cb.ID) || !reopen.IsZero() {
			t.Fatalf("after a successful probe: skip %v, reopen %v", skip, reopen)
		}
	})
}

func TestDispatchConcurrencyLimit(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Concurrency: 2})
	cb := f.static(nil)
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	ids := f.enqueue(cb.ID, 5)
	if _, _, err := f.d.claim(f.ctx, 1000); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-arrived
	}
	if skip, _ := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); !inSkip(skip, cb.ID) {
		t.Fatalf("skip list %v with 2 of 2 in flight", skip)
	}
	// A second claim while they are in flight takes nothing more.
	if _, _, err := f.d.claim(f.ctx, 1000); err != nil {
		t.Fatal(err)
	}
	close(release)
	f.d.jobs.Wait()
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests with a limit of 2", n)
	}
	f.step()
	f.step()
	for _, id := range ids {
		f.wantDelivery(id, store.DeliveryDelivered, 1)
	}
}

func TestDispatchDisableAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const after = time.Hour
		f := newBubbleFixture(t, Config{
			Schedule:     []time.Duration{3 * time.Hour, 3 * time.Hour},
			DisableAfter: after, BreakerThreshold: 100,
		})
		r := f.registered(StatusActive)
		f.answerStatus(http.StatusInternalServerError)
		first := f.enqueue(r.ID, 1)[0]
		f.step()
		f.wantDelivery(first, store.DeliveryPending, 1)
		t0 := f.now()
		st := f.states()[r.ID]
		if st == nil || !st.FailingSince.Equal(t0) || st.Disabled {
			t.Fatalf("callback state after a failure = %+v, want failing since %v", st, t0)
		}

		f.advance(after - time.Second)
		second := f.enqueue(r.ID, 1)[0]
		f.step()
		f.wantDelivery(second, store.DeliveryPending, 1)
		if st := f.states()[r.ID]; st == nil || !st.FailingSince.Equal(t0) || st.Disabled {
			t.Fatalf("callback state = %+v, want still failing since %v", st, t0)
		}

		f.advance(time.Second)
		third := f.enqueue(r.ID, 1)[0]
		f.step()
		d := f.wantDelivery(third, store.DeliveryFailed, 1)
		if d.Attempts[0].StatusCode != 500 {
			t.Fatalf("attempt = %+v", d.Attempts[0])
		}
		reason := "failing since " + t0.UTC().Format(time.RFC3339)
		got, err := f.st.GetRegistration(f.ctx, r.ID)
		if err != nil || got.Status != StatusDisabled || got.DisabledReason != reason {
			t.Fatalf("registration = %+v, %v; want disabled with %q", got, err, reason)
		}
		st = f.states()[r.ID]
		if st == nil || !st.Disabled || st.Reason != reason || !st.FailingSince.Equal(t0) {
			t.Fatalf("callback state = %+v", st)
		}
		// The pending ones fail at their next attempt, without a request.
		n := len(f.requests())
		f.advance(4 * time.Hour)
		f.step()
		for _, id := range []string{first, second} {
			d := f.wantDelivery(id, store.DeliveryFailed, 2)
			if !strings.HasPrefix(d.LastError, "the callback is disabled") {
				t.Fatalf("LastError = %q", d.LastError)
			}
		}
		if len(f.requests()) != n {
			t.Fatalf("requests went to a disabled callback")
		}
	})
}

// TestDispatchFailingSinceSurvivesRestart: a new dispatcher on the same
// store measures DisableAfter from the streak's stored start.
func TestDispatchFailingSinceSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := Config{Schedule: []time.Duration{3 * time.Hour}, DisableAfter: time.Hour, BreakerThreshold: 100}
	f := newDispFixture(t, cfg)
	cb := f.static(nil)
	f.answerStatus(http.StatusInternalServerError)
	f.enqueue(cb.ID, 1)
	f.step()
	t0 := f.now()

	reg2 := &Registry{Store: f.st, Now: f.now}
	reg2.Configure(Static{f.agent: f.statics})
	d2 := &Dispatcher{Store: f.st, Registry: reg2, Logger: zap.NewNop(), Metrics: handler.NopMetrics{}, Now: f.now, ID: "second"}
	d2.Configure(f.withClient(cfg))
	t.Cleanup(d2.jobs.Wait)
	f.d = d2
	f.reg = d2.Registry

	f.advance(time.Hour)
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	f.wantDelivery(id, store.DeliveryFailed, 1)
	st := f.states()[cb.ID]
	if st == nil || !st.Disabled || !st.FailingSince.Equal(t0) {
		t.Fatalf("callback state = %+v, want disabled, failing since %v", st, t0)
	}
}

func TestDispatchSuccessClearsFailingSince(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Schedule: []time.Duration{time.Minute, 3 * time.Hour}, DisableAfter: time.Hour, BreakerThreshold: 100})
		cb := f.static(nil)
		f.answerStatus(http.StatusInternalServerError)
		id := f.enqueue(cb.ID, 1)[0]
		f.step()
		t0 := f.now()
		if st := f.states()[cb.ID]; st == nil || !st.FailingSince.Equal(t0) {
			t.Fatalf("state = %+v, want failing since %v", st, t0)
		}
		f.advance(50 * time.Minute)
		f.answerStatus(http.StatusOK)
		f.step()
		f.wantDelivery(id, store.DeliveryDelivered, 2)
		if st := f.states()[cb.ID]; st != nil {
			t.Fatalf("state after a success = %+v, want none", st)
		}
		// A new streak starts from its own first failure: 50 more minutes
		// (100 since the first streak began) do not disable it.
		f.answerStatus(http.StatusInternalServerError)
		f.advance(time.Minute)
		t1 := f.now()
		id2 := f.enqueue(cb.ID, 1)[0]
		f.step()
		f.advance(50 * time.Minute)
		id3 := f.enqueue(cb.ID, 1)[0]
		f.step()
		f.wantDelivery(id2, store.DeliveryPending, 2)
		f.wantDelivery(id3, store.DeliveryPending, 1)
		if st := f.states()[cb.ID]; st == nil || !st.FailingSince.Equal(t1) || st.Disabled {
			t.Fatalf("state = %+v, want failing since %v", st, t1)
		}
	})
}

func TestDispatchDeletedRegistration(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	r := f.registered(StatusActive)
	id := f.enqueue(r.ID, 1)[0]
	if err := f.st.DeleteRegistration(f.ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	f.reg.Invalidate()
	f.step()
	d := f.wantDelivery(id, store.DeliveryFailed, 1)
	if !strings.Contains(d.LastError, "no longer exists") {
		t.Fatalf("LastError = %q, want \"no longer exists\"", d.LastError)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests to a deleted registration", n)
	}
}

func TestDispatchRemovedStaticCallback(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	id := f.enqueue("cfg-agent-a-7", 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryFailed, 1)
	if !strings.Contains(d.LastError, "no longer exists") {
		t.Fatalf("LastError = %q", d.LastError)
	}
}

func TestDispatchInactiveRegistration(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	r := f.registered(StatusInactive)
	id := f.enqueue(r.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryFailed, 1)
	if d.LastError != "the callback is inactive" {
		t.Fatalf("LastError = %q", d.LastError)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests to an inactive registration", n)
	}
}

func TestDispatchRegistrationOfAnotherAgent(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	r := f.registered(StatusActive)
	r.Agent = "agent-b"
	if err := f.st.UpdateRegistration(f.ctx, r); err != nil {
		t.Fatal(err)
	}
	f.reg.Invalidate()
	id := f.enqueue(r.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryFailed, 1)
	if !strings.Contains(d.LastError, "no longer exists") {
		t.Fatalf("LastError = %q", d.LastError)
	}
}

func TestDispatchStandardWebhooksSignature(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{10 * time.Second}})
	r := f.registered(StatusActive)
	f.answerStatus(http.StatusInternalServerError)
	id := f.enqueue(r.ID, 1)[0]
	f.step()
	stamps := []int64{f.now().Unix()}
	f.advance(15 * time.Second)
	f.answerStatus(http.StatusOK)
	f.step()
	stamps = append(stamps, f.now().Unix())
	f.wantDelivery(id, store.DeliveryDelivered, 2)

	wh, err := standardwebhooks.NewWebhook(r.Secret)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, req := range reqs {
		if got := req.Header.Get("Webhook-Id"); got != id {
			t.Errorf("attempt %d: webhook-id %q, want the delivery id %q", i+1, got, id)
		}
		if got := req.Header.Get("Webhook-Timestamp"); got != strconv.FormatInt(stamps[i], 10) {
			t.Errorf("attempt %d: webhook-timestamp %q, want %d", i+1, got, stamps[i])
		}
		if got := req.Header.Get("X-Agenthook-Attempt"); got != strconv.Itoa(i+1) {
			t.Errorf("attempt %d: X-Agenthook-Attempt %q", i+1, got)
		}
		if n := len(req.Header.Values("Webhook-Id")); n != 1 {
			t.Errorf("attempt %d: %d webhook-id headers", i+1, n)
		}
		if err := wh.VerifyIgnoringTimestamp(req.Body, req.Header); err != nil {
			t.Errorf("attempt %d: the official library refuses the signature: %v", i+1, err)
		}
		if err := wh.VerifyIgnoringTimestamp(append(slices.Clone(req.Body), ' '), req.Header); err == nil {
			t.Errorf("attempt %d: a changed body verifies", i+1)
		}
	}
	// Our own verifier agrees, at the attempt's time.
	v, err := signing.NewStandardWebhooks([]string{r.Secret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPost, "/", nil)
	hr.Header = reqs[1].Header
	if _, err := v.Verify(hr, reqs[1].Body, time.Unix(stamps[1], 0)); err != nil {
		t.Fatalf("signing.StandardWebhooks refuses the delivery: %v", err)
	}
}

func TestDispatchHMACBasicAndHeaders(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	hs, err := signing.NewHMACSigner(signing.HMACConfig{Secrets: []string{"hmac-key"}})
	if err != nil {
		t.Fatal(err)
	}
	cb := f.static(func(c *Callback) {
		c.Signers = []signing.Signer{hs}
		c.BasicUser, c.BasicPassword = "cognigy", "p@ss:word"
		c.Header = http.Header{"X-Custom": {"one", "two"}, "Content-Type": {"text/plain"}}
		c.Format = "cognigy"
	})
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	f.wantDelivery(id, store.DeliveryDelivered, 1)
	req := f.requests()[0]
	mac := hmac.New(sha256.New, []byte("hmac-key"))
	mac.Write(req.Body)
	if got, want := req.Header.Get("X-Signature"), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("x-signature = %q, want %q", got, want)
	}
	hr := &http.Request{Header: req.Header}
	if u, p, ok := hr.BasicAuth(); !ok || u != "cognigy" || p != "p@ss:word" {
		t.Errorf("basic auth = %q, %q, %v", u, p, ok)
	}
	if got := req.Header.Values("X-Custom"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("X-Custom = %q", got)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; a custom header must not change it", got)
	}
	if req.Header.Get("Webhook-Signature") != "" {
		t.Errorf("a callback without a signer sent webhook-signature")
	}
	if req.Header.Get("Webhook-Id") != id {
		t.Errorf("webhook-id missing without a signer")
	}
}

func TestDispatchErrorsHideURLToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
	}{
		{"connection refused", "http://127.0.0.1:1/x?token=SECRET"},
		{"bad port", "http://127.0.0.1:99999/x?token=SECRET"},
		{"token in the path", "http://127.0.0.1:1/hooks/SECRET"},
		{"token in userinfo", "http://user:SECRET@127.0.0.1:1/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDispFixture(t, Config{Schedule: []time.Duration{time.Minute}})
			cb := f.static(func(c *Callback) { c.URL = tt.url })
			id := f.enqueue(cb.ID, 1)[0]
			f.step()
			d := f.wantDelivery(id, store.DeliveryPending, 1)
			if d.LastError == "" || strings.Contains(d.LastError, "SECRET") {
				t.Fatalf("attempt error %q holds the token (or is empty)", d.LastError)
			}
		})
	}
}

// TestDispatchUnparsableURLHidesToken: a URL that does not parse makes
// "building the request: parse \"<url>\": ..." with the whole URL in it.
// Config and API validation refuse such URLs, so this is hardening.
func TestDispatchUnparsableURLHidesToken(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	cb := f.static(func(c *Callback) { c.URL = "http://127.0.0.1:1/x?token=SECRET\x7f" })
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	if d := f.get(id); strings.Contains(d.LastError, "SECRET") {
		t.Fatalf("attempt error %q holds the token", d.LastError)
	}
}

func TestDispatchTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Timeout: 100 * time.Millisecond, Schedule: []time.Duration{time.Minute}})
		cb := f.static(nil)
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		id := f.enqueue(cb.ID, 1)[0]
		f.step()
		d := f.wantDelivery(id, store.DeliveryPending, 1)
		if d.LastError != "the receiver did not answer in time" {
			t.Fatalf("LastError = %q", d.LastError)
		}
	})
}

// TestDispatchTimeoutRecordsFailingSince: the first failure of a streak
// is stored even when it was a timeout, whose context has run out by the
// time the streak is recorded.
func TestDispatchTimeoutRecordsFailingSince(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Timeout: 50 * time.Millisecond, Schedule: []time.Duration{time.Minute}, BreakerThreshold: 100})
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		var cbs []*Callback
		for range 6 {
			cbs = append(cbs, f.static(nil))
		}
		for _, cb := range cbs {
			f.enqueue(cb.ID, 1)
		}
		f.step()
		states := f.states()
		for _, cb := range cbs {
			if st := states[cb.ID]; st == nil || !st.FailingSince.Equal(f.now()) {
				t.Errorf("callback %s: state %+v after a timeout, want failing since now", cb.ID, st)
			}
		}
	})
}

func TestDispatchPayloadAndOwnerLease(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Timeout: 10 * time.Second})
	cb := f.static(nil)
	id := f.enqueue(cb.ID, 1)[0]
	// The claim's lease covers two timeouts and a margin: another claim
	// before it runs out takes nothing.
	var attempt sync.WaitGroup
	attempt.Add(1)
	block := make(chan struct{})
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		attempt.Done()
		<-block
		w.WriteHeader(http.StatusOK)
	})
	if _, _, err := f.d.claim(f.ctx, 10); err != nil {
		t.Fatal(err)
	}
	attempt.Wait()
	ds, _, err := f.st.ClaimDeliveries(f.ctx, store.DeliveryClaim{Owner: "other", Limit: 10, Lease: time.Minute})
	if err != nil || len(ds) != 0 {
		t.Fatalf("another owner claimed %d deliveries during the attempt (%v)", len(ds), err)
	}
	close(block)
	f.d.jobs.Wait()
	f.wantDelivery(id, store.DeliveryDelivered, 1)
}

func TestDispatchResetHealth(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{BreakerThreshold: 1, BreakerCooldown: time.Hour, Schedule: []time.Duration{time.Hour}})
	cb := f.static(nil)
	f.answerStatus(http.StatusInternalServerError)
	f.enqueue(cb.ID, 1)
	f.step()
	if skip, _ := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); !inSkip(skip, cb.ID) {
		t.Fatalf("skip list %v, want %s paused", skip, cb.ID)
	}
	f.d.ResetHealth(cb.ID)
	if skip, _ := f.d.breaker.skipList(f.now(), f.d.config().Concurrency); inSkip(skip, cb.ID) {
		t.Fatalf("skip list %v after ResetHealth", skip)
	}
}

// TestDispatchConcurrencyFollowsReload: a reload that raises the
// delivery concurrency applies to callbacks already seen, not only to
// new ones.
func TestDispatchConcurrencyFollowsReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Concurrency: 1})
		cb := f.static(nil)
		f.enqueue(cb.ID, 1)
		f.step()
		f.configure(Config{Concurrency: 3})
		release := make(chan struct{})
		arrived := make(chan struct{}, 10)
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-release
		})
		f.enqueue(cb.ID, 3)
		if _, _, err := f.d.claim(f.ctx, 1000); err != nil {
			t.Fatal(err)
		}
		n := 0
		timeout := time.After(500 * time.Millisecond)
		for n < 3 {
			select {
			case <-arrived:
				n++
				continue
			case <-timeout:
			}
			break
		}
		close(release)
		f.d.jobs.Wait()
		if n != 3 {
			t.Fatalf("%d attempts in flight after raising concurrency to 3", n)
		}
	})
}

// flakyRegs fails ListRegistrations while down is set.
type flakyRegs struct {
	store.Store
	mu   sync.Mutex
	down bool
}

func (s *flakyRegs) ListRegistrations(ctx context.Context, agent string) ([]*store.Registration, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	return s.Store.ListRegistrations(ctx, agent)
}

func TestDispatchLookupErrorRetriesSoon(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{time.Hour}})
	cb := f.static(nil)
	flaky := &flakyRegs{Store: f.st, down: true}
	f.reg.Store = flaky
	f.reg.Invalidate()
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	// The store failed, not the receiver: given back, no attempt counted.
	d := f.wantDelivery(id, store.DeliveryPending, 0)
	if d.LastError != "" {
		t.Fatalf("after a lookup error: %q", d.LastError)
	}
	if len(f.requests()) != 0 {
		t.Fatal("a request went out without its callback")
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	f.step()
	f.wantDelivery(id, store.DeliveryDelivered, 1)
}

// TestDispatchLookupErrorsDoNotUseTheSchedule: attempts that never
// reached the receiver (the store could not say where to send) do not
// count against the retry schedule, so that a store outage of a few
// seconds does not dead-letter the next real failure at once.
func TestDispatchLookupErrorsDoNotUseTheSchedule(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{time.Minute, time.Minute}})
	cb := f.static(nil)
	flaky := &flakyRegs{Store: f.st, down: true}
	f.reg.Store = flaky
	id := f.enqueue(cb.ID, 1)[0]
	for range 3 {
		f.reg.Invalidate()
		f.step()
		f.advance(5 * time.Second)
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	f.reg.Invalidate()
	f.answerStatus(http.StatusInternalServerError)
	f.step()
	if d := f.get(id); d.Status != store.DeliveryPending {
		t.Fatalf("the first real attempt left the delivery %s after %d attempts", d.Status, d.AttemptCount)
	}
}
