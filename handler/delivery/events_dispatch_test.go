package delivery

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// eventLog records what the dispatcher tells its Observer and metrics.
type eventLog struct {
	handler.NopMetrics
	mu       sync.Mutex
	observed []OpEvent
	counted  []string
}

func (l *eventLog) OperationalEvent(ev OpEvent) {
	l.mu.Lock()
	l.observed = append(l.observed, ev)
	l.mu.Unlock()
}

func (l *eventLog) Event(agent, typ string) {
	l.mu.Lock()
	l.counted = append(l.counted, agent+" "+typ)
	l.mu.Unlock()
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.observed {
		out = append(out, ev.Type)
	}
	return out
}

func withEventLog(f *dispFixture) *eventLog {
	l := &eventLog{}
	f.d.Observer, f.d.Metrics = l, l
	return l
}

// answerByPath answers each path with its own status.
func (f *dispFixture) answerByPath(status map[string]int) {
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		code, ok := status[r.URL.Path]
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
	})
}

func (f *dispFixture) requestsTo(path string) []recvRequest {
	var out []recvRequest
	for _, r := range f.requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// TestDispatchExhaustedEvent: a dead letter becomes a delivery.exhausted
// event for the callbacks subscribed to it (not for the dead one), for
// the alerts callback, for the Observer and the metrics; a dead letter of
// that event tells nobody.
func TestDispatchExhaustedEvent(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{}})
	log := withEventLog(f)
	dead := f.static(func(c *Callback) {
		c.URL = f.url + "/dead"
		c.Events = []string{EventTaskSucceeded, EventDeliveryExhausted} // never told of its own deaths
	})
	f.static(func(c *Callback) { c.URL = f.url + "/ops"; c.Events = []string{EventDeliveryExhausted} })
	f.static(func(c *Callback) { c.URL = f.url + "/tasks-only" })
	filtered := f.static(func(c *Callback) {
		c.URL = f.url + "/filtered"
		c.Events = []string{EventDeliveryExhausted}
		c.Filter = filter(t, `.delivery.event_type == "task.failed"`)
	})
	alerts := &Callback{ID: AlertsID, URL: f.url + "/alerts", Method: http.MethodPost, Format: FormatRaw, Events: OperationalEventNames()}
	f.reg.ConfigureAlerts([]*Callback{alerts})
	f.answerByPath(map[string]int{"/dead": http.StatusServiceUnavailable})

	id := f.enqueueWith(dead.ID, 1, func(d *store.Delivery) { d.MessageID = "msg_event1" })[0]
	f.step()
	f.wantDelivery(id, store.DeliveryFailed, 1)
	if got := log.types(); len(got) != 1 || got[0] != EventDeliveryExhausted {
		t.Fatalf("observed %v, want one delivery.exhausted", got)
	}
	f.step() // the event's deliveries
	opsReqs, alertReqs := f.requestsTo("/ops"), f.requestsTo("/alerts")
	if len(opsReqs) != 1 || len(alertReqs) != 1 || len(f.requestsTo("/tasks-only")) != 0 || len(f.requestsTo("/filtered")) != 0 {
		t.Fatalf("requests: ops %d, alerts %d, tasks-only %d, filtered %d; want 1, 1, 0, 0",
			len(opsReqs), len(alertReqs), len(f.requestsTo("/tasks-only")), len(f.requestsTo("/filtered")))
	}
	if len(f.requestsTo("/dead")) != 1 {
		t.Fatalf("the dead callback was told of its own death")
	}
	_ = filtered
	msg := opsReqs[0].Header.Get("Webhook-Id")
	if msg == "" || msg != alertReqs[0].Header.Get("Webhook-Id") || msg == "msg_event1" {
		t.Fatalf("webhook ids %q and %q: want one new id for the event", msg, alertReqs[0].Header.Get("Webhook-Id"))
	}
	b := opsReqs[0].Body
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	dl, _ := raw["delivery"].(map[string]any)
	if raw["type"] != EventDeliveryExhausted || raw["callback_id"] != dead.ID || raw["callback_url"] != "http://receiver.test" ||
		raw["agent"] != f.agent || dl == nil || dl["id"] != id || dl["attempt_count"] != 1.0 || dl["last_status"] != 503.0 ||
		!strings.Contains(dl["last_error"].(string), "503") || dl["event_type"] != EventTaskSucceeded || dl["message_id"] != "msg_event1" {
		t.Fatalf("delivery.exhausted body %s", b)
	}
	if h := opsReqs[0].Header.Get("X-Agenthook-Event"); h != EventDeliveryExhausted {
		t.Fatalf("X-Agenthook-Event %q", h)
	}

	// The alerts receiver dies too: its dead letter is quiet.
	f.answerByPath(map[string]int{"/dead": 503, "/alerts": 503, "/ops": 503})
	f.enqueue(dead.ID, 1)
	f.step() // dead-letters the task event: one more event
	f.step() // the event's deliveries die: nothing more
	f.step()
	if got := log.types(); len(got) != 2 {
		t.Fatalf("observed %v, want two delivery.exhausted", got)
	}
	pending, _, _ := f.st.DeliveryCounts(f.ctx)
	if pending != 0 {
		t.Fatalf("%d deliveries pending: a dead operational event made more", pending)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.counted) != 2 || log.counted[0] != "agent-a delivery.exhausted" {
		t.Fatalf("counted %v", log.counted)
	}
}

