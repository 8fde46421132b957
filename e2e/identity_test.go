package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/signing"
)

// TestIdentityAttacks replays, through a real Caddy, what callers could do
// to each other while a caller was its auth scheme (every HMAC sender was
// "hmac") or its token (a rotation broke every chat): a caller is now the
// endpoint, the auth line and the credential.
func TestIdentityAttacks(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	hash, err := signing.HashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	accessLog := filepath.Join(t.TempDir(), "access.log")
	routes := fmt.Sprintf(`
	log {
		output file %s
		format json
	}
	log_append agent {http.agenthook.agent}
	log_append chat_id {http.agenthook.chat_id}
	log_append task_id {http.agenthook.task_id}
	header >X-Caller {http.auth.user.id}
	agenthook /a support {
		auth hmac key-a
		mode async
	}
	agenthook /b support {
		auth hmac key-b
		mode async
	}
	agenthook /ta support {
		auth bearer tok-a
		mode async
	}
	agenthook /tb support {
		auth bearer tok-b
		mode async
	}
	agenthook /users support {
		auth basic {
			alice %[2]s
			bob %[2]s
		}
		mode async
	}
	agenthook /rotate support {
		auth bearer tok-old tok-new
	}
	agenthook_status /api/task_status*
	agenthook_status /status/bearer* {
		auth bearer tok-a tok-b
	}
	agenthook_status /status/basic* {
		auth basic {
			alice %[2]s
			bob %[2]s
		}
	}
`, accessLog, hash)
	s := startSite(t, agentBlock("support", agent.Addr()), routes)
	body := []byte(`{"prompt":"hi"}`)
	signed := func(key string, extra ...string) map[string]string {
		h := map[string]string{"X-Signature": hmacHex(key, body)}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	basic := func(u string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":pw"))}
	}

	taskA, chatA := s.submit("/a", string(body), signed("key-a"))
	s.waitFinal(taskA, 10*time.Second)

	t.Run("another HMAC sender cannot continue the chat", func(t *testing.T) {
		n := len(agent.Calls())
		resp, b := s.post("/b", body, signed("key-b", "X-Continue-Chat-Id", chatA))
		wantStatus(t, resp, b, 404, "chat_not_found")
		// The owner still can, and the backend gets its conversation.
		task, chat := s.submit("/a", string(body), signed("key-a", "X-Continue-Chat-Id", chatA))
		if chat != chatA {
			t.Fatalf("continued on chat %s, want %s", chat, chatA)
		}
		s.waitFinal(task, 10*time.Second)
		calls := agent.Calls()[n:]
		if len(calls) != 1 || calls[0].Header.Get("X-Conversation-Id") == "" {
			t.Fatalf("backend calls %d; the continued task must carry A's conversation", len(calls))
		}
	})

	t.Run("another sender's Idempotency-Key does not block", func(t *testing.T) {
		taskB, _ := s.submit("/b", string(body), signed("key-b", "Idempotency-Key", "order-7"))
		resp, b := s.post("/a", body, signed("key-a", "Idempotency-Key", "order-7"))
		wantStatus(t, resp, b, 202, "")
		if got := decode(t, b)["task_id"]; got == taskB || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("A's first request with B's key: task %v (B's %s), Idempotent-Replayed %q", got, taskB, resp.Header.Get("Idempotent-Replayed"))
		}
	})

	t.Run("status shows a task to its creator's credential only", func(t *testing.T) {
		poll := func(path, task string, h map[string]string) int {
			resp, _ := s.get(path+"?task_id="+task, h)
			return resp.StatusCode
		}
		tokA, tokB := map[string]string{"Authorization": "Bearer tok-a"}, map[string]string{"Authorization": "Bearer tok-b"}
		ta, _ := s.submit("/ta", string(body), tokA)
		tb, _ := s.submit("/tb", string(body), tokB)
		for _, c := range []struct {
			name   string
			task   string
			caller map[string]string
			want   int
		}{
			{"A reads its task", ta, tokA, 200},
			{"B reads A's task", ta, tokB, 404},
			{"B reads its task", tb, tokB, 200},
			{"A reads B's task", tb, tokA, 404},
			{"no credentials", ta, nil, 401},
		} {
			if got := poll("/status/bearer", c.task, c.caller); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		}
		tu, _ := s.submit("/users", string(body), basic("alice"))
		if got := poll("/status/basic", tu, basic("alice")); got != 200 {
			t.Errorf("alice reads her task: %d", got)
		}
		if got := poll("/status/basic", tu, basic("bob")); got != 404 {
			t.Errorf("bob reads alice's task: %d, want 404", got)
		}
		// A task created with an HMAC key is shown by no bearer or basic
		// credential: they are other credentials.
		if got := poll("/status/bearer", taskA, tokA); got != 404 {
			t.Errorf("A's HMAC task through bearer status: %d, want 404", got)
		}
	})

	t.Run("rotating a bearer token keeps the chat", func(t *testing.T) {
		resp, b := s.post("/rotate", body, map[string]string{"Authorization": "Bearer tok-old"})
		wantStatus(t, resp, b, 200, "")
		chat, conv := resp.Header.Get("X-Chat-Id"), decode(t, b)["conversation_id"]
		resp, b = s.post("/rotate", body, map[string]string{"Authorization": "Bearer tok-new", "X-Continue-Chat-Id": chat})
		wantStatus(t, resp, b, 200, "")
		if m := decode(t, b); m["conversation_id"] != conv || m["turn"] != float64(2) || resp.Header.Get("X-Chat-Id") != chat {
			t.Fatalf("continued with the new token: %v; want conversation %v, turn 2", m, conv)
		}
		if got := resp.Header.Get("X-Caller"); got != "support-sync:/rotate/bearer#1" {
			t.Fatalf("X-Caller %q", got)
		}
	})

	t.Run("placeholders reach the access log", func(t *testing.T) {
		resp, b := s.post("/a", body, signed("key-a"))
		wantStatus(t, resp, b, 202, "")
		task := decode(t, b)["task_id"].(string)
		if got := resp.Header.Get("X-Caller"); got != "support-async:/a/hmac#1" {
			t.Fatalf("X-Caller %q", got)
		}
		var entry map[string]any
		testkit.Eventually(t, 5*time.Second, func() bool {
			data, _ := os.ReadFile(accessLog)
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, task) && json.Unmarshal([]byte(line), &entry) == nil {
					return true
				}
			}
			return false
		}, "no access log line with task %s", task)
		if entry["user_id"] != "support-async:/a/hmac#1" || entry["agent"] != "support" || entry["task_id"] != task || entry["chat_id"] != decode(t, b)["chat_id"] {
			t.Fatalf("access log entry: user_id %v, agent %v, task_id %v, chat_id %v", entry["user_id"], entry["agent"], entry["task_id"], entry["chat_id"])
		}
		data, _ := os.ReadFile(accessLog)
		for _, secret := range []string{"key-a", "tok-a", "tok-old", "tok-new"} {
			if strings.Contains(string(data), secret) {
				t.Fatalf("the access log holds %q", secret)
			}
		}
	})

	t.Run("status refuses body signatures", func(t *testing.T) {
		err := s.caddy.TryReload(s.caddyfile(agentBlock("support", agent.Addr()), `
	agenthook_status /status* {
		auth hmac key-a
	}
`))
		if err == nil || !strings.Contains(err.Error(), "auth hmac#1: hmac signs the request body") {
			t.Fatalf("reload: %v", err)
		}
	})
}

