package storetest

import (
	"time"

	"github.com/agenthook/agenthook/store"
)

var registrationTests = []test{
	{"CreateGet", testRegCreateGet},
	{"GetUnknown", testRegGetUnknown},
	{"Duplicate", testRegDuplicate},
	{"BadInput", testRegBadInput},
	{"ListOldestFirst", testRegList},
	{"Update", testRegUpdate},
	{"UpdateMovesAgent", testRegUpdateAgent},
	{"UpdateUnknown", testRegUpdateUnknown},
	{"Delete", testRegDelete},
}

func (h *harness) newReg(id, agent string, created time.Time) *store.Registration {
	return &store.Registration{
		ID:        id,
		Agent:     agent,
		URL:       "https://hooks.example.com/" + id,
		Method:    "POST",
		Status:    "active",
		Secret:    "whsec_c2VjcmV0LW9mLQ==" + id,
		Format:    "raw",
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func (h *harness) createReg(r *store.Registration) {
	h.Helper()
	if err := h.s.CreateRegistration(h.ctx, r, 0); err != nil {
		h.Fatalf("CreateRegistration(%s): %v", r.ID, err)
	}
}

func (h *harness) wantReg(want *store.Registration) {
	h.Helper()
	got, err := h.s.GetRegistration(h.ctx, want.ID)
	if err != nil {
		h.Fatalf("GetRegistration(%s): %v", want.ID, err)
	}
	if got.ID != want.ID || got.Agent != want.Agent || got.URL != want.URL || got.Method != want.Method ||
		got.Status != want.Status || got.Secret != want.Secret || got.Format != want.Format ||
		got.DisabledReason != want.DisabledReason || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		h.Fatalf("GetRegistration(%s) = %+v, want %+v", want.ID, got, want)
	}
}

func (h *harness) listRegs(agent string) []string {
	h.Helper()
	rs, err := h.s.ListRegistrations(h.ctx, agent)
	if err != nil {
		h.Fatalf("ListRegistrations(%q): %v", agent, err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		if agent != "" && r.Agent != agent {
			h.Fatalf("ListRegistrations(%q) returned %s of %s", agent, r.ID, r.Agent)
		}
		out[i] = r.ID
	}
	return out
}

func testRegCreateGet(h *harness) {
	r := h.newReg("reg-1", "agent-a", h.now())
	h.createReg(r)
	h.wantReg(r)
}

func testRegGetUnknown(h *harness) {
	_, err := h.s.GetRegistration(h.ctx, "no-such-registration")
	h.wantErr("GetRegistration(unknown)", err, store.ErrNotFound)
}

func testRegDuplicate(h *harness) {
	r := h.newReg("reg-1", "agent-a", h.now())
	h.createReg(r)
	dup := h.newReg("reg-1", "agent-b", h.now().Add(time.Minute))
	dup.URL = "https://elsewhere.example.com/"
	if err := h.s.CreateRegistration(h.ctx, dup, 0); err == nil {
		h.Fatalf("CreateRegistration with a used id succeeded")
	}
	h.wantReg(r)
	wantOrder(h, "list of agent-b", h.listRegs("agent-b"))
	wantOrder(h, "list of agent-a", h.listRegs("agent-a"), "reg-1")
}

func testRegBadInput(h *harness) {
	if err := h.s.CreateRegistration(h.ctx, h.newReg("", "agent-a", h.now()), 0); err == nil {
		h.Fatalf("CreateRegistration without an id succeeded")
	}
	wantOrder(h, "list", h.listRegs(""))
}

func testRegList(h *harness) {
	t0 := h.now()
	// Ids sort differently from their ages.
	h.createReg(h.newReg("reg-c", "agent-a", t0))
	h.createReg(h.newReg("reg-a", "agent-a", t0.Add(2*time.Minute)))
	h.createReg(h.newReg("reg-z", "agent-ab", t0.Add(3*time.Minute)))
	h.createReg(h.newReg("reg-b", "agent-a", t0.Add(4*time.Minute)))
	h.createReg(h.newReg("reg-y", "agent-b", t0.Add(time.Minute)))
	wantOrder(h, "list of agent-a", h.listRegs("agent-a"), "reg-c", "reg-a", "reg-b")
	wantOrder(h, "list of agent-ab", h.listRegs("agent-ab"), "reg-z")
	wantOrder(h, "list of agent-b", h.listRegs("agent-b"), "reg-y")
	wantOrder(h, "list of an unknown agent", h.listRegs("agent-x"))
	wantOrder(h, "list of all", h.listRegs(""), "reg-c", "reg-y", "reg-a", "reg-z", "reg-b")
}

func testRegUpdate(h *harness) {
	r := h.newReg("reg-1", "agent-a", h.now())
	h.createReg(r)
	u := *r
	u.URL = "https://hooks.example.com/new"
	u.Status = "disabled"
	u.DisabledReason = "callback answered 410"
	u.UpdatedAt = h.now().Add(time.Hour)
	if err := h.s.UpdateRegistration(h.ctx, &u); err != nil {
		h.Fatalf("UpdateRegistration: %v", err)
	}
	h.wantReg(&u)
	wantOrder(h, "list of agent-a", h.listRegs("agent-a"), "reg-1")
}

func testRegUpdateAgent(h *harness) {
	r := h.newReg("reg-1", "agent-a", h.now())
	h.createReg(r)
	u := *r
	u.Agent = "agent-b"
	if err := h.s.UpdateRegistration(h.ctx, &u); err != nil {
		h.Fatalf("UpdateRegistration: %v", err)
	}
	h.wantReg(&u)
	wantOrder(h, "list of agent-a", h.listRegs("agent-a"))
	wantOrder(h, "list of agent-b", h.listRegs("agent-b"), "reg-1")
	wantOrder(h, "list of all", h.listRegs(""), "reg-1")
}

func testRegUpdateUnknown(h *harness) {
	err := h.s.UpdateRegistration(h.ctx, h.newReg("reg-1", "agent-a", h.now()))
	h.wantErr("UpdateRegistration(unknown)", err, store.ErrNotFound)
	_, err = h.s.GetRegistration(h.ctx, "reg-1")
	h.wantErr("GetRegistration after a refused update", err, store.ErrNotFound)
	wantOrder(h, "list", h.listRegs(""))
}

func testRegDelete(h *harness) {
	h.createReg(h.newReg("reg-1", "agent-a", h.now()))
	keep := h.newReg("reg-2", "agent-a", h.now().Add(time.Minute))
	h.createReg(keep)
	if err := h.s.DeleteRegistration(h.ctx, "reg-1"); err != nil {
		h.Fatalf("DeleteRegistration: %v", err)
	}
	_, err := h.s.GetRegistration(h.ctx, "reg-1")
	h.wantErr("GetRegistration(deleted)", err, store.ErrNotFound)
	wantOrder(h, "list of agent-a", h.listRegs("agent-a"), "reg-2")
	wantOrder(h, "list of all", h.listRegs(""), "reg-2")
	h.wantReg(keep)
	err = h.s.DeleteRegistration(h.ctx, "reg-1")
	h.wantErr("DeleteRegistration(deleted)", err, store.ErrNotFound)
	// The id can be used again.
	again := h.newReg("reg-1", "agent-b", h.now().Add(2*time.Minute))
	h.createReg(again)
	h.wantReg(again)
}
