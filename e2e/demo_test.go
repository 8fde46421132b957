package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// demo is Caddyfile.example running in a test Caddy, on free ports in
// place of 8080, 9001, 9002 and 9003, with its own admin port.
type demo struct {
	t                                         *testing.T
	caddy                                     *testkit.Caddy
	config                                    string // the Caddyfile it runs
	sidecar, agent, receiver, example, openai int
}

// startDemo runs Caddyfile.example as the README's first command does,
// its ports and admin address moved so that tests never meet a demo
// someone runs on this machine.
func startDemo(t *testing.T) *demo {
	t.Helper()
	b, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	c := testkit.New(t)
	d := &demo{t: t, caddy: c, sidecar: testkit.FreePort(t), agent: testkit.FreePort(t), receiver: testkit.FreePort(t), example: testkit.FreePort(t), openai: testkit.FreePort(t)}
	cf := string(b)
	for from, to := range map[string]int{":8080": d.sidecar, ":9001": d.agent, ":9002": d.receiver, ":9003": d.example, ":9004": d.openai} {
		if !strings.Contains(cf, from) {
			t.Fatalf("Caddyfile.example no longer has %s", from)
		}
		cf = strings.ReplaceAll(cf, from, fmt.Sprintf(":%d", to))
	}
	global := regexp.MustCompile(`(?m)^\{\n`)
	if global.FindStringIndex(cf) == nil {
		t.Fatal("Caddyfile.example has no global options block")
	}
	cf = global.ReplaceAllLiteralString(cf, "{\n\tadmin "+c.Admin+"\n")
	d.config = cf
	c.Start(cf, d.sidecar, d.agent, d.receiver, d.openai)
	return d
}

func (d *demo) url(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
}

var demoAPI = map[string]string{"Authorization": "Bearer demo-api-key"}

// uptiq sends the README's signed UPTIQ trigger and returns the task id.
func (d *demo) uptiq(doc string) string {
	d.t.Helper()
	body := []byte(`{"event": "document.processed", "document_id": "` + doc + `"}`)
	resp, b := do(d.t, http.MethodPost, d.url(d.sidecar, "/triggers/uptiq"), body, map[string]string{"x-signature": hmacHex("uptiq-demo-key", body)})
	wantStatus(d.t, resp, b, 202, "")
	return decode(d.t, b)["task_id"].(string)
}

// received is what the demo receiver lists on GET path.
func (d *demo) received(path string) []map[string]any {
	d.t.Helper()
	resp, b := do(d.t, http.MethodGet, d.url(d.receiver, path), nil, nil)
	wantStatus(d.t, resp, b, 200, "")
	var list struct{ Received []map[string]any }
	if err := json.Unmarshal(b, &list); err != nil {
		d.t.Fatalf("GET %s on the demo receiver: %s", path, b)
	}
	return list.Received
}

// waitReceived waits until the receiver has a POST on path for task, and
// returns it.
func (d *demo) waitReceived(path, task string, timeout time.Duration) map[string]any {
	d.t.Helper()
	var got map[string]any
	testkit.Eventually(d.t, timeout, func() bool {
		for _, r := range d.received(path) {
			if body, _ := r["body"].(map[string]any); body["task_id"] == task && r["answered"] == 204.0 {
				got = r
				return true
			}
		}
		return false
	}, "no delivery of task %s on %s", task, path)
	return got
}

