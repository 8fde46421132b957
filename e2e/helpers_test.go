// Package e2e drives a real Caddy built with agenthook, on loopback, with
// fake agent backends and callback sinks. Each test starts its own Caddy
// with its own directory (Badger's too) and its own ports, so the tests
// run in parallel, the fault suite aside (see faults_test.go). A new test
// calls t.Parallel unless it needs the machine to itself or changes the
// process's environment.
package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/internal/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.StopPostgres()
	testkit.Cleanup()
	os.Exit(code)
}

// client never follows redirects and has a timeout, so a hang fails.
var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// site is a running Caddy with one HTTP site.
type site struct {
	t     *testing.T
	caddy *testkit.Caddy
	port  int
	base  string
	// storage is the storage line of the agenthook option; default a
	// Badger directory in the Caddy's own directory.
	storage string
	// extra is appended to the Caddyfile, after the site: more sites.
	extra string
	// globalOptions go in the global options block, beside agenthook.
	globalOptions string
}

// startSite starts Caddy with globals (inside the agenthook option) and
// routes (inside the site block). {{port}}, {{admin}} and {{badger}} are
// filled in.
func startSite(t *testing.T, globals, routes string) *site {
	t.Helper()
	return startSiteOn(t, testkit.New(t), globals, routes)
}

// startSiteOn is startSite with a Caddy of the caller's.
func startSiteOn(t *testing.T, c *testkit.Caddy, globals, routes string) *site {
	t.Helper()
	s := &site{t: t, caddy: c, port: testkit.FreePort(t)}
	s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	c.Start(s.caddyfile(globals, routes), s.port)
	return s
}

func (s *site) caddyfile(globals, routes string) string {
	storage := s.storage
	if storage == "" {
		storage = "storage badger " + s.caddy.Dir + "/badger"
	}
	return fmt.Sprintf(`{
	admin %s
	storage file_system %s/certs
	%s
	agenthook {
		%s
%s
	}
}

http://127.0.0.1:%d {
%s
}
%s`, s.caddy.Admin, s.caddy.Dir, s.globalOptions, storage, globals, s.port, routes, s.extra)
}

func (s *site) reload(globals, routes string) {
	s.t.Helper()
	s.caddy.Reload(s.caddyfile(globals, routes))
}

// restart starts Caddy again on the same directory and ports.
func (s *site) restart(globals, routes string) {
	s.t.Helper()
	s.caddy.Start(s.caddyfile(globals, routes), s.port)
}

// post sends a request and returns the answer with its body read.
func (s *site) post(path string, body []byte, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	return do(s.t, http.MethodPost, s.base+path, body, header)
}

func (s *site) get(path string, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	return do(s.t, http.MethodGet, s.base+path, nil, header)
}

// do sends a request and returns the answer with its body read. A
// request that got no answer at all is sent again, up to three times in
// all, and each resend is logged: a reload makes Caddy close idle
// keep-alive connections, and a request that caught one closing never
// reached a handler (postRetrying says more). Other Go clients see the
// same; Go's own transport resends only idempotent requests.
func do(t *testing.T, method, url string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var resp *http.Response
	for try := 1; ; try++ {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err = client.Do(req)
		if err == nil {
			break
		}
		// A timeout may have reached a handler; it is not sent again.
		var ne net.Error
		if try == 3 || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		t.Logf("%s %s: %v; sending it again", method, url, err)
		time.Sleep(10 * time.Millisecond)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

// wantStatus fails unless the answer has the status and, for errors, a
// JSON {"error", "code"} body with the given code.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if code == "" {
		return
	}
	var e struct{ Error, Code string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("error body is not {error, code} JSON: %s", body)
	}
	if e.Code != code {
		t.Fatalf("error code %q, want %q (%s)", e.Code, code, e.Error)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q", ct)
	}
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return m
}
