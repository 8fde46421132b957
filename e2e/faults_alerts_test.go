package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/internal/testkit"
)

// ---------------------------------------------------------------- F7

// TestFaultF7AlertDuringSinkOutage: the callbacks' receiver is down (its
// port refuses connections) until every delivery is dead-lettered. Each
// dead letter becomes a delivery.exhausted alert to the alerts callback,
// whose receiver fails too at first: the alerts are retried under the
// same webhook-id, arrive, verify with the alerts secret, match their
// schema and name dead letters the API lists. Once the receiver is back,
// recovering the dead letters the alerts named delivers every one, and no
// alert was sent about an alert.
func TestFaultF7AlertDuringSinkOutage(t *testing.T) {
	const alertSecret = "whsec_RmF1bHRGN0FsZXJ0U2VjcmV0Rm9yVGVzdHM="
	tasks := sized(6, 40)
	agent := testkit.NewAgent(t)
	port := testkit.FreePort(t)
	sinkURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	alerts := newEventSink(t)
	alerts.setAnswer(func(n int, r *http.Request, w http.ResponseWriter) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			retry_schedule 100ms 200ms 300ms
			# The breaker would hold the dead receiver back for 30s.
			breaker 1000 1s
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/ordered {
				ordered
			}
			callback %s/plain
		}
		alerts %s/alerts {
			sign standard_webhooks %s
		}
`, agent.Addr(), sinkURL, sinkURL, alerts.URL, alertSecret)
	s := startSite(t, globals, subsRoutes)
	schemas := eventSchemas(t, s)
	start := time.Now().UTC().Add(-time.Second)
	var ids []string
	for i := range tasks {
		task, _ := s.submit("/tasks", fmt.Sprintf(`{"i":%d}`, i), alice)
		ids = append(ids, task)
	}
	want := 2 * tasks
	testkit.Eventually(t, sized(30*time.Second, 120*time.Second), func() bool { return len(alerts.accepted("/alerts")) >= want },
		"%d of %d alerts arrived", len(alerts.accepted("/alerts")), want)
	time.Sleep(500 * time.Millisecond) // no alert about an alert comes after

	// Every alert: signed, of its schema, one per dead letter.
	wh, _ := standardwebhooks.NewWebhook(alertSecret)
	named := map[string]bool{}
	for _, c := range alerts.accepted("/alerts") {
		if err := wh.Verify(c.Body, c.Header); err != nil {
			t.Fatalf("alert signature: %v", err)
		}
		v := wantSchema(t, schemas, c.Body)
		if v["type"] != "delivery.exhausted" {
			t.Fatalf("unexpected alert %s", c.Body)
		}
		dl := v["delivery"].(map[string]any)
		if named[dl["id"].(string)] {
			t.Fatalf("two alerts name the dead letter %s", dl["id"])
		}
		named[dl["id"].(string)] = true
		if !strings.Contains(dl["last_error"].(string), "connect") || dl["attempt_count"] != 4.0 || !containsString(ids, dl["task_id"].(string)) {
			t.Fatalf("alert %s", c.Body)
		}
	}
	if len(named) != want {
		t.Fatalf("%d alerts for %d dead letters", len(named), want)
	}
	// The refused alerts were retried under their webhook-id.
	delivered := map[string]bool{}
	for _, c := range alerts.accepted("/alerts") {
		delivered[c.Header.Get("Webhook-Id")] = true
	}
	retried := 0
	for _, c := range alerts.requests("/alerts") {
		if id := c.Header.Get("Webhook-Id"); !delivered[id] {
			t.Fatalf("an alert refused with 503 (webhook-id %s) was never delivered", id)
		} else if c.Header.Get("X-Agenthook-Attempt") != "1" {
			retried++
		}
	}
	if retried < 3 {
		t.Fatalf("%d alert retries, want the 3 refusals retried", retried)
	}

	// The API lists the dead letters the alerts named.
	resp, b := s.get("/api/agents/support/deliveries?status=failed&limit=1000", apiAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	var failed struct{ Data []deliveryJSON }
	jsonBody(t, b, &failed)
	if len(failed.Data) != want {
		t.Fatalf("%d dead letters listed, want %d", len(failed.Data), want)
	}
	for _, d := range failed.Data {
		if !named[d.ID] {
			t.Fatalf("dead letter %s (%s) was not alerted", d.ID, d.CallbackID)
		}
	}

	// The receiver comes back; the dead letters are recovered and arrive.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	sink := testkit.NewSinkOn(t, l)
	body, _ := json.Marshal(map[string]any{"since": start.Format(time.RFC3339)})
	resp, b = s.post("/api/agents/support/deliveries/recover", body, apiAuth)
	wantStatus(t, resp, b, http.StatusAccepted, "")
	waitDelivered(t, sink, ids, []string{"/ordered", "/plain"}, sized(30*time.Second, 120*time.Second))
	if n := len(alerts.requests("/alerts")); n != want+3 {
		t.Fatalf("the alerts receiver got %d requests, want %d alerts and the 3 refusals retried", n, want)
	}
	t.Logf("RESULT: F7 %d dead letters during an outage, %d alerts delivered (3 refused then retried under one webhook-id each), all recovered after it", want, len(named))
}
