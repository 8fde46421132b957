package handler

import (
	"net/http"
	"testing"
)

func TestStripReserved(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X-Agenthook-Task-Id": {"forged"},
		"X-Agenthook-Event":   {"task.succeeded"},
		"x-agenthook-lower":   {"not canonical"},
		"X-Agenthook":         {"no dash: not ours"},
		"X-Agenthooks-Other":  {"kept"},
		"Content-Type":        {"application/json"},
	}
	StripReserved(h)
	if len(h) != 3 || h.Get("Content-Type") == "" || h.Get("X-Agenthook") == "" || h.Get("X-Agenthooks-Other") == "" {
		t.Fatalf("after StripReserved: %v", h)
	}
}
