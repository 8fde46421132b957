package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

// refusedSentence is the only thing the API says about a refused URL.
const refusedSentence = "the callback URL is refused: it is not a public http(s) address this server may call"

// egressGlobals is an agent with static callbacks, a delivery block, and
// the given extra delivery lines.
func egressGlobals(agentAddr, callbacks, delivery string) string {
	return fmt.Sprintf(`		delivery {
%s
		}
		agent support {
			reverse_proxy %s
			conversation_header X-Conversation-Id
			webhook_token tok-support-1
%s
		}
`, delivery, agentAddr, callbacks)
}

const egressRoutes = asyncRoutes + `
	@api path /api/agents/* /api/deliveries/* /api/tasks/*
	agenthook_api @api {
		bearer ` + apiKey + `
	}
`

// register posts a registration and returns the answer.
func (s *site) register(u string) (*http.Response, []byte) {
	s.t.Helper()
	return s.post("/api/agents/support/webhooks", []byte(fmt.Sprintf(`{"url":%q,"method":"POST"}`, u)), apiAuth)
}

func (s *site) wantRefused(u string) {
	s.t.Helper()
	resp, b := s.register(u)
	wantStatus(s.t, resp, b, http.StatusBadRequest, "bad_request")
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	if e.Error != refusedSentence {
		s.t.Fatalf("registering %s: %q, want only %q", u, e.Error, refusedSentence)
	}
}

type deliveryDetail struct {
	ID         string `json:"id"`
	CallbackID string `json:"callback_id"`
	Status     string `json:"status"`
	Attempts   []struct {
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
		Response   string `json:"response"`
	} `json:"attempts"`
}