// TestStandardWebhooksDuplicates: a sender's retry of an accepted message
// gets the first answer and creates nothing, however late it comes
// within replay_ttl; the same id on another endpoint is another message.
func TestStandardWebhooksDuplicates(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	var fail atomic.Bool
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		if fail.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		agent.Echo(w, r, body)
	}
	// A tolerance of 1 s stands in for the usual 5 min, and replay_ttl
	// 6 s for 24 h: a retry after 3 s is the retry after 35 min that the
	// old window (twice the tolerance) had forgotten.
	routes := fmt.Sprintf(`
	agenthook /sw support {
		auth standard_webhooks %[1]s {
			tolerance 1s
		}
		mode async
		replay_ttl 6s
	}
	agenthook /sw-other support {
		auth standard_webhooks %[1]s
		mode async
	}
	agenthook /sw-sync support {
		auth standard_webhooks %[1]s
	}
	agenthook_status /api/task_status*
`, swSecret)
	s := startSite(t, agentBlock("support", agent.Addr()), routes)
	wh, err := standardwebhooks.NewWebhook(swSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"invoice.paid"}`)
	sign := func(id string) map[string]string {
		// The timestamp is whole seconds: rounded to the nearest one
		// rather than down, it is at most half a second off, which
		// leaves the 1 s tolerance room for the request's own latency.
		now := time.Now().Add(500 * time.Millisecond)
		sig, err := wh.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": sig}
	}
	callsFor := func(task string) int {
		n := 0
		for _, c := range agent.Calls() {
			if c.Header.Get("Idempotency-Key") == task {
				n++
			}
		}
		return n
	}
	duplicateOf := func(t *testing.T, path string, h map[string]string, task string) {
		t.Helper()
		resp, b := s.post(path, body, h)
		wantStatus(t, resp, b, 202, "")
		if got := decode(t, b)["task_id"]; got != task || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("duplicate: task %v, Idempotent-Replayed %q; want %s, true", got, resp.Header.Get("Idempotent-Replayed"), task)
		}
	}

	first := time.Now()
	h := sign("msg_1")
	task, _ := s.submit("/sw", string(body), h)
	duplicateOf(t, "/sw", h, task) // the same delivery, twice
	s.waitFinal(task, 10*time.Second)

	// The sender's retry, re-signed, after the signature's tolerance and
	// the old replay window have both passed.
	time.Sleep(3 * time.Second)
	duplicateOf(t, "/sw", sign("msg_1"), task)
	if n := callsFor(task); n != 1 {
		t.Fatalf("the message ran %d times, want 1", n)
	}

	// The same id on another endpoint is another message.
	other, _ := s.submit("/sw-other", string(body), sign("msg_1"))
	if other == task {
		t.Fatal("a webhook-id of one endpoint was a duplicate on another")
	}

	// After replay_ttl the id is forgotten.
	time.Sleep(time.Until(first.Add(7 * time.Second)))
	if again, _ := s.submit("/sw", string(body), sign("msg_1")); again == task {
		t.Fatal("the id was still remembered after replay_ttl")
	}

	// Sync: a duplicate is answered 200 without calling the backend.
	syncCalls := func() int {
		n := 0
		for _, c := range agent.Calls() {
			if c.Path == "/sw-sync" {
				n++
			}
		}
		return n
	}
	h = sign("msg_sync")
	resp, b := s.post("/sw-sync", body, h)
	wantStatus(t, resp, b, 200, "")
	resp, b = s.post("/sw-sync", body, h)
	wantStatus(t, resp, b, 200, "")
	if m := decode(t, b); m["status"] != "duplicate" || m["message_id"] != "msg_sync" || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("sync duplicate: %s, Idempotent-Replayed %q", b, resp.Header.Get("Idempotent-Replayed"))
	}
	if got := syncCalls(); got != 1 {
		t.Fatalf("the backend was called %d times, want 1", got)
	}
	// A message whose processing failed is forgotten: the retry runs.
	fail.Store(true)
	h = sign("msg_failed")
	resp, b = s.post("/sw-sync", body, h)
	wantStatus(t, resp, b, 502, "")
	fail.Store(false)
	resp, b = s.post("/sw-sync", body, h)
	wantStatus(t, resp, b, 200, "")
	if resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry of a failed message was taken for a duplicate: %s", b)
	}
}
