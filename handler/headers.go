package handler

import (
	"net/http"
	"strings"
)

// ReservedHeaderPrefix starts the headers agenthook itself sets towards
// backends and receivers (X-Agenthook-Task-Id, X-Agenthook-Event, ...).
const ReservedHeaderPrefix = "X-Agenthook-"

// StripReserved removes every X-Agenthook-* header a caller sent, so that
// a backend can trust the ones it sees to come from agenthook.
func StripReserved(h http.Header) {
	for name := range h {
		if len(name) >= len(ReservedHeaderPrefix) && strings.EqualFold(name[:len(ReservedHeaderPrefix)], ReservedHeaderPrefix) {
			delete(h, name)
		}
	}
}
