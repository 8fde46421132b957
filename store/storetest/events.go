package storetest

import (
	"net/http"
	"reflect"
	"time"

	"github.com/agenthook/agenthook/store"
)

// eventTests cover what subscriptions need of an engine: deliveries queued
// outside a task's finish (EnqueueDeliveries), the message id one event's
// deliveries share, and the options of a registration.
var eventTests = []test{
	{"EnqueueClaimable", testEnqueueClaimable},
	{"EnqueueTwice", testEnqueueTwice},
	{"EnqueueAllOrNothing", testEnqueueAllOrNothing},
	{"EnqueueOrdered", testEnqueueOrdered},
	{"EnqueueEmpty", testEnqueueEmpty},
	{"MessageIDThroughFinish", testMessageIDThroughFinish},
	{"RegistrationOptions", testRegistrationOptions},
	{"RegistrationOptionsCopied", testRegistrationOptionsCopied},
}

// event builds an unsaved delivery of an event that does not end a task.
func (h *harness) event(agent, callback, msg, orderKey string) *store.Delivery {
	d := h.newDelivery(agent, callback, orderKey, []byte(`{"type":"task.started"}`))
	d.MessageID, d.EventType, d.Hops = msg, "task.started", 2
	return d
}

func (h *harness) enqueueEvents(ds ...*store.Delivery) {
	h.Helper()
	if err := h.s.EnqueueDeliveries(h.ctx, ds); err != nil {
		h.Fatalf("EnqueueDeliveries: %v", err)
	}
}

func testEnqueueClaimable(h *harness) {
	d1 := h.event("agent-a", "cb-1", "msg-1", "")
	d2 := h.event("agent-a", "cb-2", "msg-1", "")
	d2.TaskID, d2.ChatID = "", "" // an operational event concerns no task
	drain(h.s.DeliveryWake())
	h.enqueueEvents(d1, d2)
	if !woken(h.s.DeliveryWake()) {
		h.Errorf("DeliveryWake did not receive after EnqueueDeliveries")
	}
	got := h.claimDeliveries("d1", 10)
	h.wantIDs("claimed", ids(got), []string{d1.ID, d2.ID})
	for _, d := range got {
		if d.MessageID != "msg-1" || d.EventType != "task.started" || d.Hops != 2 || d.AttemptCount != 0 {
			h.Fatalf("claimed %+v, want message msg-1, task.started, 2 hops, no attempts", d)
		}
		wantBytes(h, "payload of "+d.ID, d.Payload, []byte(`{"type":"task.started"}`))
		if d.WebhookID() != "msg-1" {
			h.Fatalf("WebhookID() = %q, want msg-1", d.WebhookID())
		}
	}
	g := h.getDelivery(d1.ID)
	if g.MessageID != "msg-1" || g.Status != store.DeliveryPending || !g.CreatedAt.Equal(h.now()) {
		h.Fatalf("GetDelivery = %+v", g)
	}
	wantOrder(h, "list", h.list("agent-a", "", 10), d2.ID, d1.ID)
	h.wantDeliveryCounts(2, 0)
}

func testEnqueueTwice(h *harness) {
	d := h.event("agent-a", "cb-1", "msg-1", "")
	h.enqueueEvents(d)
	got := h.claimDeliveries("d1", 10)
	h.wantIDs("claimed", ids(got), []string{d.ID})
	h.record(d.ID, "d1", store.DeliveryDelivered, time.Time{})

	// The same event emitted again (a task claimed again after a crash):
	// nothing changes, and the new delivery beside it is queued.
	again := h.event("agent-a", "cb-1", "msg-1", "")
	again.ID = d.ID
	again.Payload = []byte(`{"changed":true}`)
	other := h.event("agent-a", "cb-2", "msg-1", "")
	h.enqueueEvents(again, other)
	g := h.getDelivery(d.ID)
	if g.Status != store.DeliveryDelivered || g.AttemptCount != 1 {
		h.Fatalf("a delivery enqueued again became %s with %d attempts; want it delivered as it was", g.Status, g.AttemptCount)
	}
	wantBytes(h, "payload", g.Payload, []byte(`{"type":"task.started"}`))
	h.wantIDs("claimed after", h.claimDeliveryIDs("d2", 10), []string{other.ID})

	// Pending and enqueued again: not duplicated, lease kept.
	h.enqueueEvents(other)
	h.wantIDs("claimed while leased", h.claimDeliveryIDs("d3", 10), nil)
	h.wantDeliveryCounts(1, 0)
}

