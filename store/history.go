package store

import (
	"context"
	"time"

	"github.com/agenthook/agenthook/handler/history"
)

// ChatHistories keeps chats' turns for stateless backends (see package
// handler/history). A history belongs to its chat: it is read and
// written only by the chat's agent and principal, and expires with it.
type ChatHistories interface {
	// History returns a chat's turns, oldest first (none when it has no
	// history yet). It returns ErrNotFound when the chat is unknown,
	// expired, or not the agent's and principal's.
	History(ctx context.Context, k HistoryKey) ([]history.Turn, error)
	// AppendHistory adds turns at the end of a chat's history, all at
	// once (concurrent appends never interleave their turns), and trims
	// the oldest to Limits (history.Trim). ExpiresAt is when the history
	// may go at the earliest: the chat's expiry after this turn. It
	// returns ErrNotFound as History does.
	AppendHistory(ctx context.Context, a HistoryAppend) error
}

// HistoryKey names a chat's history and who may use it.
type HistoryKey struct {
	ChatID, Agent, Principal string
}

// HistoryAppend is one AppendHistory.
type HistoryAppend struct {
	HistoryKey
	Turns     []history.Turn
	Limits    history.Limits
	ExpiresAt time.Time
}

// CheckHistoryAppend refuses an append that cannot be stored.
func CheckHistoryAppend(a HistoryAppend) error {
	if a.ChatID == "" {
		return Invalid("a history needs a chat id")
	}
	if a.ExpiresAt.IsZero() {
		return Invalid("a history needs an expiry")
	}
	for _, t := range a.Turns {
		if !t.Valid() {
			return Invalid("a turn needs the role user or assistant and JSON content")
		}
	}
	if a.Limits.MaxBytes > MaxRecordBytes/2 {
		return Invalid("a history is bounded to at most half a record")
	}
	return nil
}

// OwnsChat reports whether a live chat is the key's.
func OwnsChat(c *Chat, k HistoryKey) bool {
	return c != nil && c.ID == k.ChatID && c.Agent == k.Agent && c.Principal == k.Principal
}