// TestDemoExample runs Caddyfile.example and the README's claims about it:
// a path no handler takes answers exactly what a wrong token does; `caddy
// validate` works while the demo runs; metric families are there before
// their first event; a callback registered through the API shows a valid
// signature once the receiver has its secret; and the failed-delivery
// recipe fails, then replays.
func TestDemoExample(t *testing.T) {
	d := startDemo(t)

	// A wrong token and a path that does not exist: the same answer.
	wrongResp, wrong := do(t, http.MethodPost, d.url(d.sidecar, "/api/webhooks/agents/wrong-token"), []byte(`{}`), nil)
	// (Paths under /api belong to the management API, which asks for its
	// key first.)
	for _, path := range []string{"/nothing-here", "/triggers", "/prompts/other"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			resp, b := do(t, method, d.url(d.sidecar, path), []byte(`{}`), nil)
			if resp.StatusCode != wrongResp.StatusCode || string(b) != string(wrong) ||
				resp.Header.Get("Content-Type") != wrongResp.Header.Get("Content-Type") ||
				resp.Header.Get("X-Content-Type-Options") != wrongResp.Header.Get("X-Content-Type-Options") {
				t.Errorf("%s %s: %d %s %q, but a wrong token gets %d %s %q", method, path,
					resp.StatusCode, resp.Header.Get("Content-Type"), b, wrongResp.StatusCode, wrongResp.Header.Get("Content-Type"), wrong)
			}
		}
	}
	wantStatus(t, wrongResp, wrong, 404, "not_found")

	// caddy validate of the file the demo runs, while it runs on the same
	// store; the adapter is guessed from the name, as in the README.
	path := d.caddy.WriteCaddyfile("Caddyfile.example", d.config)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := d.caddy.Command(ctx, "validate", "--config", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate --config Caddyfile.example while the demo runs: %v\n%s", err, out)
	}
	if out, err := d.caddy.Command(ctx, "reload", "--config", path).CombinedOutput(); err != nil {
		t.Fatalf("caddy reload --config Caddyfile.example: %v\n%s", err, out)
	}

	// Families with no event yet are on /metrics, at zero.
	resp, metrics := do(t, http.MethodGet, "http://"+d.caddy.Admin+"/metrics", nil, nil)
	wantStatus(t, resp, metrics, 200, "")
	for _, agent := range []string{"support"} {
		for _, family := range []string{"task_retries_total", "callbacks_disabled_total"} {
			want := fmt.Sprintf(`caddy_agenthook_%s{agent="%s"} 0`, family, agent)
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}

	// The static callback: signed with the Caddyfile's secret, valid.
	task := d.uptiq("doc-42")
	if got := d.waitReceived("/hooks/raw", task, 10*time.Second); got["signature_valid"] != true {
		t.Fatalf("the static callback's delivery: %v", got)
	}

	// A registration, whose answer the receiver is given: valid too.
	resp, reg := do(t, http.MethodPost, d.url(d.sidecar, "/api/agents/support/webhooks"),
		[]byte(fmt.Sprintf(`{"url": "http://127.0.0.1:%d/hooks/registered", "method": "POST", "status": "active"}`, d.receiver)), demoAPI)
	wantStatus(t, resp, reg, 201, "")
	resp, b := do(t, http.MethodPost, d.url(d.receiver, "/secrets"), reg, nil)
	wantStatus(t, resp, b, 200, "")
	task = d.uptiq("doc-43")
	if got := d.waitReceived("/hooks/registered", task, 10*time.Second); got["signature_valid"] != true {
		t.Fatalf("the registered callback's delivery: %v", got)
	}
	secrets := filepath.Join(d.caddy.Dir, "data", "caddy", "agenthook-demo-receiver-secrets.json")
	if _, err := os.Stat(secrets); err != nil {
		t.Errorf("the receiver's secrets are not in Caddy's data directory: %v", err)
	}

	// The failed-delivery recipe: a callback to /down fails every attempt
	// and is dead-lettered within the demo's short schedule; pointed
	// somewhere that works, it is replayed.
	resp, reg = do(t, http.MethodPost, d.url(d.sidecar, "/api/agents/support/webhooks"),
		[]byte(fmt.Sprintf(`{"url": "http://127.0.0.1:%d/down", "method": "POST"}`, d.receiver)), demoAPI)
	wantStatus(t, resp, reg, 201, "")
	down := decode(t, reg)["id"].(string)
	task = d.uptiq("doc-44")
	var failed, message string
	for deadline := time.Now().Add(30 * time.Second); failed == ""; time.Sleep(100 * time.Millisecond) {
		_, b := do(t, http.MethodGet, d.url(d.sidecar, "/api/agents/support/deliveries?status=failed"), nil, demoAPI)
		var list struct {
			Data []struct {
				ID         string `json:"id"`
				MessageID  string `json:"message_id"`
				CallbackID string `json:"callback_id"`
			}
		}
		_ = json.Unmarshal(b, &list)
		for _, dl := range list.Data {
			if dl.CallbackID == down {
				failed, message = dl.ID, dl.MessageID
			}
		}
		if failed == "" && time.Now().After(deadline) {
			_, all := do(t, http.MethodGet, d.url(d.sidecar, "/api/agents/support/deliveries"), nil, demoAPI)
			t.Fatalf("no failed delivery to /down (registration %s) within 30s; deliveries: %s; the receiver got %v", down, all, d.received("/down"))
		}
	}
	if n := len(d.received("/down")); n != 4 {
		t.Errorf("the receiver got %d attempts on /down, want 4 (the first and 3 retries)", n)
	}
	resp, b = do(t, http.MethodPatch, d.url(d.sidecar, "/api/agents/support/webhooks/"+down),
		[]byte(fmt.Sprintf(`{"url": "http://127.0.0.1:%d/hooks/repaired"}`, d.receiver)), demoAPI)
	wantStatus(t, resp, b, 200, "")
	resp, b = do(t, http.MethodPost, d.url(d.sidecar, "/api/agents/support/deliveries/recover"), []byte(`{"since": "2000-01-01T00:00:00Z"}`), demoAPI)
	wantStatus(t, resp, b, 202, "")
	// The replay is the same message: its webhook-id is the event's
	// message id, which every attempt of delivery `failed` carried.
	if got := d.waitReceived("/hooks/repaired", task, 10*time.Second); message == "" || got["webhook_id"] != message {
		t.Fatalf("the replayed delivery %s: %v, want webhook-id %q", failed, got, message)
	}
}