// deliveriesOf returns the agent's deliveries to one callback, in full.
func (s *site) deliveriesOf(callback string) []deliveryDetail {
	s.t.Helper()
	resp, b := s.get("/api/agents/support/deliveries?limit=100", apiAuth)
	wantStatus(s.t, resp, b, 200, "")
	var list struct{ Data []deliveryDetail }
	if err := json.Unmarshal(b, &list); err != nil {
		s.t.Fatalf("deliveries: %s", b)
	}
	var out []deliveryDetail
	for _, d := range list.Data {
		if d.CallbackID != callback {
			continue
		}
		resp, b := s.get("/api/deliveries/"+d.ID, apiAuth)
		wantStatus(s.t, resp, b, 200, "")
		var full deliveryDetail
		if err := json.Unmarshal(b, &full); err != nil {
			s.t.Fatalf("delivery: %s", b)
		}
		out = append(out, full)
	}
	return out
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestEgressAdminNeverCalledBack replays "a callback to the admin /stop":
// with allow_networks opening all of 127.0.0.1, a registration pointing
// at Caddy's admin endpoint is refused, so is a static one when the
// config loads, and a delivery that reaches it anyway (a registration
// made before the admin endpoint moved there) is refused when it dials,
// recording no answer, and Caddy keeps running.
func TestEgressAdminNeverCalledBack(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	delivery := "\t\t\tallow_networks 127.0.0.1/32\n\t\t\tretry_schedule 1h\n"
	s := startSite(t, egressGlobals(agent.Addr(), "", delivery), egressRoutes)
	adminPort := portOf(t, s.caddy.Admin)
	for _, u := range []string{
		"http://" + s.caddy.Admin + "/stop",
		"http://localhost:" + adminPort + "/stop",
		"http://[::ffff:127.0.0.1]:" + adminPort + "/load",
		"http://127.0.0.1:" + strconv.Itoa(s.port) + "/api/webhooks/agents/tok-support-1", // this server
		"http://localhost:" + strconv.Itoa(s.port) + "/tasks",
	} {
		s.wantRefused(u)
	}

	// A static callback to the admin endpoint is a config error; the
	// running config stays.
	bad := egressGlobals(agent.Addr(), "\t\t\tcallback http://"+s.caddy.Admin+"/stop\n", delivery)
	if err := s.caddy.TryReload(s.caddyfile(bad, egressRoutes)); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
		t.Fatalf("a static callback to the admin endpoint was accepted: %v", err)
	}
	bad = egressGlobals(agent.Addr(), "\t\t\tcallback http://LOCALHOST.:"+adminPort+"/stop\n", delivery)
	if err := s.caddy.TryReload(s.caddyfile(bad, egressRoutes)); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
		t.Fatalf("a static callback to the admin endpoint by name was accepted: %v", err)
	}

	// A registration to a free port, accepted; then the admin endpoint
	// moves to that port.
	newAdmin := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	resp, b := s.register("http://" + newAdmin + "/stop")
	wantStatus(t, resp, b, http.StatusCreated, "")
	var reg struct{ ID string }
	_ = json.Unmarshal(b, &reg)
	oldAdmin := s.caddy.Admin
	s.caddy.Admin = newAdmin
	cf := s.caddyfile(egressGlobals(agent.Addr(), "", delivery), egressRoutes)
	s.caddy.Admin = oldAdmin
	s.caddy.Reload(cf)
	s.caddy.Admin = newAdmin
	adminUp := func() bool {
		resp, err := http.Get("http://" + newAdmin + "/config/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	testkit.Eventually(t, 10*time.Second, adminUp, "the admin endpoint did not move to %s", newAdmin)

	// One task: its delivery to the registration dials the admin
	// endpoint, and is refused.
	s.submit("/tasks", `{"prompt":"stop caddy"}`, alice)
	var ds []deliveryDetail
	testkit.Eventually(t, 15*time.Second, func() bool {
		ds = s.deliveriesOf(reg.ID)
		return len(ds) == 1 && len(ds[0].Attempts) > 0
	}, "no attempt of the delivery to %s", newAdmin)
	a := ds[0].Attempts[0]
	if a.Error != refusedSentence || a.StatusCode != 0 || a.Response != "" {
		t.Fatalf("attempt %+v: want only the refusal, with no status and no answer", a)
	}
	time.Sleep(200 * time.Millisecond)
	if !s.caddy.Running() || !adminUp() {
		t.Fatalf("Caddy stopped:\n%s", lastLines(s.caddy.Log(), 30))
	}
}

// TestEgressOwnServerRefused replays the callback loop: callback URLs
// that lead to this server, by its address or by a name it serves, are
// refused when registered and, for static ones, when the config loads.
func TestEgressOwnServerRefused(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	delivery := "\t\t\tallow_networks 127.0.0.1/32\n"
	s := &site{t: t, caddy: testkit.New(t), port: testkit.FreePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	// The public name this server answers to, on the same listener.
	s.extra = fmt.Sprintf("\nhttp://agents.example.test:%d {\n\trespond \"public face\"\n}\n", s.port)
	s.caddy.Start(s.caddyfile(egressGlobals(agent.Addr(), "", delivery), egressRoutes), s.port)
	for _, u := range []string{
		"http://127.0.0.1:" + strconv.Itoa(s.port) + "/api/webhooks/agents/tok-support-1",
		"https://agents.example.test/api/webhooks/agents/tok-support-1", // passes the address guard in production
		"http://AGENTS.example.test.:8080/x",
	} {
		s.wantRefused(u)
	}
	bad := egressGlobals(agent.Addr(), "\t\t\tcallback https://agents.example.test/api/webhooks/agents/tok-support-1\n", delivery)
	if err := s.caddy.TryReload(s.caddyfile(bad, egressRoutes)); err == nil || !strings.Contains(err.Error(), "a name this server serves") {
		t.Fatalf("a static callback to this server's name was accepted: %v", err)
	}
	if !s.caddy.Running() {
		t.Fatal("Caddy stopped")
	}
}

// TestEgressLoopDetected: a request carrying this installation's own
// delivery marker is a 508, as is one over the hop limit; one from
// another installation within the limit is accepted and its result goes
// on with one more hop. With the server's own endpoint deliberately
// opened as a callback, the loop runs once and stops.
func TestEgressLoopDetected(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	sink := testkit.NewSink(t)
	delivery := "\t\t\tallow_networks 127.0.0.1/32\n\t\t\t" + fastRetry + "\n"
	s := startSite(t, egressGlobals(agent.Addr(), "\t\t\tcallback "+sink.URL+"/hook\n", delivery), egressRoutes)
	s.submit("/tasks", `{"prompt":"one"}`, alice)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 1 }, "no delivery")
	first := sink.Received()[0].Header
	origin := first.Get("X-Agenthook-Origin")
	if origin == "" || first.Get("X-Agenthook-Hops") != "1" {
		t.Fatalf("delivery headers: origin %q, hops %q", origin, first.Get("X-Agenthook-Hops"))
	}
	calls := len(agent.Calls())
	for _, path := range []string{"/tasks", "/api/webhooks/agents/tok-support-1"} {
		resp, b := s.post(path, []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Origin": origin, "X-Agenthook-Hops": "1"})
		wantStatus(t, resp, b, http.StatusLoopDetected, "loop_detected")
	}
	resp, b := s.post("/tasks", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Origin": "ah_elsewhere", "X-Agenthook-Hops": "4"})
	wantStatus(t, resp, b, http.StatusLoopDetected, "loop_detected")
	resp, b = s.post("/tasks", []byte(`{}`), map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Hops": "many"})
	wantStatus(t, resp, b, http.StatusBadRequest, "bad_request")
	// Another installation's delivery, within the limit: accepted, and
	// its result carries one more hop.
	s.submit("/tasks", `{"prompt":"chained"}`, map[string]string{"Authorization": "Bearer alice-token", "X-Agenthook-Origin": "ah_elsewhere", "X-Agenthook-Hops": "2"})
	testkit.Eventually(t, 10*time.Second, func() bool { return len(sink.Received()) == 2 }, "no delivery of the chained task")
	if h := sink.Received()[1].Header.Get("X-Agenthook-Hops"); h != "3" {
		t.Fatalf("the chained task's delivery has hops %q, want 3", h)
	}
	if got := len(agent.Calls()); got != calls+1 {
		t.Fatalf("the backend saw %d calls, want %d: a refused request reached it", got, calls+1)
	}

	// The operator opens this server's own listener, naming it exactly,
	// and points a callback at its DocsGPT URL: the loop of the security
	// review. The delivery comes back marked, and is refused.
	own := fmt.Sprintf("127.0.0.1:%d", s.port)
	loop := egressGlobals(agent.Addr(), "\t\t\tcallback http://"+own+"/api/webhooks/agents/tok-support-1\n",
		"\t\t\tallow_networks "+own+"\n\t\t\t"+fastRetry+"\n")
	s.reload(loop, egressRoutes)
	calls = len(agent.Calls())
	s.submit("/tasks", `{"prompt":"loop"}`, alice)
	var ds []deliveryDetail
	testkit.Eventually(t, 10*time.Second, func() bool {
		ds = s.deliveriesOf("cfg-support-1")
		return len(ds) > 0 && ds[0].Status == "failed"
	}, "the looping delivery was not dead-lettered")
	for _, a := range ds[0].Attempts {
		if a.StatusCode != http.StatusLoopDetected {
			t.Fatalf("attempt %+v, want 508 from this server", a)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(agent.Calls()); got != calls+1 {
		t.Fatalf("%d backend calls after one task: the loop ran", got-calls)
	}
}

// TestEgressRegistrationCap replays "500 registrations, then one task
// sent 500 POSTs": registrations past max_registrations are a 409, also
// when they race.
func TestEgressRegistrationCap(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	delivery := "\t\t\tallow_networks 127.0.0.1/32\n\t\t\tmax_registrations 500\n"
	s := startSite(t, egressGlobals(agent.Addr(), "", delivery), egressRoutes)
	const tries = 520
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstID string
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				resp, b := s.register(fmt.Sprintf("http://127.0.0.1:9/hook-%d", i))
				switch resp.StatusCode {
				case http.StatusCreated:
					created.Add(1)
					mu.Lock()
					if firstID == "" {
						var r struct{ ID string }
						_ = json.Unmarshal(b, &r)
						firstID = r.ID
					}
					mu.Unlock()
				case http.StatusConflict:
					wantStatus(t, resp, b, http.StatusConflict, "too_many_webhooks")
					refused.Add(1)
				default:
					t.Errorf("registration %d: %d %s", i, resp.StatusCode, b)
				}
			}
		})
	}
	for i := range tries {
		work <- i
	}
	close(work)
	wg.Wait()
	if created.Load() != 500 || refused.Load() != tries-500 {
		t.Fatalf("%d created and %d refused, want 500 and %d", created.Load(), refused.Load(), tries-500)
	}
	resp, b := s.register("http://127.0.0.1:9/the-501st")
	wantStatus(t, resp, b, http.StatusConflict, "too_many_webhooks")
	req, _ := http.NewRequest(http.MethodDelete, s.base+"/api/agents/support/webhooks/"+firstID, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp, b = s.register("http://127.0.0.1:9/after-a-delete")
	wantStatus(t, resp, b, http.StatusCreated, "")
}

// TestEgressFanOutShare: one agent's callbacks hang until the attempt
// times out, with many deliveries waiting; another agent's result still
// goes out at once, because an agent holds at most half the workers.
func TestEgressFanOutShare(t *testing.T) {
	t.Parallel()
	agent := testkit.NewAgent(t)
	var hanging, most atomic.Int32
	stop := make(chan struct{})
	hang := testkit.NewSink(t)
	// The sink has read the body, so the server notices the client leaving.
	hang.Status = func(_ int, r *http.Request) int {
		n := hanging.Add(1)
		defer hanging.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
		return http.StatusNoContent
	}
	t.Cleanup(func() { close(stop) })
	fast := testkit.NewSink(t)
	globals := fmt.Sprintf(`		delivery {
			allow_networks 127.0.0.1/32
			workers 4
			timeout 20s
			retry_schedule 1h
		}
		agent support {
			reverse_proxy %s
			webhook_token tok-support-1
			callback %s/a
			callback %s/b
		}
		agent billing {
			reverse_proxy %s
			callback %s/billing
		}
`, agent.Addr(), hang.URL, hang.URL, agent.Addr(), fast.URL)
	s := startSite(t, globals, asyncRoutes+`
	agenthook /billing billing {
		auth bearer alice-token
		mode async
	}
`)
	for i := range 6 {
		s.submit("/tasks", fmt.Sprintf(`{"prompt":"slow %d"}`, i), alice)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return hanging.Load() >= 2 }, "the slow receiver got %d attempts", hanging.Load())
	start := time.Now()
	s.submit("/billing", `{"prompt":"fast"}`, alice)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(fast.Received()) == 1 },
		"billing's delivery waited behind support's hanging ones")
	t.Logf("billing's delivery arrived %s after its task was accepted, with %d of support's attempts hanging", time.Since(start).Round(time.Millisecond), hanging.Load())
	if m := most.Load(); m > 2 {
		t.Fatalf("support had %d attempts in flight, over its share of 2 (half of 4 workers)", m)
	}
}
