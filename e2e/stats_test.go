package e2e

// End-to-end tests of what the dashboard reads beyond the rest of the
// API: the stats and their stream, agents' upstream health and endpoints,
// and the dashboard's files.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

type statsPoint struct {
	Tasks        int      `json:"tasks"`
	Deliveries   int      `json:"deliveries"`
	LatencyP50MS *float64 `json:"latency_p50_ms"`
	QueuePending *int     `json:"queue_pending"`
}

type statsJSON struct {
	Agents []string     `json:"agents"`
	Points []statsPoint `json:"points"`
	Hour   statsPoint   `json:"hour"`
}

func TestDashboardAPI(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/hook
		}
		agent billing {
			reverse_proxy %s
			webhook_token tok-billing-1
		}
`, agent.Addr(), sink.URL, agent.Addr())
	s := startSite(t, globals, scopedAPIRoutes)
	c := newAPIClient(s)

	task, _ := c.submitToken("tok-support-1", `{"question":"hello"}`)
	c.submitToken("tok-billing-1", `{"question":"hello"}`)
	testkit.Eventually(t, 10*time.Second, func() bool {
		_, b := c.get("/api/agents/support/deliveries?status=delivered&task=" + task)
		return strings.Contains(string(b), task)
	}, "the callback of %s was not delivered", task)

	// Root key: every agent, with the queue depth.
	var st statsJSON
	resp, b := c.get("/api/stats")
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &st)
	if len(st.Points) != 60 || st.Hour.Tasks != 2 || st.Hour.Deliveries != 1 || st.Hour.LatencyP50MS == nil || st.Hour.QueuePending == nil {
		t.Fatalf("stats for the root key: %s", b)
	}
	// A key limited to support: its task only, and no queue depth.
	resp, b = c.call(http.MethodGet, "/api/stats", "", supportAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	st = statsJSON{}
	jsonBody(t, b, &st)
	if st.Hour.Tasks != 1 || st.Hour.QueuePending != nil || strings.Join(st.Agents, ",") != "support" {
		t.Fatalf("stats for the support key: %s", b)
	}

	// Agents: upstream health from reverse_proxy, and endpoints.
	var agents struct {
		Data []struct {
			ID        string `json:"id"`
			Endpoints []struct {
				Name string `json:"name"`
			} `json:"endpoints"`
			Upstreams []struct {
				Address string `json:"address"`
				Healthy bool   `json:"healthy"`
			} `json:"upstreams"`
		} `json:"data"`
	}
	resp, b = c.call(http.MethodGet, "/api/agents", "", supportAuth)
	wantStatus(t, resp, b, http.StatusOK, "")
	jsonBody(t, b, &agents)
	if len(agents.Data) != 1 || agents.Data[0].ID != "support" || len(agents.Data[0].Upstreams) != 1 ||
		agents.Data[0].Upstreams[0].Address != agent.Addr() || !agents.Data[0].Upstreams[0].Healthy ||
		len(agents.Data[0].Endpoints) != 1 || !strings.HasPrefix(agents.Data[0].Endpoints[0].Name, "token-async") {
		t.Fatalf("agents for the support key: %s", b)
	}

	// The task's detail has its request.
	resp, b = c.get("/api/tasks/" + task)
	wantStatus(t, resp, b, http.StatusOK, "")
	if !strings.Contains(string(b), `"request":{"method":"POST"`) || !strings.Contains(string(b), `"body_dropped":true`) || !strings.Contains(string(b), `"Content-Type":"application/json"`) || strings.Contains(string(b), "tok-support-1") {
		t.Fatalf("task detail: %s", b)
	}

	// The dashboard's page needs no key, and says what it may load.
	resp, b = s.get("/api/ui/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "app.js") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("dashboard: %d %s %s", resp.StatusCode, resp.Header, b)
	}

	// The stream: a first event at once; a reload ends it with a close
	// event.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/stats/stream", nil)
	req.Header.Set("Authorization", "Bearer "+supportKey)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", stream.StatusCode, stream.Header)
	}
	sc := bufio.NewScanner(stream.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			st = statsJSON{}
			if err := json.Unmarshal([]byte(line), &st); err != nil || strings.Join(st.Agents, ",") != "support" {
				t.Fatalf("stream event %s: %v", line, err)
			}
			break
		}
	}
	s.reload(globals, scopedAPIRoutes)
	closed := false
	for sc.Scan() {
		if sc.Text() == "event: close" {
			closed = true
		}
	}
	if !closed {
		t.Fatalf("the reload did not close the stream (%v)", sc.Err())
	}
	// The new config's handler streams again.
	resp, b = s.get("/api/stats", map[string]string{"Authorization": "Bearer " + apiKey})
	wantStatus(t, resp, b, http.StatusOK, "")
}
