package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
	"github.com/agenthook/agenthook/signing"
)

const (
	swSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stripeSecret = "whsec_stripe_test_secret_1234"
)

func agentBlock(name, addr string) string {
	return fmt.Sprintf(`		agent %s {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-%s-1 tok-%s-2
		}
`, name, addr, name, name)
}

// TestSyncAuthSchemes drives every auth scheme through a real Caddy,
// passing and failing, and checks what reaches the backend.
func TestSyncAuthSchemes(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	hash, err := signing.HashPassword("alice-pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	routes := fmt.Sprintf(`
	log
	agenthook /basic support {
		auth basic {
			alice %s
		}
	}
	agenthook /bearer support {
		auth bearer bearer-token-1 bearer-token-2
	}
	agenthook /hmac support {
		auth hmac hmac-old hmac-new
	}
	agenthook /hmac-custom support {
		auth hmac custom-secret {
			header X-Sig
			algorithm sha512
			encoding base64
			prefix sha512=
		}
	}
	agenthook /sw support {
		auth standard_webhooks %s
	}
	agenthook /github support {
		auth github gh-secret
	}
	agenthook /stripe support {
		auth stripe %s
	}
	agenthook /none support {
		auth none
	}
	agenthook /multi support {
		auth bearer multi-token
		auth hmac multi-secret
	}
	agenthook /api/webhooks/agents/* {
		agent_from_token
	}
`, hash, swSecret, stripeSecret)
	s := startSite(t, agentBlock("support", agent.Addr()), routes)
	body := []byte(`{"prompt": "hi",  "n": 1}`) // odd spacing: verified raw, not re-serialised

	// The backend must get the exact bytes and no caller credentials.
	checkForwarded := func(t *testing.T, creds ...string) {
		t.Helper()
		calls := agent.Calls()
		last := calls[len(calls)-1]
		if !bytes.Equal(last.Body, body) {
			t.Fatalf("backend got body %q, want %q", last.Body, body)
		}
		for _, h := range creds {
			if v := last.Header.Get(h); v != "" {
				t.Fatalf("backend got credential header %s: %q", h, v)
			}
		}
	}
	ok := func(t *testing.T, path string, h map[string]string, creds ...string) {
		t.Helper()
		resp, b := s.post(path, body, h)
		wantStatus(t, resp, b, 200, "")
		if resp.Header.Get("X-Chat-Id") == "" {
			t.Fatal("no X-Chat-Id")
		}
		checkForwarded(t, creds...)
	}
	deny := func(t *testing.T, path string, h map[string]string, status int, code string) *http.Response {
		t.Helper()
		n := len(agent.Calls())
		resp, b := s.post(path, body, h)
		wantStatus(t, resp, b, status, code)
		if len(agent.Calls()) != n {
			t.Fatal("a refused request reached the backend")
		}
		return resp
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

	t.Run("basic", func(t *testing.T) {
		ok(t, "/basic", map[string]string{"Authorization": basic("alice", "alice-pw")}, "Authorization")
		resp := deny(t, "/basic", map[string]string{"Authorization": basic("alice", "nope")}, 401, "unauthorized")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		deny(t, "/basic", map[string]string{"Authorization": basic("mallory", "alice-pw")}, 401, "unauthorized")
		deny(t, "/basic", map[string]string{"Authorization": "Basic !!!"}, 401, "unauthorized")
		deny(t, "/basic", nil, 401, "unauthorized")
	})
	t.Run("bearer", func(t *testing.T) {
		ok(t, "/bearer", map[string]string{"Authorization": "Bearer bearer-token-2"}, "Authorization")
		deny(t, "/bearer", map[string]string{"Authorization": "Bearer bearer-token-3"}, 401, "unauthorized")
		deny(t, "/bearer", map[string]string{"Authorization": "Bearer"}, 401, "unauthorized")
		deny(t, "/bearer", map[string]string{"Authorization": "Bearer " + signing.HashToken("bearer-token-1")}, 401, "unauthorized")
	})
	t.Run("hmac", func(t *testing.T) {
		ok(t, "/hmac", map[string]string{"X-Signature": hmacHex("hmac-old", body)}, "X-Signature")
		ok(t, "/hmac", map[string]string{"X-Signature": hmacHex("hmac-new", body)}, "X-Signature")
		deny(t, "/hmac", map[string]string{"X-Signature": hmacHex("hmac-other", body)}, 401, "unauthorized")
		deny(t, "/hmac", map[string]string{"X-Signature": hmacHex("hmac-new", body)[:20]}, 401, "unauthorized")
		deny(t, "/hmac", map[string]string{"X-Signature": "zz" + hmacHex("hmac-new", body)[2:]}, 401, "unauthorized")
		deny(t, "/hmac", map[string]string{"X-Signature": hmacHex("hmac-new", append([]byte(nil), append(body, ' ')...))}, 401, "unauthorized")
		deny(t, "/hmac", nil, 401, "unauthorized")
	})
	t.Run("hmac custom", func(t *testing.T) {
		signer, err := signing.NewHMACSigner(signing.HMACConfig{Secrets: []string{"custom-secret"}, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512="})
		if err != nil {
			t.Fatal(err)
		}
		name, value := signer.Signature(body)
		ok(t, "/hmac-custom", map[string]string{name: value}, "X-Sig")
		deny(t, "/hmac-custom", map[string]string{name: strings.TrimPrefix(value, "sha512=")}, 401, "unauthorized")
	})
	t.Run("standard webhooks", func(t *testing.T) {
		wh, err := standardwebhooks.NewWebhook(swSecret)
		if err != nil {
			t.Fatal(err)
		}
		signed := func(id string, ts time.Time) map[string]string {
			sig, err := wh.Sign(id, ts, body)
			if err != nil {
				t.Fatal(err)
			}
			return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10), "webhook-signature": "v1,bogus= " + sig}
		}
		h := signed("msg_e2e_1", time.Now())
		ok(t, "/sw", h, "Webhook-Signature")
		// A duplicate of an accepted message: the sender hears success,
		// and the backend is not called again.
		if resp := deny(t, "/sw", h, 200, ""); resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("duplicate: Idempotent-Replayed %q", resp.Header.Get("Idempotent-Replayed"))
		}
		deny(t, "/sw", signed("msg_e2e_2", time.Now().Add(-6*time.Minute)), 401, "unauthorized")
		deny(t, "/sw", signed("msg_e2e_3", time.Now().Add(6*time.Minute)), 401, "unauthorized")
		ok(t, "/sw", signed("msg_e2e_4", time.Now().Add(-4*time.Minute)), "Webhook-Signature")
		bad := signed("msg_e2e_5", time.Now())
		bad["webhook-signature"] = "v1,Zm9v"
		deny(t, "/sw", bad, 401, "unauthorized")
	})
	t.Run("github", func(t *testing.T) {
		ok(t, "/github", map[string]string{"X-Hub-Signature-256": "sha256=" + hmacHex("gh-secret", body)}, "X-Hub-Signature-256")
		deny(t, "/github", map[string]string{"X-Hub-Signature-256": hmacHex("gh-secret", body)}, 401, "unauthorized")
		deny(t, "/github", map[string]string{"X-Hub-Signature-256": "sha256=" + hmacHex("nope", body)}, 401, "unauthorized")
	})
	t.Run("stripe", func(t *testing.T) {
		header := func(ts time.Time) map[string]string {
			t := strconv.FormatInt(ts.Unix(), 10)
			sig := hmacHex(stripeSecret, []byte(t+"."+string(body)))
			return map[string]string{"Stripe-Signature": "t=" + t + ",v1=" + sig + ",v0=ignored"}
		}
		ok(t, "/stripe", header(time.Now()), "Stripe-Signature")
		deny(t, "/stripe", header(time.Now().Add(-301*time.Second)), 401, "unauthorized")
		deny(t, "/stripe", header(time.Now().Add(301*time.Second)), 401, "unauthorized")
		deny(t, "/stripe", map[string]string{"Stripe-Signature": "t=,v1="}, 401, "unauthorized")
	})
	t.Run("none", func(t *testing.T) {
		ok(t, "/none", nil)
	})
	t.Run("any of several", func(t *testing.T) {
		ok(t, "/multi", map[string]string{"Authorization": "Bearer multi-token"})
		ok(t, "/multi", map[string]string{"X-Signature": hmacHex("multi-secret", body)})
		deny(t, "/multi", map[string]string{"Authorization": "Bearer wrong"}, 401, "unauthorized")
	})
	t.Run("url token", func(t *testing.T) {
		resp, b := s.post("/api/webhooks/agents/tok-support-2", body, nil)
		wantStatus(t, resp, b, 200, "")
		last := agent.Calls()[len(agent.Calls())-1]
		if strings.Contains(last.Path, "tok-support") || last.Path != "/api/webhooks/agents/support" {
			t.Fatalf("backend path %q: the token must be replaced by the agent name", last.Path)
		}
		deny(t, "/api/webhooks/agents/tok-support-3", nil, 404, "not_found")
		deny(t, "/api/webhooks/agents/", nil, 404, "not_found")
		deny(t, "/api/webhooks/agents/"+signing.HashToken("tok-support-1"), nil, 404, "not_found")
	})
	t.Run("method", func(t *testing.T) {
		resp, b := s.get("/none", nil)
		wantStatus(t, resp, b, 405, "method_not_allowed")
		if resp.Header.Get("Allow") != "POST" {
			t.Fatalf("Allow %q", resp.Header.Get("Allow"))
		}
	})
	// No secret, token or password ever reaches the log.
	log := s.caddy.Log()
	for _, secret := range []string{"alice-pw", "bearer-token-1", "bearer-token-2", "hmac-old", "hmac-new", "custom-secret", swSecret, "gh-secret", stripeSecret, "multi-token", "tok-support-1", "tok-support-2"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
}

// TestSyncChats starts a chat, continues it three times, and checks that
// the backend's conversation id follows and that chats are private.
func TestSyncChats(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	routes := `
	agenthook /chat support {
		auth bearer alice-token
		auth bearer bob-token
	}
	agenthook /short support {
		auth bearer alice-token
		chat_ttl 1s
		continue_header X-Go-On
		chat_header X-Thread
	}
`
	s := startSite(t, agentBlock("support", agent.Addr()), routes)
	alice := map[string]string{"Authorization": "Bearer alice-token"}
	resp, b := s.post("/chat", []byte(`{"prompt":"one"}`), alice)
	wantStatus(t, resp, b, 200, "")
	chat := resp.Header.Get("x-chat-id")
	if len(chat) != 22 {
		t.Fatalf("chat id %q: want 22 URL-safe characters (128 bits)", chat)
	}
	if resp.Header.Get("X-Conversation-Id") != "" {
		t.Fatal("the backend's conversation id leaked to the caller")
	}
	conv := agent.Calls()[0]
	if conv.Header.Get("X-Conversation-Id") != "" {
		t.Fatal("first turn sent a conversation id")
	}
	for i := 2; i <= 4; i++ {
		// Header names are case-insensitive.
		h := map[string]string{"Authorization": "Bearer alice-token", "x-continue-chat-id": chat}
		resp, b := s.post("/chat", []byte(fmt.Sprintf(`{"prompt":"turn %d"}`, i)), h)
		wantStatus(t, resp, b, 200, "")
		if got := resp.Header.Get("X-Chat-Id"); got != chat {
			t.Fatalf("turn %d: chat id %q, want %q", i, got, chat)
		}
		m := decode(t, b)
		if m["turn"] != float64(i) || m["conversation_id"] != "conv-1" {
			t.Fatalf("turn %d: backend answered %v; the conversation did not continue", i, m)
		}
		if got := agent.Calls()[len(agent.Calls())-1].Header.Get("X-Conversation-Id"); got != "conv-1" {
			t.Fatalf("turn %d: backend got conversation %q", i, got)
		}
	}
	bob := map[string]string{"Authorization": "Bearer bob-token", "X-Continue-Chat-Id": chat}
	resp, b = s.post("/chat", []byte(`{}`), bob)
	wantStatus(t, resp, b, 404, "chat_not_found")
	resp, b = s.post("/chat", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": "AAAAAAAAAAAAAAAAAAAAAA"})
	wantStatus(t, resp, b, 404, "chat_not_found")
	resp, b = s.post("/chat", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": "../../etc/passwd"})
	wantStatus(t, resp, b, 404, "chat_not_found")
	// A chat belongs to the endpoint that started it: the same token on
	// another endpoint is another caller.
	resp, b = s.post("/short", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Go-On": chat})
	wantStatus(t, resp, b, 404, "chat_not_found")

	// Expiry: a chat unused past its TTL is gone.
	resp, b = s.post("/short", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token"})
	wantStatus(t, resp, b, 200, "")
	short := resp.Header.Get("X-Thread")
	if short == "" {
		t.Fatalf("configured chat header missing: %v", resp.Header)
	}
	time.Sleep(1500 * time.Millisecond)
	resp, b = s.post("/short", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Go-On": short})
	wantStatus(t, resp, b, 404, "chat_not_found")
}

// TestSyncCognigy checks Cognigy-shaped sessions.
func TestSyncCognigy(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	s := startSite(t, agentBlock("bot", agent.Addr()), `
	agenthook /cognigy bot {
		auth bearer cog-token
		format cognigy
	}
`)
	h := map[string]string{"Authorization": "Bearer cog-token"}
	for _, tc := range []struct{ body, want string }{
		{`{"sessionId":"s1","text":"hi"}`, "userId"},
		{`{"userId":"u1","text":"hi"}`, "sessionId"},
		{`{"userId":"u1","sessionId":"s1"}`, "text or data"},
		{`{"userId":"u1","sessionId":"s1","data":[1]}`, "text or data"},
		{`{"userId":1,"sessionId":"s1","text":"x"}`, "userId"},
		{`{"text":"hi"}`, "userId, sessionId"},
	} {
		resp, b := s.post("/cognigy", []byte(tc.body), h)
		wantStatus(t, resp, b, 400, "missing_fields")
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: answer %s does not name %q", tc.body, b, tc.want)
		}
	}
	resp, b := s.post("/cognigy", []byte(`not json`), h)
	wantStatus(t, resp, b, 400, "invalid_json")

	var chat string
	for i := 1; i <= 3; i++ {
		body := fmt.Sprintf(`{"userId":"user123","sessionId":"session123","text":"msg %d","data":{"k":"v"}}`, i)
		resp, b := s.post("/cognigy", []byte(body), h)
		wantStatus(t, resp, b, 200, "")
		if i == 1 {
			chat = resp.Header.Get("X-Chat-Id")
		} else if resp.Header.Get("X-Chat-Id") != chat {
			t.Fatal("the same session got another chat")
		}
		if m := decode(t, b); m["turn"] != float64(i) {
			t.Fatalf("message %d: the session did not continue the conversation: %v", i, m)
		}
	}
	resp, b = s.post("/cognigy", []byte(`{"userId":"user123","sessionId":"other","data":{"x":1}}`), h)
	wantStatus(t, resp, b, 200, "")
	if resp.Header.Get("X-Chat-Id") == chat {
		t.Fatal("another session reused the chat")
	}
	if m := decode(t, b); m["turn"] != float64(1) {
		t.Fatalf("a new session continued an old conversation: %v", m)
	}
}

// TestSyncErrors checks 413, 502 and 504.
func TestSyncErrors(t *testing.T) {
	t.Parallel()
	slow := testkit.NewAgent(t)
	slow.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(200)
	}
	down := testkit.FreePort(t) // nothing listens here
	globals := fmt.Sprintf(`		agent slow {
			reverse_proxy %s
		}
		agent down {
			reverse_proxy 127.0.0.1:%d
		}
`, slow.Addr(), down)
	s := startSite(t, globals, `
	agenthook /small slow {
		auth none
		max_body 1KB
	}
	agenthook /slow slow {
		auth none
		timeout 300ms
	}
	agenthook /down down {
		auth none
	}
`)
	resp, b := s.post("/small", bytes.Repeat([]byte("x"), 1001), nil)
	wantStatus(t, resp, b, 413, "body_too_large")
	// Without Content-Length (chunked) the limit holds as well.
	req, _ := http.NewRequest(http.MethodPost, s.base+"/small", &chunked{r: bytes.NewReader(bytes.Repeat([]byte("y"), 5000))})
	r2, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Fatalf("chunked oversize: %d", r2.StatusCode)
	}
	start := time.Now()
	resp, b = s.post("/slow", []byte(`{}`), nil)
	wantStatus(t, resp, b, 504, "backend_timeout")
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the timeout took %s", time.Since(start))
	}
	resp, b = s.post("/down", []byte(`{}`), nil)
	wantStatus(t, resp, b, 502, "backend_unavailable")
	if resp.Header.Get("X-Chat-Id") != "" {
		t.Fatal("a failed first turn handed out a chat id")
	}
	if strings.Contains(string(b), strconv.Itoa(down)) {
		t.Fatalf("the error names the backend's address: %s", b)
	}
}

type chunked struct{ r *bytes.Reader }

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestSyncStreaming checks that an SSE answer reaches the caller as the
// backend writes it, not when it ends.
func TestSyncStreaming(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	agent := testkit.NewAgent(t)
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}
	s := startSite(t, agentBlock("support", agent.Addr()), `
	agenthook /stream support {
		auth none
	}
`)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/stream", strings.NewReader(`{}`))
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Chat-Id") == "" {
		t.Fatal("no chat id on a streamed answer")
	}
	lines := bufio.NewReader(resp.Body)
	first, err := lines.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first event %q, %v", first, err)
	}
	// The first event arrived while the backend still holds the rest.
	close(release)
	rest, _ := lines.ReadString(0)
	if !strings.Contains(rest, "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

// TestSyncReload reloads the config between turns and under load; chats
// survive and no request fails.
func TestSyncReload(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	routes := `
	agenthook /chat support {
		auth bearer alice-token
	}
`
	s := startSite(t, agentBlock("support", agent.Addr()), routes)
	h := map[string]string{"Authorization": "Bearer alice-token"}
	resp, b := s.post("/chat", []byte(`{}`), h)
	wantStatus(t, resp, b, 200, "")
	chat := resp.Header.Get("X-Chat-Id")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var failures []string
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := postRetrying(s.base+"/chat", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Continue-Chat-Id": chat})
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, resp.Status)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		time.Sleep(200 * time.Millisecond)
		// Each reload really changes the config.
		s.reload(agentBlock("support", agent.Addr())+fmt.Sprintf("\t\tworkers %d\n", 4+i), routes)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during reloads, e.g. %v", len(failures), failures[0])
	}
	h["X-Continue-Chat-Id"] = chat
	resp, b = s.post("/chat", []byte(`{}`), h)
	wantStatus(t, resp, b, 200, "")
	if !strings.Contains(s.caddy.Log(), "opening badger store") || strings.Count(s.caddy.Log(), "opening badger store") != 1 {
		t.Fatal("the store was reopened by a reload; it must be shared")
	}
}

// postRetrying sends a POST, resending it up to three times when the
// connection fails before an answer. A reload makes Caddy close idle
// keep-alive connections and, on Linux, reset connections still queued on
// the old listening socket (SO_REUSEPORT): plain Caddy behaves the same,
// and such a request never reached a handler. Any HTTP answer, error or
// not, is returned as is.
func postRetrying(url string, body []byte, header map[string]string) (*http.Response, error) {
	var err error
	for try := 0; try < 3; try++ {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				resp.Body = io.NopCloser(bytes.NewReader(b))
				return resp, nil
			}
			err = rerr
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}
