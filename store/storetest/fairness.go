package storetest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/agenthook/agenthook/store"
)

// perAgentTests cover DeliveryClaim.SkipAgents and PerAgent, which share
// delivery workers out between agents.
var perAgentTests = []test{
	{"SkipAgents", testSkipAgents},
	{"SkipAgentsNext", testSkipAgentsNext},
	{"PerAgentCap", testPerAgentCap},
	{"PerAgentWithPerCallback", testPerAgentWithPerCallback},
	{"PerAgentOrdered", testPerAgentOrdered},
}

// claimAgents claims with agent caps and returns the count per agent.
func (h *harness) claimAgents(c store.DeliveryClaim) (map[string]int, []*store.Delivery) {
	h.Helper()
	c.Lease = lease
	ds, _, err := h.s.ClaimDeliveries(h.ctx, c)
	if err != nil {
		h.Fatalf("ClaimDeliveries(%s): %v", c.Owner, err)
	}
	n := map[string]int{}
	for _, d := range ds {
		if d.LeaseOwner != c.Owner {
			h.Fatalf("claimed delivery %s: owner %q, want %q", d.ID, d.LeaseOwner, c.Owner)
		}
		n[d.Agent]++
	}
	if len(ds) > c.Limit {
		h.Fatalf("claim %s returned %d deliveries, over its limit of %d", c.Owner, len(ds), c.Limit)
	}
	return n, ds
}

func testSkipAgents(h *harness) {
	h.dlvs("agent-a", "cb-a1", 3)
	h.dlvs("agent-a", "cb-a2", 2)
	b := h.dlvs("agent-b", "cb-b", 2)
	n, ds := h.claimAgents(store.DeliveryClaim{Owner: "d1", Limit: 100, SkipAgents: []string{"agent-a"}})
	wantCounts(h, "claim skipping agent-a", n, map[string]int{"agent-b": 2})
	h.wantIDs("claimed", ids(ds), b)
	n, _ = h.claimAgents(store.DeliveryClaim{Owner: "d2", Limit: 100, SkipAgents: []string{"agent-b", "no-such-agent"}})
	wantCounts(h, "claim skipping agent-b", n, map[string]int{"agent-a": 5})
	// The same through the capped path.
	h.dlvs("agent-c", "cb-c", 2)
	h.dlvs("agent-d", "cb-d", 2)
	n, _ = h.claimAgents(store.DeliveryClaim{Owner: "d3", Limit: 100, PerCallback: 5, SkipAgents: []string{"agent-c"}})
	wantCounts(h, "capped claim skipping agent-c", n, map[string]int{"agent-d": 2})
}

// testSkipAgentsNext: a skipped agent's due deliveries do not make next
// "now", as with skipped callbacks; the caller comes back when it frees a
// slot.
func testSkipAgentsNext(h *harness) {
	h.dlvs("agent-a", "cb-a", 2)
	ds, next, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: "d1", Limit: 10, Lease: lease, SkipAgents: []string{"agent-a"}})
	if err != nil {
		h.Fatalf("ClaimDeliveries: %v", err)
	}
	if len(ds) != 0 {
		h.Fatalf("claimed %d deliveries of a skipped agent", len(ds))
	}
	if !next.IsZero() && !next.After(h.now()) {
		h.Fatalf("next = %v: only a skipped agent's deliveries are due, so nothing is claimable now", next)
	}
}

func testPerAgentCap(h *harness) {
	for i := range 4 {
		h.dlvs("agent-a", fmt.Sprint("cb-a", i), 3)
	}
	h.dlvs("agent-b", "cb-b", 2)
	n, _ := h.claimAgents(store.DeliveryClaim{Owner: "d1", Limit: 100, PerAgent: 5})
	wantCounts(h, "first claim", n, map[string]int{"agent-a": 5, "agent-b": 2})
	ds, next, err := h.s.ClaimDeliveries(h.ctx, store.DeliveryClaim{Owner: "d2", Limit: 3, Lease: lease, PerAgent: 5})
	if err != nil {
		h.Fatalf("ClaimDeliveries: %v", err)
	}
	if len(ds) != 3 || !next.Equal(h.now()) {
		h.Fatalf("second claim: %d deliveries, next %v; want 3 and now (more are due)", len(ds), next)
	}
	n, _ = h.claimAgents(store.DeliveryClaim{Owner: "d3", Limit: 100, PerAgent: 5})
	wantCounts(h, "third claim", n, map[string]int{"agent-a": 4})
	n, _ = h.claimAgents(store.DeliveryClaim{Owner: "d4", Limit: 100, PerAgent: 5})
	wantCounts(h, "fourth claim", n, map[string]int{})
}

// testPerAgentWithPerCallback: both caps hold at once.
func testPerAgentWithPerCallback(h *harness) {
	h.dlvs("agent-a", "cb-a1", 5)
	h.dlvs("agent-a", "cb-a2", 5)
	h.dlvs("agent-a", "cb-a3", 5)
	h.dlvs("agent-b", "cb-b1", 5)
	n, ds := h.claimAgents(store.DeliveryClaim{Owner: "d1", Limit: 100, PerCallback: 2, PerAgent: 3})
	wantCounts(h, "claim", n, map[string]int{"agent-a": 3, "agent-b": 2})
	perCallback := map[string]int{}
	for _, d := range ds {
		perCallback[d.CallbackID]++
	}
	for cb, k := range perCallback {
		if k > 2 {
			h.Fatalf("callback %s got %d deliveries in one claim, over its cap of 2", cb, k)
		}
	}
}

