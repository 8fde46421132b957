package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler/delivery"
)

func TestHostMatches(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"api.example.com", "api.example.com", true},
		{"api.example.com", "www.example.com", false},
		{"*.example.com", "api.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"api.*.example.com", "api.eu.example.com", true},
	} {
		if got := hostMatches(c.pattern, c.host); got != c.want {
			t.Errorf("hostMatches(%q, %q) = %v", c.pattern, c.host, got)
		}
	}
	for _, c := range []struct {
		pattern string
		want    bool
	}{
		{"api.example.com", true}, {"*.example.com", true}, {"intranet", true},
		{"127.0.0.1", false}, {"::1", false}, {"localhost", false}, {"app.localhost", false},
		{"*", false}, {"*.com", false}, {"*.*", false}, {"{env.HOST}", false}, {"", false},
	} {
		if got := ownName(c.pattern); got != c.want {
			t.Errorf("ownName(%q) = %v", c.pattern, got)
		}
	}
}

// provisionMu serializes caddy.ProvisionContext, which sets a
// process-wide value (certmagic.Default.Storage): parallel tests calling
// it at once are a data race.
var provisionMu sync.Mutex

// provisionedContext provisions a config from JSON (apps and admin), as
// Caddy does before starting it.
func provisionedContext(t *testing.T, cfgJSON string) caddy.Context {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		t.Fatal(err)
	}
	// Provisioning starts nothing: no listener, no admin endpoint.
	provisionMu.Lock()
	ctx, err := caddy.ProvisionContext(&cfg)
	provisionMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestBuildSelf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := provisionedContext(t, fmt.Sprintf(`{
		"admin": {"listen": "127.0.0.1:2999"},
		"storage": {"module": "file_system", "root": %q},
		"apps": {"http": {"servers": {
			"srv0": {"listen": [":8080"], "automatic_https": {"disable": true},
				"routes": [{"match": [{"host": ["api.example.com", "127.0.0.1"]}],
					"handle": [{"handler": "subroute", "routes": [
						{"match": [{"host": ["*.hooks.example.net"]}], "handle": [{"handler": "static_response"}]}]}]}]},
			"srv1": {"listen": ["127.0.0.2:9100-9101", "localhost:9200", "unix//tmp/agenthook-x.sock"], "automatic_https": {"disable": true}}
		}}}
	}`, filepath.Join(dir, "storage")))
	s := buildSelf(ctx, zap.NewNop())
	ap := netip.MustParseAddrPort
	for addr, want := range map[string]bool{
		"127.0.0.1:2999": true, "127.0.0.1:2019": false, "[::1]:2999": false,
	} {
		if got := s.isAdmin(ap(addr)); got != want {
			t.Errorf("isAdmin(%s) = %v, want %v", addr, got, want)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.5.6.7:8080": true, "[::1]:8080": true, "127.0.0.1:8081": false,
		"127.0.0.2:9100": true, "127.0.0.2:9101": true, "127.0.0.1:9100": false, "127.0.0.2:9102": false,
		"127.0.0.1:9200": true, "93.184.216.34:8080": false,
	} {
		if got := s.isListener(ap(addr)); got != want {
			t.Errorf("isListener(%s) = %v, want %v", addr, got, want)
		}
	}
	for host, want := range map[string]bool{
		"api.example.com": true, "API.Example.com.": true, "x.hooks.example.net": true,
		"hooks.example.net": false, "example.com": false, "127.0.0.1": false, "localhost": false,
	} {
		if got := s.servesName(host); got != want {
			t.Errorf("servesName(%s) = %v, want %v", host, got, want)
		}
	}
}

func TestAdminListens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	storage := fmt.Sprintf(`"storage": {"module": "file_system", "root": %q}`, filepath.Join(dir, "storage"))
	for _, c := range []struct {
		admin string
		want  []string
	}{
		{``, []string{caddy.DefaultAdminListen}},
		{`"admin": {"listen": "127.0.0.1:3019"},`, []string{"127.0.0.1:3019"}},
		{`"admin": {"disabled": true},`, nil},
		{`"admin": {"listen": ":2020", "remote": {"listen": ":2021"}},`, []string{":2020", ":2021"}},
	} {
		ctx := provisionedContext(t, `{`+c.admin+storage+`}`)
		if got := adminListens(ctx); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("admin %s: adminListens = %v, want %v", c.admin, got, c.want)
		}
	}
	// A context without a config (never the case in Caddy) falls back
	// to the default.
	if got := adminListens(caddy.Context{}); len(got) != 1 || got[0] != caddy.DefaultAdminListen {
		t.Errorf("adminListens(no config) = %v", got)
	}
}