// TestDemoOpenAI follows the README's OpenAI example on the demo: a chat
// with the OpenAI-shaped demo server through `adapter openai`, its
// history kept, and a streamed answer.
func TestDemoOpenAI(t *testing.T) {
	d := startDemo(t)
	auth := map[string]string{"Authorization": "Bearer assistant-demo-token"}
	resp, b := do(t, http.MethodPost, d.url(d.sidecar, "/prompts/assistant"), []byte(`{"prompt": "Where is my order?"}`), auth)
	wantStatus(t, resp, b, 200, "")
	auth["X-Continue-Chat-Id"] = resp.Header.Get("X-Chat-Id")
	resp, b = do(t, http.MethodPost, d.url(d.sidecar, "/prompts/assistant"), []byte(`{"question": "And when will it ship?"}`), auth)
	wantStatus(t, resp, b, 200, "")
	var a struct {
		Answer, Model, FinishReason string
		Usage                       map[string]int
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Answer != `You said: "And when will it ship?" (message 2 of this chat; I was told: Be brief.)` ||
		a.Model != "demo-model" || a.Usage["total_tokens"] == 0 || !strings.Contains(string(b), `"finish_reason":"stop"`) {
		t.Fatalf("answer %s", b)
	}
	// The README shows this answer as it comes.
	if readme, err := os.ReadFile("../README.md"); err != nil || !strings.Contains(string(readme), "```json\n"+string(b)+"\n```") {
		t.Errorf("README.md does not show the answer as it comes:\n%s", b)
	}
	auth["Accept"] = "text/event-stream"
	resp, b = do(t, http.MethodPost, d.url(d.sidecar, "/prompts/assistant"), []byte(`{"text": "Stream it"}`), auth)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.Contains(string(b), `"object":"chat.completion.chunk"`) || !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
		t.Fatalf("stream %d %s", resp.StatusCode, b)
	}
}
