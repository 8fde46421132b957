package handler

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewID returns 128 random bits, URL-safe (22 characters). Chat and task
// ids are capabilities: whoever holds one can poll a task when the status
// endpoint has no auth, so they must not be guessable.
//
// An id never begins with '-', so that it can be pasted as an argument of
// any command line (`caddy agenthook tasks <id>`) without reading as a
// flag: the 1 in 64 draws that would are drawn again, which costs under
// 0.03 bits of the 128.
func NewID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails on supported platforms
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

// DerivedID turns a tuple into a stable 128-bit URL-safe id, for chats
// keyed by the caller's own session (Cognigy's userId and sessionId).
func DerivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// ValidID reports whether s looks like an id we issue, so that garbage
// never reaches the store.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
