package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

// TestRegistryActive checks the fan-out list: static callbacks unless
// disabled, plus active registrations of the agent only.
func TestRegistryActive(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	a := f.static(nil)
	b := f.static(nil)
	active := f.registered(StatusActive)
	f.registered(StatusInactive)
	disabled := f.registered(StatusActive)
	disabled.Status = StatusDisabled
	if err := f.st.UpdateRegistration(f.ctx, disabled); err != nil {
		t.Fatal(err)
	}
	other := f.registered(StatusActive)
	other.Agent = "agent-b"
	if err := f.st.UpdateRegistration(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveCallbackState(f.ctx, &store.CallbackState{ID: b.ID, Agent: "agent-a", Disabled: true, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	f.reg.Invalidate()
	list, err := f.reg.Active(f.ctx, f.agent)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cb := range list {
		got = append(got, cb.ID)
	}
	if strings.Join(got, ",") != a.ID+","+active.ID {
		t.Fatalf("Active = %v, want [%s %s]", got, a.ID, active.ID)
	}
	if len(list[1].Signers) == 0 || list[1].Format != FormatRaw || !list[1].Registered() {
		t.Fatalf("registered callback %+v: want a signer and the raw format", list[1])
	}
	// The cache: a registration created behind its back shows up after
	// Refresh, or at once through Lookup.
	late := &store.Registration{ID: "wh_late", Agent: "agent-a", URL: "http://x", Method: "POST", Status: StatusActive, Secret: active.Secret}
	if err := f.st.CreateRegistration(f.ctx, late, 0); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.reg.Active(f.ctx, f.agent); len(list) != 2 {
		t.Fatalf("Active saw a new registration before the refresh")
	}
	if cb, err := f.reg.Lookup(f.ctx, f.agent, "wh_late"); err != nil || cb.ID != "wh_late" {
		t.Fatalf("Lookup(wh_late) = %v, %v", cb, err)
	}
	f.advance(3 * time.Second)
	if list, _ := f.reg.Active(f.ctx, f.agent); len(list) != 3 {
		t.Fatalf("Active after the refresh has %d, want 3", len(list))
	}
}
