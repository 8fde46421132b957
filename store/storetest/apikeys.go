package storetest

import (
	"slices"
	"time"

	"github.com/agenthook/agenthook/store"
)

// apiKeyTests cover the minted API keys.
var apiKeyTests = []test{
	{"Lifecycle", testAPIKeyLifecycle},
	{"Duplicates", testAPIKeyDuplicates},
	{"Expiry", testAPIKeyExpiry},
	{"Invalid", testAPIKeyInvalid},
}

func (h *harness) newAPIKey(agents ...string) *store.APIKey {
	id := h.id("key")
	return &store.APIKey{ID: id, Hash: "hash-of-" + id, Name: "name of " + id, Agents: agents,
		CreatedBy: "bearer:root", CreatedAt: h.now()}
}

func (h *harness) apiKeys() []*store.APIKey {
	h.Helper()
	ks, err := h.s.ListAPIKeys(h.ctx)
	if err != nil {
		h.Fatalf("ListAPIKeys: %v", err)
	}
	return ks
}

func (h *harness) apiKeyIDs() []string {
	h.Helper()
	var out []string
	for _, k := range h.apiKeys() {
		out = append(out, k.ID)
	}
	return out
}

func testAPIKeyLifecycle(h *harness) {
	if ks := h.apiKeys(); len(ks) != 0 {
		h.Fatalf("a new store lists %d keys", len(ks))
	}
	a := h.newAPIKey("agent-a")
	a.ReadOnly = true
	a.ExpiresAt = h.now().Add(time.Hour)
	h.clock.Advance(time.Second)
	b := h.newAPIKey("agent-a", "agent-b")
	for _, k := range []*store.APIKey{b, a} { // created out of order
		if err := h.s.CreateAPIKey(h.ctx, k); err != nil {
			h.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
		}
	}
	b.Agents[0] = "changed after the call"
	ks := h.apiKeys()
	if len(ks) != 2 || ks[0].ID != a.ID || ks[1].ID != b.ID {
		h.Fatalf("ListAPIKeys = %v, want %s then %s (oldest first)", h.apiKeyIDs(), a.ID, b.ID)
	}
	got := ks[0]
	if got.Hash != a.Hash || got.Name != a.Name || !slices.Equal(got.Agents, []string{"agent-a"}) || !got.ReadOnly ||
		got.CreatedBy != a.CreatedBy || !got.CreatedAt.Equal(a.CreatedAt) || !got.ExpiresAt.Equal(a.ExpiresAt) {
		h.Fatalf("stored key %+v, want %+v", got, a)
	}
	if !slices.Equal(ks[1].Agents, []string{"agent-a", "agent-b"}) || ks[1].ReadOnly || !ks[1].ExpiresAt.IsZero() {
		h.Fatalf("stored key %+v", ks[1])
	}
	if err := h.s.DeleteAPIKey(h.ctx, a.ID); err != nil {
		h.Fatalf("DeleteAPIKey: %v", err)
	}
	h.wantIDs("keys after a delete", h.apiKeyIDs(), []string{b.ID})
	h.wantErr("DeleteAPIKey again", h.s.DeleteAPIKey(h.ctx, a.ID), store.ErrNotFound)
	h.wantErr("DeleteAPIKey(unknown)", h.s.DeleteAPIKey(h.ctx, "key-unknown"), store.ErrNotFound)
}

func testAPIKeyDuplicates(h *harness) {
	a := h.newAPIKey("agent-a")
	if err := h.s.CreateAPIKey(h.ctx, a); err != nil {
		h.Fatalf("CreateAPIKey: %v", err)
	}
	sameID := h.newAPIKey("agent-b")
	sameID.ID = a.ID
	h.wantErr("CreateAPIKey with a used id", h.s.CreateAPIKey(h.ctx, sameID), store.ErrInvalid)
	sameHash := h.newAPIKey("agent-b")
	sameHash.Hash = a.Hash
	h.wantErr("CreateAPIKey with a used hash", h.s.CreateAPIKey(h.ctx, sameHash), store.ErrInvalid)
	ks := h.apiKeys()
	if len(ks) != 1 || !slices.Equal(ks[0].Agents, []string{"agent-a"}) {
		h.Fatalf("after refused duplicates: %+v", ks)
	}
}

func testAPIKeyExpiry(h *harness) {
	soon := h.newAPIKey("agent-a")
	soon.ExpiresAt = h.now().Add(time.Minute)
	never := h.newAPIKey("agent-a")
	for _, k := range []*store.APIKey{soon, never} {
		if err := h.s.CreateAPIKey(h.ctx, k); err != nil {
			h.Fatalf("CreateAPIKey: %v", err)
		}
	}
	h.clock.Advance(time.Minute)
	h.wantIDs("keys after one expired", h.apiKeyIDs(), []string{never.ID})
	h.wantErr("DeleteAPIKey(expired)", h.s.DeleteAPIKey(h.ctx, soon.ID), store.ErrNotFound)
}

func testAPIKeyInvalid(h *harness) {
	k := h.newAPIKey("agent-a")
	k.Hash = ""
	h.wantErr("CreateAPIKey without a hash", h.s.CreateAPIKey(h.ctx, k), store.ErrInvalid)
	k = h.newAPIKey("agent-a")
	k.ID = ""
	h.wantErr("CreateAPIKey without an id", h.s.CreateAPIKey(h.ctx, k), store.ErrInvalid)
	if ks := h.apiKeys(); len(ks) != 0 {
		h.Fatalf("refused keys were stored: %+v", ks)
	}
}