// TestDispatchDisabledAndRecoveredEvents: a 410 disables a callback and
// says so; a callback the breaker paused that answers again has
// recovered.
func TestDispatchDisabledAndRecoveredEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Schedule: []time.Duration{time.Second}, BreakerThreshold: 1, BreakerCooldown: 10 * time.Second})
		log := withEventLog(f)
		gone := f.static(func(c *Callback) { c.URL = f.url + "/gone" })
		flaky := f.static(func(c *Callback) { c.URL = f.url + "/flaky" })
		ops := f.static(func(c *Callback) {
			c.URL = f.url + "/ops"
			c.Events = []string{EventCallbackDisabled, EventCallbackRecovered}
		})
		f.answerByPath(map[string]int{"/gone": http.StatusGone, "/flaky": 500})
		f.enqueue(gone.ID, 1)
		flakyID := f.enqueue(flaky.ID, 1)[0]
		f.step()
		// The 410 also dead-letters the delivery it answered.
		if got := log.types(); len(got) != 2 || got[0] != EventCallbackDisabled || got[1] != EventDeliveryExhausted {
			t.Fatalf("observed %v, want callback.disabled and delivery.exhausted", got)
		}
		f.step()
		reqs := f.requestsTo("/ops")
		if len(reqs) != 1 {
			t.Fatalf("%d requests to /ops", len(reqs))
		}
		var disabled map[string]any
		_ = json.Unmarshal(reqs[0].Body, &disabled)
		if disabled["type"] != EventCallbackDisabled || disabled["callback_id"] != gone.ID || !strings.Contains(disabled["reason"].(string), "410") {
			t.Fatalf("callback.disabled body %s", reqs[0].Body)
		}

		// The flaky one: paused after its failure, then it answers.
		f.answerByPath(map[string]int{"/gone": http.StatusGone})
		time.Sleep(11 * time.Second)
		f.step()
		f.wantDelivery(flakyID, store.DeliveryDelivered, 2)
		if got := log.types(); len(got) != 3 || got[2] != EventCallbackRecovered {
			t.Fatalf("observed %v, want callback.recovered next", got)
		}
		f.step()
		reqs = f.requestsTo("/ops")
		var recovered map[string]any
		_ = json.Unmarshal(reqs[len(reqs)-1].Body, &recovered)
		if recovered["type"] != EventCallbackRecovered || recovered["callback_id"] != flaky.ID || recovered["failing_since"] == nil {
			t.Fatalf("callback.recovered body %s", reqs[len(reqs)-1].Body)
		}
		_ = ops
		// A success without a pause before it is no recovery.
		f.enqueue(flaky.ID, 1)
		f.step()
		if got := log.types(); len(got) != 3 {
			t.Fatalf("observed %v after a plain success", got)
		}
	})
}