func testEnqueueAllOrNothing(h *harness) {
	good := h.event("agent-a", "cb-1", "msg-1", "")
	noCallback := h.event("agent-a", "", "msg-1", "")
	if err := h.s.EnqueueDeliveries(h.ctx, []*store.Delivery{good, noCallback}); err == nil {
		h.Fatalf("EnqueueDeliveries with a delivery without a callback succeeded")
	}
	dup := h.event("agent-a", "cb-2", "msg-1", "")
	dup.ID = good.ID
	err := h.s.EnqueueDeliveries(h.ctx, []*store.Delivery{good, dup})
	h.wantErr("EnqueueDeliveries with an id listed twice", err, store.ErrInvalid)
	big := h.event("agent-a", "cb-3", "msg-1", "")
	big.Payload = make([]byte, store.MaxRecordBytes+1)
	err = h.s.EnqueueDeliveries(h.ctx, []*store.Delivery{good, big})
	h.wantErr("EnqueueDeliveries over the size limit", err, store.ErrTooLarge)
	_, err = h.s.GetDelivery(h.ctx, good.ID)
	h.wantErr("GetDelivery after refused enqueues", err, store.ErrNotFound)
	h.wantDeliveryCounts(0, 0)
}

func testEnqueueOrdered(h *harness) {
	// A task.started queued before the task's final event, under one
	// order key: the final one waits for it.
	t := h.started("agent-a")
	started := h.event("agent-a", "cb-1", "msg-s", "cb-1/"+t.ChatID)
	started.TaskID = t.ID
	h.enqueueEvents(started)
	final := h.newDelivery("agent-a", "cb-1", "cb-1/"+t.ChatID, []byte(`{}`))
	final.TaskID, final.MessageID = t.ID, "msg-f"
	h.finish(t.ID, "w1", final)
	h.wantIDs("first claim", h.claimDeliveryIDs("d1", 10), []string{started.ID})
	h.record(started.ID, "d1", store.DeliveryDelivered, time.Time{})
	got := h.claimDeliveries("d2", 10)
	h.wantIDs("second claim", ids(got), []string{final.ID})
	if got[0].MessageID != "msg-f" {
		h.Fatalf("message id %q, want msg-f", got[0].MessageID)
	}
}

func testEnqueueEmpty(h *harness) {
	if err := h.s.EnqueueDeliveries(h.ctx, nil); err != nil {
		h.Fatalf("EnqueueDeliveries(nil): %v", err)
	}
	h.wantDeliveryCounts(0, 0)
}

func testMessageIDThroughFinish(h *harness) {
	t := h.started("agent-a")
	d1 := h.newDelivery("agent-a", "cb-1", "", []byte(`{}`))
	d2 := h.newDelivery("agent-a", "cb-2", "", []byte(`{}`))
	old := h.newDelivery("agent-a", "cb-3", "", []byte(`{}`)) // as stored before message ids
	d1.MessageID, d2.MessageID = "msg-shared", "msg-shared"
	h.finish(t.ID, "w1", d1, d2, old)
	for _, d := range h.claimDeliveries("d1", 10) {
		want := "msg-shared"
		if d.ID == old.ID {
			want = old.ID
		}
		if d.WebhookID() != want {
			h.Fatalf("delivery %s: webhook id %q, want %q", d.ID, d.WebhookID(), want)
		}
		// The id survives an attempt and a replay.
		h.record(d.ID, "d1", store.DeliveryFailed, time.Time{})
		if _, err := h.s.RetryDelivery(h.ctx, d.ID); err != nil {
			h.Fatalf("RetryDelivery: %v", err)
		}
		if g := h.getDelivery(d.ID); g.WebhookID() != want {
			h.Fatalf("after a replay, webhook id %q, want %q", g.WebhookID(), want)
		}
	}
}

