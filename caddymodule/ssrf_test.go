package caddymodule

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agenthook/agenthook/handler/delivery"
)

// rules parses allow_networks entries.
func rules(t *testing.T, entries ...string) []allowRule {
	t.Helper()
	var out []allowRule
	for _, e := range entries {
		r, err := parseAllowRule(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestSSRFCheckURLRefusesInternalLiterals(t *testing.T) {
	t.Parallel()
	eg := newEgress(nil)
	defer eg.close()
	for _, host := range []string{
		"127.0.0.1", "127.1.2.3", // loopback
		"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", // private
		"169.254.0.1", "169.254.169.254", // link-local, cloud metadata
		"100.64.0.1", "100.127.255.254", // CGNAT
		"224.0.0.1", "239.255.255.250", // multicast
		"0.0.0.0", "255.255.255.255", "192.0.0.170", "198.18.0.1", "240.0.0.1",
		"[::1]", "[::]", // loopback, unspecified
		"[fe80::1]", "[fc00::1]", "[fd00:ec2::254]", // link-local, unique local, AWS metadata
		"[ff02::1]", "[ff05::c]", // multicast
		"[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:7f00:1]", // IPv4-mapped
		"[64:ff9b::7f00:1]", // NAT64 of 127.0.0.1
		"[2001:db8::1]",     // documentation
	} {
		for _, scheme := range []string{"http", "https"} {
			raw := scheme + "://" + host + ":8080/hook?token=SECRET"
			err := eg.checkURL(context.Background(), raw)
			if err == nil {
				t.Errorf("checkURL(%s) accepted an internal address", raw)
				continue
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("checkURL(%s): error %q echoes the token", raw, err)
			}
			if !errors.Is(err, delivery.ErrRefused) {
				t.Errorf("checkURL(%s): error %q is not a refusal", raw, err)
			}
			if unspecified := host == "0.0.0.0" || host == "[::]"; !unspecified && !strings.Contains(err.Error(), "allow_networks") {
				t.Errorf("checkURL(%s): error %q does not tell the operator how to allow it", raw, err)
			}
		}
	}
}

func TestSSRFCheckURLRefusesLocalhost(t *testing.T) {
	t.Parallel()
	eg := newEgress(nil)
	defer eg.close()
	for _, raw := range []string{"http://localhost/", "http://localhost:9000/x", "https://LOCALHOST/"} {
		if err := eg.checkURL(context.Background(), raw); err == nil {
			t.Errorf("checkURL(%s) accepted localhost", raw)
		}
	}
}

func TestSSRFCheckURLRefusesMalformed(t *testing.T) {
	t.Parallel()
	eg := newEgress(rules(t, "0.0.0.0/0"))
	defer eg.close()
	for _, raw := range []string{
		"ftp://93.184.216.34/x",
		"file:///etc/passwd",
		"gopher://93.184.216.34/",
		"javascript:alert(1)",
		"//93.184.216.34/x",
		"93.184.216.34/x",
		"http:///x",
		"http://",
		"https://:443/x",
		"http://user:pass@93.184.216.34/x",
		"http://user@93.184.216.34/x",
		"http://93.184.216.34:port/",
		"http://[::1/",
		"",
		" http://93.184.216.34/",
	} {
		err := eg.checkURL(context.Background(), raw)
		if err == nil {
			t.Errorf("checkURL(%q) accepted it", raw)
			continue
		}
		if strings.Contains(err.Error(), "pass") && strings.Contains(raw, "pass") {
			t.Errorf("checkURL(%q): error %q echoes the password", raw, err)
		}
	}
}

func TestSSRFCheckURLAcceptsPublicLiterals(t *testing.T) {
	t.Parallel()
	eg := newEgress(nil)
	defer eg.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a literal needs no lookup and no dial
	for _, raw := range []string{
		"http://93.184.216.34/hook",
		"https://93.184.216.34:8443/hook?x=1",
		"http://1.1.1.1",
		"https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
		"http://[2001:4860:4860::8888]:8080/",
	} {
		if err := eg.checkURL(ctx, raw); err != nil {
			t.Errorf("checkURL(%s) = %v, want nil", raw, err)
		}
	}
}

func TestSSRFAllowNetworks(t *testing.T) {
	t.Parallel()
	eg := newEgress(rules(t, "127.0.0.0/8", "10.1.0.0/16", "::1/128"))
	defer eg.close()
	for _, raw := range []string{
		"http://127.0.0.1:8080/", "http://127.9.9.9/", "http://10.1.2.3/", "http://[::1]:9000/",
		"http://[::ffff:127.0.0.1]/", "http://localhost:8080/",
	} {
		if err := eg.checkURL(context.Background(), raw); err != nil {
			t.Errorf("checkURL(%s) = %v with the network allowed", raw, err)
		}
	}
	for _, raw := range []string{"http://10.2.0.1/", "http://192.168.0.1/", "http://169.254.169.254/", "http://[fe80::1]/"} {
		if err := eg.checkURL(context.Background(), raw); err == nil {
			t.Errorf("checkURL(%s) accepted an address outside the allowed networks", raw)
		}
	}
}

// loopbackServer counts requests and redirects /redirect to /target.
func loopbackServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
			return
		}
		_, _ = io.WriteString(w, "reached "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestSSRFDialRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := loopbackServer(t)
	eg := newEgress(nil)
	defer eg.close()
	u, _ := url.Parse(srv.URL)
	for _, target := range []string{
		srv.URL + "/x?token=SECRET",
		"http://localhost:" + u.Port() + "/x", // a name that resolves inside
	} {
		resp, err := eg.client.Get(target)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s went through", target)
		}
		if !errors.Is(err, delivery.ErrRefused) {
			t.Fatalf("GET %s: %v, want a refusal", target, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the server saw %d requests", hits.Load())
	}
}

func TestSSRFDialAllowedNetwork(t *testing.T) {
	srv, hits := loopbackServer(t)
	eg := newEgress(rules(t, "127.0.0.1/32"))
	defer eg.close()
	// No proxy from the environment: it would dial past the check.
	t.Setenv("HTTP_PROXY", "http://192.0.2.1:3128")
	t.Setenv("http_proxy", "http://192.0.2.1:3128")
	resp, err := eg.client.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatalf("GET with 127.0.0.1/32 allowed: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "reached /ok" || hits.Load() != 1 {
		t.Fatalf("%d %q after %d requests", resp.StatusCode, body, hits.Load())
	}
}

func TestSSRFRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	srv, hits := loopbackServer(t)
	eg := newEgress(rules(t, "127.0.0.0/8"))
	defer eg.close()
	resp, err := eg.client.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/target" {
		t.Fatalf("answer %d (Location %q), want the 307 itself", resp.StatusCode, resp.Header.Get("Location"))
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests: the redirect was followed", hits.Load())
	}
}