// TestDispatchRateLimit: a callback's rate_limit spaces its attempts; the
// others are not held back.
func TestDispatchRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{})
		paced := f.static(func(c *Callback) { c.URL = f.url + "/paced"; c.RateLimit = 2 })
		free := f.static(func(c *Callback) { c.URL = f.url + "/free" })
		f.enqueue(paced.ID, 4)
		f.enqueue(free.ID, 4)
		next := f.step()
		if n, m := len(f.requestsTo("/paced")), len(f.requestsTo("/free")); n != 1 || m != 4 {
			t.Fatalf("first claim sent %d paced and %d free, want 1 and 4", n, m)
		}
		if wait := next.Sub(f.now()); wait <= 0 || wait > 500*time.Millisecond {
			t.Fatalf("the claim comes back in %v, want at most the pace's 500ms", wait)
		}
		f.step()
		if n := len(f.requestsTo("/paced")); n != 1 {
			t.Fatalf("%d paced attempts before the next slot", n)
		}
		var at []time.Time
		for len(f.requestsTo("/paced")) < 4 {
			time.Sleep(next.Sub(f.now()))
			next = f.step()
			at = append(at, f.now())
		}
		if d := at[len(at)-1].Sub(at[0]); d < time.Second {
			t.Fatalf("4 attempts at 2/s took %v", d)
		}
	})
}

// TestDispatch429SlowsDown: a 429 with Retry-After holds the callback
// back for that long, is retried, and never opens the breaker or starts
// a failing streak.
func TestDispatch429SlowsDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// One attempt at a time, so that the second waits behind the 429.
		f := newBubbleFixture(t, Config{Schedule: []time.Duration{time.Second, time.Second, time.Second}, BreakerThreshold: 1, Concurrency: 1})
		cb := f.static(nil)
		f.answerStatus(http.StatusTooManyRequests, "Retry-After", "3")
		ids := f.enqueue(cb.ID, 2)
		f.step()
		if n := len(f.requests()); n != 1 {
			t.Fatalf("%d attempts; the first 429 holds the rest back", n)
		}
		skip, reopen := f.d.breaker.skipList(f.now(), 1)
		if !inSkip(skip, cb.ID) || reopen.Sub(f.now()) != 3*time.Second {
			t.Fatalf("skip %v until %v; want the callback held back 3s", skip, reopen)
		}
		if h := f.d.breaker.get(cb.ID); h.failures != 0 || !h.openUntil.IsZero() {
			t.Fatalf("a 429 counted as a failure: %+v", h)
		}
		if len(f.states()) != 0 {
			t.Fatalf("a 429 started a failing streak: %v", f.states())
		}
		time.Sleep(3 * time.Second)
		f.answerStatus(http.StatusOK)
		for range 4 {
			f.step()
			time.Sleep(time.Second)
		}
		for _, id := range ids {
			f.wantDelivery(id, store.DeliveryDelivered, len(f.get(id).Attempts))
		}
	})
}

// TestDispatchCallbackScheduleAndTimeout: a callback's own retry schedule
// and shorter timeout replace the config's.
func TestDispatchCallbackScheduleAndTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newBubbleFixture(t, Config{Schedule: []time.Duration{5 * time.Second}, Timeout: time.Minute})
		cb := f.static(func(c *Callback) { c.Schedule = []time.Duration{time.Hour}; c.Timeout = 2 * time.Second })
		f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		})
		id := f.enqueue(cb.ID, 1)[0]
		start := f.now()
		f.step()
		d := f.wantDelivery(id, store.DeliveryPending, 1)
		if took := f.now().Sub(start); took != 2*time.Second {
			t.Fatalf("the attempt took %v, want the callback's 2s timeout", took)
		}
		if !strings.Contains(d.LastError, "in time") {
			t.Fatalf("last error %q", d.LastError)
		}
		f.wantWait(id, time.Hour)
	})
}

