// Package history keeps a chat's past turns for stateless backends (an
// OpenAI chat-completions server wants the whole conversation with every
// request). It is pure: values in, values out, bounded in turns and bytes,
// and knows nothing of the store that keeps them.
package history

import (
	"encoding/json"
	"time"
)

// Roles of a turn. Only these two are kept: the system message is config,
// not history, and tool traffic stays inside the backend.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Turn is one message of a chat.
type Turn struct {
	Role string `json:"role"`
	// Content is JSON: usually a string, but a backend answer shaped into
	// an object is kept as it came, and request expressions decide how to
	// send it (the OpenAI preset sends non-strings as their JSON text).
	Content json.RawMessage `json:"content"`
	At      time.Time       `json:"at,omitzero"`
}

// Text makes a turn whose content is the JSON string s.
func Text(role, s string, at time.Time) Turn {
	b, _ := json.Marshal(s) // a string always marshals
	return Turn{Role: role, Content: b, At: at}
}

// turnOverhead approximates what a turn costs besides its content once
// stored as JSON ({"role":"assistant","content":,"at":"…"}), so that the
// byte bound is close to what the store holds.
const turnOverhead = 64

// Size is the bytes a turn counts against Limits.MaxBytes.
func (t Turn) Size() int { return len(t.Role) + len(t.Content) + turnOverhead }

// Valid reports whether a turn can be kept: a known role and content that
// is one JSON value.
func (t Turn) Valid() bool {
	return (t.Role == RoleUser || t.Role == RoleAssistant) && len(t.Content) > 0 && json.Valid(t.Content)
}

// Limits bound a chat's history. Zero or negative means none is kept.
type Limits struct {
	MaxTurns int
	MaxBytes int
}

// Size is the bytes turns count against Limits.MaxBytes.
func Size(turns []Turn) int {
	n := 0
	for _, t := range turns {
		n += t.Size()
	}
	return n
}

// Append adds turns at the end and trims oldest-first to lim. It never
// changes h's backing array, so a slice read from a cache stays intact.
func Append(h []Turn, lim Limits, turns ...Turn) []Turn {
	out := make([]Turn, 0, len(h)+len(turns))
	out = append(out, h...)
	out = append(out, turns...)
	return Trim(out, lim)
}

// Trim drops the oldest turns until at most lim.MaxTurns turns of at most
// lim.MaxBytes remain, and then drops assistant turns left at the front:
// a history that starts with an answer to a question it no longer holds
// confuses models and some servers refuse it. A single turn bigger than
// MaxBytes is dropped with everything before it. The result shares h's
// backing array.
func Trim(h []Turn, lim Limits) []Turn {
	if lim.MaxTurns <= 0 || lim.MaxBytes <= 0 {
		return nil
	}
	start := max(len(h)-lim.MaxTurns, 0)
	size := 0
	for i := len(h) - 1; i >= start; i-- {
		size += h[i].Size()
		if size > lim.MaxBytes {
			start = i + 1
			break
		}
	}
	for start < len(h) && h[start].Role != RoleUser {
		start++
	}
	if start == len(h) {
		return nil
	}
	return h[start:]
}

// Last returns at most the n most recent turns, trimmed like Trim, for a
// request that sends fewer turns than the store keeps.
func Last(h []Turn, n int) []Turn {
	return Trim(h, Limits{MaxTurns: n, MaxBytes: Size(h) + 1})
}
