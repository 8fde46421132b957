package endpoint

import (
	"errors"
	"net/http"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// resolveChat finds the chat to continue, or starts one.
func (e *Endpoint) resolveChat(r *http.Request, c *call) error {
	now := e.Now()
	id := ""
	if s := c.msg.Session; s != nil {
		// The caller's own session is the chat: the same session always
		// continues the same backend conversation.
		id = s.chatID(c.agent.Name, c.principal)
	} else if v := r.Header.Get(e.ContinueHeader); v != "" {
		if !handler.ValidID(v) {
			return chatNotFound()
		}
		id = v
	}
	if id != "" {
		ctx, cancel := handler.WithStoreTimeout(r.Context())
		chat, err := e.Store.GetChat(ctx, id)
		cancel()
		switch {
		case err == nil:
			if chat.Agent != c.agent.Name || chat.Principal != c.principal {
				// Indistinguishable from an unknown id on purpose.
				return chatNotFound()
			}
			c.chat = chat
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return handler.StoreError(err)
		case c.msg.Session == nil:
			return chatNotFound()
		}
	} else {
		id = handler.NewID()
	}
	c.chat = &store.Chat{
		ID:        id,
		Agent:     c.agent.Name,
		Principal: c.principal,
		CreatedAt: now,
		UpdatedAt: now,
		ExpiresAt: now.Add(e.ChatTTL),
	}
	c.newChat = true
	return nil
}

func chatNotFound() *handler.Error {
	return handler.Errorf(http.StatusNotFound, handler.CodeChatNotFound, "no such chat: it is unknown, expired, or not yours")
}