// fullOptions sets every option of a registration.
func fullOptions(until time.Time) store.RegistrationOptions {
	return store.RegistrationOptions{
		Events:          []string{"task.started", "task.failed"},
		Filter:          `.result.priority == "high"`,
		Endpoint:        "cognigy",
		Headers:         http.Header{"X-Tenant": {"acme"}, "X-Two": {"a", "b"}},
		BasicAuth:       &store.BasicCredentials{Username: "cognigy-user", Password: "pw \u00e9\x01"},
		HMAC:            &store.HMACSettings{Secret: "hmac-secret", Header: "x-sig", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512="},
		PreviousSecrets: []store.RetiredSecret{{Secret: "whsec_b2xkLXNlY3JldC1vZi0x", Until: until}},
		Concurrency:     3,
		RetrySchedule:   []time.Duration{time.Second, 2 * time.Minute},
		Timeout:         5 * time.Second,
		RateLimit:       2.5,
	}
}

func (h *harness) wantOptions(id string, want store.RegistrationOptions) {
	h.Helper()
	got, err := h.s.GetRegistration(h.ctx, id)
	if err != nil {
		h.Fatalf("GetRegistration(%s): %v", id, err)
	}
	if len(want.PreviousSecrets) == len(got.Options.PreviousSecrets) {
		// Times compare with Equal (locations differ between engines).
		for i := range want.PreviousSecrets {
			if !got.Options.PreviousSecrets[i].Until.Equal(want.PreviousSecrets[i].Until) {
				h.Fatalf("previous secret %d until %v, want %v", i, got.Options.PreviousSecrets[i].Until, want.PreviousSecrets[i].Until)
			}
			got.Options.PreviousSecrets[i].Until = want.PreviousSecrets[i].Until
		}
	}
	if !reflect.DeepEqual(got.Options, want) {
		h.Fatalf("options of %s = %+v, want %+v", id, got.Options, want)
	}
}

func testRegistrationOptions(h *harness) {
	plain := h.newReg("reg-plain", "agent-a", h.now())
	h.createReg(plain)
	h.wantOptions(plain.ID, store.RegistrationOptions{})

	r := h.newReg("reg-1", "agent-a", h.now())
	r.Secret = "whsk_" + "c2VlZC1vZi0zMi1ieXRlcy1mb3ItZWQyNTUxOS1rZXk="
	r.Options = fullOptions(h.now().Add(24 * time.Hour))
	h.createReg(r)
	h.wantReg(r)
	h.wantOptions(r.ID, fullOptions(h.now().Add(24*time.Hour)))
	rs, err := h.s.ListRegistrations(h.ctx, "agent-a")
	// Same creation time: ordered by id, reg-1 first.
	if err != nil || len(rs) != 2 || rs[0].Options.RateLimit != 2.5 || rs[0].Options.HMAC == nil || rs[1].Options.HMAC != nil {
		h.Fatalf("ListRegistrations = %v, %v; want both, with the options", rs, err)
	}

	// A rotation: the options change, the rest stays.
	u := *r
	u.Secret = "whsec_bmV3LXNlY3JldC1vZi0x"
	u.Options = fullOptions(h.now().Add(time.Hour))
	u.Options.PreviousSecrets = append(u.Options.PreviousSecrets, store.RetiredSecret{Secret: r.Secret, Until: h.now().Add(2 * time.Hour)})
	u.Options.Events, u.Options.Filter, u.Options.BasicAuth = nil, "", nil
	if err := h.s.UpdateRegistration(h.ctx, &u); err != nil {
		h.Fatalf("UpdateRegistration: %v", err)
	}
	h.wantReg(&u)
	want := fullOptions(h.now().Add(time.Hour))
	want.PreviousSecrets = append(want.PreviousSecrets, store.RetiredSecret{Secret: r.Secret, Until: h.now().Add(2 * time.Hour)})
	want.Events, want.Filter, want.BasicAuth = nil, "", nil
	h.wantOptions(r.ID, want)

	// Back to none.
	u.Options = store.RegistrationOptions{}
	if err := h.s.UpdateRegistration(h.ctx, &u); err != nil {
		h.Fatalf("UpdateRegistration: %v", err)
	}
	h.wantOptions(r.ID, store.RegistrationOptions{})
}

func testRegistrationOptionsCopied(h *harness) {
	r := h.newReg("reg-1", "agent-a", h.now())
	r.Options = fullOptions(h.now())
	h.createReg(r)
	// Changing what was given, or what came back, changes nothing stored.
	r.Options.Events[0] = "changed"
	r.Options.Headers.Set("X-Tenant", "changed")
	r.Options.BasicAuth.Password = "changed"
	got, err := h.s.GetRegistration(h.ctx, r.ID)
	if err != nil {
		h.Fatal(err)
	}
	got.Options.RetrySchedule[0] = time.Hour
	got.Options.HMAC.Secret = "changed"
	h.wantOptions(r.ID, fullOptions(h.now()))
}