// testPerAgentOrdered: the cap counts the heads handed out; deliveries
// queued behind an order key wait for their head as always.
func testPerAgentOrdered(h *harness) {
	var ds []*store.Delivery
	for range 3 {
		ds = append(ds, h.newDelivery("agent-a", "cb-a", "cb-a/chat-1", []byte(`{}`)))
	}
	h.enqueue(ds...)
	h.dlvs("agent-a", "cb-a2", 3)
	n, got := h.claimAgents(store.DeliveryClaim{Owner: "d1", Limit: 100, PerAgent: 2})
	wantCounts(h, "claim", n, map[string]int{"agent-a": 2})
	if slices.ContainsFunc(got, func(d *store.Delivery) bool { return d.ID == ds[1].ID || d.ID == ds[2].ID }) {
		h.Fatalf("a delivery behind its order key's head was claimed")
	}
}

// registrationLimitTests cover CreateRegistration's limit.
var registrationLimitTests = []test{
	{"Limit", testRegLimit},
	{"LimitConcurrent", testRegLimitConcurrent},
}

func testRegLimit(h *harness) {
	for i := range 3 {
		if err := h.s.CreateRegistration(h.ctx, h.newReg(fmt.Sprint("reg-a", i), "agent-a", h.now()), 3); err != nil {
			h.Fatalf("registration %d of 3: %v", i+1, err)
		}
	}
	err := h.s.CreateRegistration(h.ctx, h.newReg("reg-a-over", "agent-a", h.now()), 3)
	h.wantErr("the 4th registration with a limit of 3", err, store.ErrLimitReached)
	_, err = h.s.GetRegistration(h.ctx, "reg-a-over")
	h.wantErr("GetRegistration of the refused one", err, store.ErrNotFound)
	// Other agents have their own count; no limit means none.
	if err := h.s.CreateRegistration(h.ctx, h.newReg("reg-b", "agent-b", h.now()), 3); err != nil {
		h.Fatalf("another agent's registration: %v", err)
	}
	if err := h.s.CreateRegistration(h.ctx, h.newReg("reg-a-unlimited", "agent-a", h.now()), 0); err != nil {
		h.Fatalf("a registration without a limit: %v", err)
	}
	// A deleted registration frees its place.
	if err := h.s.DeleteRegistration(h.ctx, "reg-a0"); err != nil {
		h.Fatalf("DeleteRegistration: %v", err)
	}
	if err := h.s.DeleteRegistration(h.ctx, "reg-a1"); err != nil {
		h.Fatalf("DeleteRegistration: %v", err)
	}
	// agent-a now has 2 (reg-a2 and the unlimited one).
	if err := h.s.CreateRegistration(h.ctx, h.newReg("reg-a-again", "agent-a", h.now()), 3); err != nil {
		h.Fatalf("a registration after deleting two: %v", err)
	}
	err = h.s.CreateRegistration(h.ctx, h.newReg("reg-a-full", "agent-a", h.now()), 3)
	h.wantErr("a registration over the limit again", err, store.ErrLimitReached)
}

// testRegLimitConcurrent: racing registrations never go over the limit.
func testRegLimitConcurrent(h *harness) {
	const limit, tries = 5, 24
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			errs[i] = h.s.CreateRegistration(h.ctx, h.newReg(fmt.Sprint("reg-", i), "agent-a", h.now()), limit)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		default:
			h.wantErr("a racing registration", err, store.ErrLimitReached)
		}
	}
	if got := len(h.listRegs("agent-a")); ok != limit || got != limit {
		h.Fatalf("%d registrations succeeded and %d are stored, want %d", ok, got, limit)
	}
}

// loopTests cover what loop protection stores: a delivery's hops and the
// installation id.
var loopTests = []test{
	{"DeliveryHops", testDeliveryHops},
	{"InstallationID", testInstallationID},
}

func testDeliveryHops(h *harness) {
	d := h.newDelivery("agent-a", "cb-1", "", []byte(`{}`))
	d.Hops = 3
	plain := h.newDelivery("agent-a", "cb-2", "", []byte(`{}`))
	h.enqueue(d, plain)
	if got := h.getDelivery(d.ID).Hops; got != 3 {
		h.Fatalf("GetDelivery: hops %d, want 3", got)
	}
	claimed := h.claimDeliveries("d1", 10)
	for _, c := range claimed {
		want := 0
		if c.ID == d.ID {
			want = 3
		}
		if c.Hops != want {
			h.Fatalf("claimed delivery %s has hops %d, want %d", c.ID, c.Hops, want)
		}
	}
	if len(claimed) != 2 {
		h.Fatalf("claimed %d deliveries, want 2", len(claimed))
	}
}

func testInstallationID(h *harness) {
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			id, err := h.s.InstallationID(h.ctx)
			if err != nil {
				h.Errorf("InstallationID: %v", err)
			}
			got[i] = id
		})
	}
	wg.Wait()
	if got[0] == "" {
		h.Fatalf("InstallationID is empty")
	}
	for _, id := range got {
		if id != got[0] {
			h.Fatalf("InstallationID answered %v: not one id", got)
		}
	}
	if again, err := h.s.InstallationID(h.ctx); err != nil || again != got[0] {
		h.Fatalf("InstallationID later = %q, %v; want %q", again, err, got[0])
	}
}
