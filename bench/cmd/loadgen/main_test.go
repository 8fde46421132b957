package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers 202 and counts requests.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// With two -url values, the connections are split over both targets and
// the per-target tallies add up to the run's, and to what each server saw.
func TestSplitOverTargets(t *testing.T) {
	a, na := countingServer(t)
	b, nb := countingServer(t)
	targets, err := parseTargets([]string{a.URL + "/async", b.URL + "/async"})
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := parseOK("2xx")
	cfg := &config{
		targets: targets, method: "POST", body: parseTemplate(`{"n":{{seq}}}`), conns: 5,
		duration: 10 * time.Second, maxRequests: 400, timeout: 5 * time.Second, okStatus: ok,
	}
	res, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 400 || res.OK != 400 {
		t.Fatalf("count %d, ok %d; want 400 each", res.Count, res.OK)
	}
	if len(res.Targets) != 2 {
		t.Fatalf("targets: %+v", res.Targets)
	}
	ta, tb := res.Targets[0], res.Targets[1]
	// Connections 0, 2, 4 go to the first target, 1 and 3 to the second.
	if ta.Connections != 3 || tb.Connections != 2 {
		t.Errorf("connections %d and %d, want 3 and 2", ta.Connections, tb.Connections)
	}
	if ta.OK+tb.OK != res.OK || ta.Count+tb.Count != res.Count {
		t.Errorf("per-target tallies %+v do not add up to %d/%d", res.Targets, res.OK, res.Count)
	}
	if ta.OK != na.Load() || tb.OK != nb.Load() {
		t.Errorf("tallies %d/%d, servers saw %d/%d", ta.OK, tb.OK, na.Load(), nb.Load())
	}
	if ta.OK == 0 || tb.OK == 0 {
		t.Errorf("a target got nothing: %+v", res.Targets)
	}
	if ta.URL != a.URL+"/async" || tb.URL != b.URL+"/async" {
		t.Errorf("target URLs %q, %q", ta.URL, tb.URL)
	}
}

// One target: no per-target tally, as before.
func TestOneTarget(t *testing.T) {
	a, n := countingServer(t)
	targets, err := parseTargets([]string{a.URL})
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := parseOK("2xx")
	res, err := run(&config{targets: targets, method: "GET", conns: 2, duration: 10 * time.Second, maxRequests: 50, timeout: 5 * time.Second, okStatus: ok})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 50 || n.Load() != 50 || res.Targets != nil {
		t.Fatalf("ok %d, server saw %d, targets %+v", res.OK, n.Load(), res.Targets)
	}
}

func TestParseTargets(t *testing.T) {
	for _, bad := range [][]string{nil, {"https://127.0.0.1/"}, {"http://127.0.0.1:1/", "127.0.0.1:2"}} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	u, err := parseTargets([]string{"http://127.0.0.1/x"})
	if err != nil || u[0].Host != "127.0.0.1:80" {
		t.Errorf("default port: %v %v", u, err)
	}
}