// selfEgress is an egress with a self set: the admin endpoint on
// 127.0.0.1:2019, a wildcard listener on :8080, and the name
// api.example.com.
func selfEgress(t *testing.T, allow ...string) *egress {
	t.Helper()
	eg := newEgress(rules(t, allow...))
	t.Cleanup(eg.close)
	eg.setSelf(&selfSet{
		admin:     []portRule{{addr: netip.MustParseAddr("127.0.0.1"), lo: 2019, hi: 2019}, {addr: netip.MustParseAddr("::1"), lo: 2019, hi: 2019}},
		listeners: []portRule{{lo: 8080, hi: 8080}, {lo: 9002, hi: 9002}},
		local:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.0.2.10/32")},
		names:     []string{"api.example.com"},
	})
	eg.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "admin.internal.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "public.example.org":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		return nil, errors.New("no such host")
	}
	return eg
}

func TestSSRFSelfAlwaysRefused(t *testing.T) {
	t.Parallel()
	// Even with all of loopback (and everything else) open.
	eg := selfEgress(t, "127.0.0.0/8", "::1", "192.0.2.0/24", "0.0.0.0/0")
	for _, raw := range []string{
		"http://127.0.0.1:2019/stop",           // the admin endpoint
		"http://[::1]:2019/load",               // the admin endpoint, IPv6
		"http://[::ffff:127.0.0.1]:2019/stop",  // IPv4-mapped
		"http://admin.internal.test:2019/stop", // a name that resolves to it
		"http://127.0.0.1:8080/prompts/x",      // a wildcard listener, on loopback
		"http://127.3.2.1:8080/",               // any loopback address
		"http://192.0.2.10:8080/",              // an interface's own address
		"http://0.0.0.0:9999/",                 // "this host"
		"http://api.example.com/prompts",       // a name the config serves
		"https://API.example.com./x",           // however it is spelt
	} {
		err := eg.checkURL(context.Background(), raw)
		if !errors.Is(err, delivery.ErrRefused) {
			t.Errorf("checkURL(%s) = %v, want a refusal", raw, err)
		}
	}
	for _, raw := range []string{
		"http://127.0.0.1:9003/hook", "http://192.0.2.10:9003/hook", "http://public.example.org/hook",
	} {
		if err := eg.checkURL(context.Background(), raw); err != nil {
			t.Errorf("checkURL(%s) = %v, want it allowed", raw, err)
		}
	}
}

func TestSSRFExactEntryOpensOwnListener(t *testing.T) {
	t.Parallel()
	eg := selfEgress(t, "127.0.0.1:9002", "127.0.0.1:2019", "127.0.0.0/8:8000-8999")
	if err := eg.checkURL(context.Background(), "http://127.0.0.1:9002/hooks"); err != nil {
		t.Errorf("an entry naming exactly 127.0.0.1:9002 does not open it: %v", err)
	}
	for _, raw := range []string{
		"http://127.0.0.1:2019/stop",  // never, even named exactly
		"http://[::1]:9002/hooks",     // not the address named
		"http://127.0.0.1:8080/",      // a range does not open a listener
		"http://127.0.0.1:9003/hooks", // not opened at all
	} {
		if err := eg.checkURL(context.Background(), raw); !errors.Is(err, delivery.ErrRefused) {
			t.Errorf("checkURL(%s) = %v, want a refusal", raw, err)
		}
	}
	if err := eg.checkURL(context.Background(), "http://127.0.0.1:8500/"); err != nil {
		t.Errorf("a port in an opened range: %v", err)
	}
}

// TestSSRFDialRefusesSelf: at dial time, after DNS, the admin endpoint,
// a listener and a served name are refused, nothing reaches them, and the
// error reads as a refusal without the address.
func TestSSRFDialRefusesSelf(t *testing.T) {
	t.Parallel()
	srv, hits := loopbackServer(t)
	u, _ := url.Parse(srv.URL)
	port := netip.MustParseAddrPort(u.Host).Port()
	eg := newEgress(rules(t, "127.0.0.0/8"))
	defer eg.close()
	eg.setSelf(&selfSet{
		admin: []portRule{{addr: netip.MustParseAddr("127.0.0.1"), lo: port, hi: port}},
		local: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		names: []string{"api.example.com"},
	})
	for _, target := range []string{
		srv.URL + "/stop",
		fmt.Sprintf("http://localhost:%d/stop", port),
		"http://api.example.com/x",
	} {
		resp, err := eg.client.Post(target, "application/json", strings.NewReader("{}"))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("POST %s went through: %d %s", target, resp.StatusCode, b)
		}
		if !errors.Is(err, delivery.ErrRefused) {
			t.Fatalf("POST %s: %v, want a refusal", target, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the admin stand-in saw %d requests", hits.Load())
	}
	// Another port of the same address is not the admin endpoint.
	eg.setSelf(&selfSet{admin: []portRule{{addr: netip.MustParseAddr("127.0.0.1"), lo: port + 1, hi: port + 1}}})
	resp, err := eg.client.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