// TestCallbackOfOptions: a registration's options make the callback: its
// auth, headers, signers (old secrets too, until their grace period ends)
// and subscription.
func TestCallbackOfOptions(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	oldSecret, _ := signing.GenerateSecret()
	newSecret, _ := signing.GenerateSecret()
	r := &store.Registration{ID: "wh_1", Agent: "a", URL: "https://x", Method: "POST", Status: StatusActive, Secret: newSecret,
		Options: store.RegistrationOptions{
			Events: []string{EventTaskStarted}, Filter: `.type == "task.started"`, Endpoint: "cognigy",
			Headers:         http.Header{"X-Tenant": {"acme"}},
			BasicAuth:       &store.BasicCredentials{Username: "u", Password: "p"},
			HMAC:            &store.HMACSettings{Secret: "hmac-key", Header: "X-Sig"},
			PreviousSecrets: []store.RetiredSecret{{Secret: oldSecret, Until: now.Add(time.Hour)}},
			Concurrency:     2, RetrySchedule: []time.Duration{time.Minute}, Timeout: time.Second, RateLimit: 5,
		}}
	cb, err := CallbackOf(r, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if cb.BasicUser != "u" || cb.BasicPassword != "p" || cb.Header.Get("X-Tenant") != "acme" || cb.Endpoint != "cognigy" ||
		!cb.Subscribes(EventTaskStarted) || cb.Subscribes(EventTaskSucceeded) || cb.Filter == nil || cb.Concurrency != 2 ||
		cb.RateLimit != 5 || cb.Timeout != time.Second || len(cb.Schedule) != 1 || len(cb.Signers) != 2 {
		t.Fatalf("callback %+v", cb)
	}
	body := []byte(`{"type":"task.started"}`)
	h := http.Header{}
	for _, s := range cb.Signers {
		for k, v := range s.Sign("msg_1", now, body) {
			h[k] = v
		}
	}
	if n := len(strings.Fields(h.Get("Webhook-Signature"))); n != 2 {
		t.Fatalf("%d signatures during the grace period, want 2", n)
	}
	for _, secret := range []string{oldSecret, newSecret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Fatalf("a receiver with one of the secrets refuses: %v", err)
		}
	}
	if h.Get("X-Sig") == "" {
		t.Fatal("no hmac signature")
	}
	// The cache keeps signers and filter while nothing changes.
	again, _ := CallbackOf(r, cb, now.Add(time.Minute))
	if again.Signers[0] != cb.Signers[0] || again.Filter != cb.Filter {
		t.Fatal("a refresh rebuilt what did not change")
	}
	// After the grace period, only the new secret signs.
	later, _ := CallbackOf(r, cb, now.Add(2*time.Hour))
	h = http.Header{}
	for k, v := range later.Signers[0].Sign("msg_1", now, body) {
		h[k] = v
	}
	if n := len(strings.Fields(h.Get("Webhook-Signature"))); n != 1 {
		t.Fatalf("%d signatures after the grace period, want 1", n)
	}
	// What no delivery could use is refused.
	bad := *r
	bad.Options.Filter = `.a ==`
	if _, err := CallbackOf(&bad, nil, now); err == nil {
		t.Fatal("a broken filter was accepted")
	}
	bad = *r
	bad.Secret = "nope"
	if _, err := CallbackOf(&bad, nil, now); err == nil {
		t.Fatal("a broken secret was accepted")
	}
}

// TestSendTest: a test event goes out at once, signed and marked, and
// its outcome comes back; nothing is stored.
func TestSendTest(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	r := f.registered(StatusActive)
	cb, err := f.reg.Lookup(f.ctx, f.agent, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.answerStatus(http.StatusAccepted)
	res, err := f.d.SendTest(f.ctx, cb, EventTaskSucceeded)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempt.StatusCode != 202 || res.Attempt.Response != "answer 202" || res.Attempt.Error != "" || !strings.HasPrefix(res.MessageID, "msg_") {
		t.Fatalf("result %+v", res)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Agenthook-Test") != "true" || reqs[0].Header.Get("Webhook-Id") != res.MessageID {
		t.Fatalf("requests %+v", reqs)
	}
	wh, _ := standardwebhooks.NewWebhook(r.Secret)
	if err := wh.VerifyIgnoringTimestamp(reqs[0].Body, reqs[0].Header); err != nil {
		t.Fatalf("test event signature: %v", err)
	}
	if m := decode(t, reqs[0].Body); m["type"] != EventTaskSucceeded || m["task_id"] != "task_example" {
		t.Fatalf("test body %s", reqs[0].Body)
	}
	for _, typ := range EventTypeNames() {
		if _, err := f.d.SendTest(f.ctx, cb, typ); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	if _, err := f.d.SendTest(f.ctx, cb, "task.done"); err == nil {
		t.Fatal("an unknown type was sent")
	}
	if p, _, _ := f.st.DeliveryCounts(f.ctx); p != 0 {
		t.Fatalf("a test event was stored")
	}
	if cb.Header != nil && cb.Header.Get("X-Agenthook-Test") != "" {
		t.Fatal("the test header leaked into the callback")
	}
}
