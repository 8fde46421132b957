package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/handler/endpoint"
)

// adaptAuthLine reads one `auth …` line as an endpoint's Caddyfile does
// and returns its JSON, or the error.
func adaptAuthLine(line string) (json.RawMessage, error) {
	d := caddyfile.NewTestDispenser(line)
	d.Next() // auth
	raw, _, err := unmarshalAuthLine(d)
	return raw, err
}

// mustAdaptAuthLine is adaptAuthLine for lines that must be accepted.
func mustAdaptAuthLine(t *testing.T, line string) json.RawMessage {
	t.Helper()
	raw, err := adaptAuthLine(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return raw
}

// provisionAuth loads auth lines as an endpoint (or, with status, an
// agenthook_status handler) does.
func provisionAuth(t *testing.T, status bool, raws ...json.RawMessage) (endpoint.Auth, []string, error) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return loadAuth(ctx, raws, status)
}

// wantJSON compares JSON, whatever its key order.
func wantJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	g, err := normalizeJSON(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := normalizeJSON([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if g != w {
		t.Fatalf("JSON\n%s\nwant\n%s", g, w)
	}
}

// verifyWith runs a request through an Auth and returns the identity on
// endpoint "ep", or the error.
func verifyWith(a endpoint.Auth, header http.Header, body string) (endpoint.Identity, error) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header = header
	id, err := a.Authenticate(req, []byte(body), time.Now())
	return id, err
}

// TestAuthLinesNamed: lines are named <scheme>#<n>, counted per scheme;
// the credential headers of every line are stripped.
func TestAuthLinesNamed(t *testing.T) {
	t.Parallel()
	auth, strip, err := provisionAuth(t, false,
		mustAdaptAuthLine(t, "auth hmac k1"),
		mustAdaptAuthLine(t, "auth bearer t1"),
		mustAdaptAuthLine(t, "auth hmac k2 {\n header X-Other\n}"),
		mustAdaptAuthLine(t, "auth bearer t2"),
	)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range auth.Lines {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"hmac#1", "bearer#1", "hmac#2", "bearer#2"}) {
		t.Fatalf("line names %q", names)
	}
	if !slices.Equal(strip, []string{"X-Signature", "Authorization", "X-Other"}) {
		t.Fatalf("stripped headers %q", strip)
	}
}

func TestAuthLineErrors(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		"auth":                          "auth needs a scheme: basic, bearer, github, hmac, none, standard_webhooks, stripe",
		"auth oauth2 oauth-secret-1":    "unknown auth scheme 'oauth2'",
		"auth ../hmac k":                "unknown auth scheme '../hmac'",
		"auth agenthook.auth.hmac k":    "unknown auth scheme",
		"auth hmac":                     "auth hmac needs at least one secret",
		"auth none {\n x\n}":            "auth none takes no options",
		"auth github s {\n header\n}":   "auth github takes no options",
		"auth bearer t {\n header\n}":   "auth bearer takes no options",
		"auth stripe s {\n prefix x\n}": "unrecognized auth stripe option 'prefix'",
	} {
		_, err := adaptAuthLine(line)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "oauth-secret-1") {
			t.Errorf("%q: the error quotes the secret: %v", line, err)
		}
	}

	// JSON that no Caddyfile would write.
	for raw, want := range map[string]string{
		`{"scheme": "oauth2", "secrets": ["oauth-secret-2"]}`: `unknown auth scheme "oauth2"`,
		`{"secrets": ["k"]}`: `unknown auth scheme ""`,
		`{"scheme": "hmac", "secrets": ["k"], "secretz": ["k"]}`:                 `auth hmac#1: decoding module config`,
		`{"scheme": "bearer", "secrets": ["sha256:nope"]}`:                       "auth bearer#1: bearer: token 0",
		`{"scheme": "standard_webhooks", "secrets": ["whsec_!!!!"]}`:             "auth standard_webhooks#1:",
		`{"scheme": "basic", "users": [{"username": "u", "password": "plain"}]}`: "auth basic#1: basic: user",
	} {
		_, _, err := provisionAuth(t, false, json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "oauth-secret-2") {
			t.Errorf("%s: the error quotes the secret: %v", raw, err)
		}
	}
	_, _, err := provisionAuth(t, false, json.RawMessage(`{"scheme": "none"}`), json.RawMessage(`{"scheme": "bearer", "secrets": ["t"]}`))
	if err == nil || !strings.Contains(err.Error(), "auth none cannot be combined") {
		t.Errorf("none with bearer: %v", err)
	}
}

// TestStatusRefusesBodySignatures: a status request has no body, so a
// body signature on it would be a fixed value; such schemes are refused
// when the config loads, naming the line.
func TestStatusRefusesBodySignatures(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"auth hmac k",
		"auth github s",
		"auth stripe whsec_x",
		"auth standard_webhooks whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	} {
		scheme := strings.Fields(line)[1]
		// Caddyfile.
		var s StatusHandler
		err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser("agenthook_status {\n\tauth bearer t\n\t" + line + "\n}"))
		if err == nil || !strings.Contains(err.Error(), "auth "+scheme+"#1: "+scheme+" signs the request body") || !strings.Contains(err.Error(), "Testfile:3") {
			t.Errorf("%s: %v", line, err)
		}
		// JSON.
		raw := mustAdaptAuthLine(t, line)
		_, _, err = provisionAuth(t, true, mustAdaptAuthLine(t, "auth bearer t"), raw)
		if err == nil || !strings.Contains(err.Error(), "auth "+scheme+"#1: "+scheme+" signs the request body") {
			t.Errorf("%s (JSON): %v", line, err)
		}
		// Endpoints take them.
		if _, _, err := provisionAuth(t, false, raw); err != nil {
			t.Errorf("%s on an endpoint: %v", line, err)
		}
	}
	if _, _, err := provisionAuth(t, true, mustAdaptAuthLine(t, "auth bearer t"), mustAdaptAuthLine(t, "auth basic {\n alice "+testBcrypt+"\n}")); err != nil {
		t.Errorf("bearer and basic on status: %v", err)
	}
}
