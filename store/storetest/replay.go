package storetest

import "time"

var replayTests = []test{
	{"RememberOnce", testReplayOnce},
	{"ExpiresAfterTTL", testReplayTTL},
	{"KeysIndependent", testReplayKeys},
	{"Forget", testReplayForget},
}

func (h *harness) remember(key string, ttl time.Duration) bool {
	h.Helper()
	fresh, err := h.s.Remember(h.ctx, key, ttl)
	if err != nil {
		h.Fatalf("Remember(%s): %v", key, err)
	}
	return fresh
}

func testReplayOnce(h *harness) {
	if !h.remember("msg-1", time.Hour) {
		h.Fatalf("first Remember: not fresh")
	}
	if h.remember("msg-1", time.Hour) {
		h.Fatalf("second Remember: fresh")
	}
}

func testReplayTTL(h *harness) {
	if !h.remember("msg-1", 10*time.Minute) {
		h.Fatalf("first Remember: not fresh")
	}
	h.clock.Advance(9 * time.Minute)
	if h.remember("msg-1", 10*time.Minute) {
		h.Fatalf("Remember before the TTL: fresh")
	}
	h.clock.Advance(2 * time.Minute)
	if !h.remember("msg-1", 10*time.Minute) {
		h.Fatalf("Remember after the TTL: not fresh")
	}
	if h.remember("msg-1", 10*time.Minute) {
		h.Fatalf("Remember right after renewal: fresh")
	}
}

func testReplayKeys(h *harness) {
	for _, k := range []string{"a", "b", "ab", "a/b"} {
		if !h.remember(k, time.Hour) {
			h.Fatalf("first Remember(%s): not fresh", k)
		}
	}
	for _, k := range []string{"a", "b", "ab", "a/b"} {
		if h.remember(k, time.Hour) {
			h.Fatalf("second Remember(%s): fresh", k)
		}
	}
}

func testReplayForget(h *harness) {
	h.remember("msg-1", time.Hour)
	h.remember("msg-2", time.Hour)
	if err := h.s.Forget(h.ctx, "msg-1"); err != nil {
		h.Fatalf("Forget: %v", err)
	}
	if !h.remember("msg-1", time.Hour) {
		h.Fatalf("Remember after Forget: not fresh")
	}
	if h.remember("msg-1", time.Hour) {
		h.Fatalf("second Remember after Forget: fresh")
	}
	if h.remember("msg-2", time.Hour) {
		h.Fatalf("Remember of a key that was not forgotten: fresh")
	}
	if err := h.s.Forget(h.ctx, "never-seen"); err != nil {
		h.Fatalf("Forget(unknown): %v", err)
	}
}
