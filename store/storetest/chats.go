package storetest

import (
	"time"

	"github.com/agenthook/agenthook/store"
)

var chatTests = []test{
	{"SaveGet", testChatSaveGet},
	{"Unknown", testChatUnknown},
	{"Expires", testChatExpires},
	{"Replace", testChatReplace},
	{"ReplaceExtendsExpiry", testChatReplaceExtends},
}

func (h *harness) saveChat(c *store.Chat) {
	h.Helper()
	if err := h.s.SaveChat(h.ctx, c); err != nil {
		h.Fatalf("SaveChat(%s): %v", c.ID, err)
	}
}

func (h *harness) wantChat(want *store.Chat) {
	h.Helper()
	got, err := h.s.GetChat(h.ctx, want.ID)
	if err != nil {
		h.Fatalf("GetChat(%s): %v", want.ID, err)
	}
	if got.ID != want.ID || got.Agent != want.Agent || got.Principal != want.Principal || got.ConversationID != want.ConversationID {
		h.Fatalf("GetChat(%s) = %+v, want %+v", want.ID, got, want)
	}
	wantTime(h, "chat CreatedAt", got.CreatedAt, want.CreatedAt)
	wantTime(h, "chat ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func testChatSaveGet(h *harness) {
	c := h.newChat("agent-a")
	c.ConversationID = "conv-1"
	h.saveChat(c)
	h.wantChat(c)
	wantTime(h, "chat UpdatedAt", mustChat(h, c.ID).UpdatedAt, c.UpdatedAt)
}

func mustChat(h *harness, id string) *store.Chat {
	h.Helper()
	c, err := h.s.GetChat(h.ctx, id)
	if err != nil {
		h.Fatalf("GetChat(%s): %v", id, err)
	}
	return c
}

func testChatUnknown(h *harness) {
	_, err := h.s.GetChat(h.ctx, "no-such-chat")
	h.wantErr("GetChat(unknown)", err, store.ErrNotFound)
}

func testChatExpires(h *harness) {
	c := h.newChat("agent-a")
	c.ExpiresAt = h.now().Add(time.Hour)
	h.saveChat(c)
	h.clock.Advance(59 * time.Minute)
	h.wantChat(c)
	h.clock.Advance(2 * time.Minute)
	_, err := h.s.GetChat(h.ctx, c.ID)
	h.wantErr("GetChat(expired)", err, store.ErrNotFound)
}

func testChatReplace(h *harness) {
	c := h.newChat("agent-a")
	h.saveChat(c)
	c2 := *c
	c2.ConversationID = "conv-2"
	c2.UpdatedAt = h.now().Add(time.Minute)
	c2.ExpiresAt = h.now().Add(48 * time.Hour)
	h.saveChat(&c2)
	h.wantChat(&c2)
}

func testChatReplaceExtends(h *harness) {
	c := h.newChat("agent-a")
	c.ExpiresAt = h.now().Add(time.Hour)
	h.saveChat(c)
	c2 := *c
	c2.ExpiresAt = h.now().Add(3 * time.Hour)
	h.saveChat(&c2)
	h.clock.Advance(2 * time.Hour)
	h.wantChat(&c2)
	h.clock.Advance(2 * time.Hour)
	_, err := h.s.GetChat(h.ctx, c.ID)
	h.wantErr("GetChat(expired)", err, store.ErrNotFound)
}
