package storetest

import (
	"net/http"
	"strings"
	"time"

	"github.com/agenthook/agenthook/store"
)

// attemptTests cover what an attempt keeps of the receiver's answer.
var attemptTests = []test{
	{"ResponseKept", testAttemptResponse},
	{"ResponseBounded", testAttemptResponseBounded},
}

func testAttemptResponse(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	h.claimDeliveries("d1", 10)
	text := store.Attempt{At: h.now(), StatusCode: 500, Latency: 1500 * time.Millisecond, Error: "HTTP 500",
		Response: strings.Repeat("é", 2000), ResponseTruncated: true,
		ResponseHeader: http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Request-Id": {"r1", "r2"}}}
	err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: store.DeliveryPending,
		NextAttemptAt: h.now(), Attempt: text})
	if err != nil {
		h.Fatalf("RecordAttempt: %v", err)
	}
	h.claimDeliveries("d1", 10)
	bin := store.Attempt{At: h.now(), StatusCode: 200, Latency: time.Second, ResponseBase64: "AAEC/w=="}
	err = h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: store.DeliveryDelivered,
		Attempt: bin, ExpiresAt: h.now().Add(time.Hour)})
	if err != nil {
		h.Fatalf("RecordAttempt: %v", err)
	}
	got := h.getDelivery(d.ID).Attempts
	if len(got) != 2 {
		h.Fatalf("%d attempts, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a.Response != text.Response || !a.ResponseTruncated || a.ResponseBase64 != "" || a.Latency != text.Latency ||
		a.ResponseHeader.Get("Content-Type") != "text/plain; charset=utf-8" || len(a.ResponseHeader["X-Request-Id"]) != 2 {
		h.Fatalf("text attempt %+v", a)
	}
	if b.ResponseBase64 != bin.ResponseBase64 || b.Response != "" || b.ResponseTruncated || b.ResponseHeader != nil || b.StatusCode != 200 {
		h.Fatalf("binary attempt %+v", b)
	}
}

func testAttemptResponseBounded(h *harness) {
	d := h.dlv("agent-a", "cb-1", "")
	n := store.MaxAttemptsKept + 3
	for i := range n {
		h.claimDeliveries("d1", 10)
		st := store.DeliveryPending
		if i == n-1 {
			st = store.DeliveryFailed
		}
		err := h.s.RecordAttempt(h.ctx, store.DeliveryOutcome{ID: d.ID, Owner: "d1", Status: st, NextAttemptAt: h.now(),
			ExpiresAt: h.now().Add(time.Hour),
			Attempt: store.Attempt{At: h.now(), StatusCode: 500, Error: "HTTP 500", Response: "answer",
				ResponseHeader: http.Header{"A": {"b"}}}})
		if err != nil {
			h.Fatalf("RecordAttempt %d: %v", i, err)
		}
	}
	g := h.getDelivery(d.ID)
	if g.AttemptCount != n || len(g.Attempts) != store.MaxAttemptsKept {
		h.Fatalf("%d attempts counted, %d kept; want %d, %d", g.AttemptCount, len(g.Attempts), n, store.MaxAttemptsKept)
	}
	for i, a := range g.Attempts {
		kept := i >= len(g.Attempts)-store.AttemptsWithResponse
		if (a.Response != "") != kept || (a.ResponseHeader != nil) != kept || a.Error == "" {
			h.Fatalf("attempt %d of %d: response %q, headers %v; only the last %d keep them", i, len(g.Attempts), a.Response, a.ResponseHeader, store.AttemptsWithResponse)
		}
	}
}
