package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

func TestOutboxHops(t *testing.T) {
	t.Parallel()
	cbs := &fakeCallbacks{list: []*Callback{{ID: "cfg-agent-a-0"}, {ID: "wh_1"}}}
	for meta, want := range map[string]int{"": 1, "0": 1, "2": 3, "junk": 1} {
		task := payloadTask()
		task.Meta = map[string]string{}
		if meta != "" {
			task.Meta[handler.MetaHops] = meta
		}
		ds, err := Outbox(context.Background(), cbs, task, store.TaskSuccess, &store.Result{StatusCode: 200}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Hops != want {
				t.Errorf("task with hops %q: delivery hops %d, want %d", meta, d.Hops, want)
			}
		}
	}
}

// TestDispatchLoopHeaders: every delivery says which installation sent it
// and how many agenthook hops it has made.
func TestDispatchLoopHeaders(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	cb := f.static(nil)
	first := f.enqueue(cb.ID, 1)[0]
	third := f.enqueueWith(cb.ID, 1, func(d *store.Delivery) { d.Hops = 3 })[0]
	f.step()
	f.wantDelivery(first, store.DeliveryDelivered, 1)
	f.wantDelivery(third, store.DeliveryDelivered, 1)
	origin, err := f.st.InstallationID(f.ctx)
	if err != nil || origin == "" {
		t.Fatalf("InstallationID = %q, %v", origin, err)
	}
	hops := map[string]string{}
	for _, r := range f.requests() {
		if got := r.Header.Get(handler.HeaderOrigin); got != origin {
			t.Errorf("%s = %q, want the installation id %q", handler.HeaderOrigin, got, origin)
		}
		hops[r.Header.Get("Webhook-Id")] = r.Header.Get(handler.HeaderHops)
	}
	if hops[first] != "1" || hops[third] != "3" {
		t.Fatalf("hops sent: %v; want 1 for %s and 3 for %s", hops, first, third)
	}
}

// refusingTransport fails every request the way caddymodule's dialer
// refuses an address: a dial error that wraps ErrRefused and names the
// address.
type refusingTransport struct{}

type dialRefusal struct{}

func (dialRefusal) Error() string {
	return "the callback URL is refused: it points to 127.0.0.1:2019, Caddy's admin endpoint"
}
func (dialRefusal) Unwrap() error { return ErrRefused }

func (refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2019}, Err: dialRefusal{}}
}

// TestDispatchRefusedDialRecordsNothing: an attempt refused at dial time
// records the fixed sentence, no status and no answer: it cannot be used
// to read an internal service, nor to learn what a name resolved to.
func TestDispatchRefusedDialRecordsNothing(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Client: &http.Client{Transport: refusingTransport{}}, Schedule: []time.Duration{time.Minute}})
	cb := f.static(nil)
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryPending, 1)
	a := d.Attempts[0]
	if a.Error != ErrRefused.Error() || a.StatusCode != 0 || a.Response != "" {
		t.Fatalf("attempt = %+v; want only the refusal sentence", a)
	}
	if strings.Contains(d.LastError, "127.0.0.1") || strings.Contains(d.LastError, "2019") {
		t.Fatalf("LastError %q names the address", d.LastError)
	}
}

func TestAttemptErrorHidesAddresses(t *testing.T) {
	t.Parallel()
	err := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 80}, Err: errors.New("connect: connection refused")}
	if got := attemptError(err); strings.Contains(got, "10.0.0.7") || !strings.Contains(got, "connection refused") {
		t.Fatalf("attemptError = %q", got)
	}
	if got := attemptError(fmt.Errorf("wrapped: %w", dialRefusal{})); got != ErrRefused.Error() {
		t.Fatalf("attemptError(refusal) = %q", got)
	}
}
