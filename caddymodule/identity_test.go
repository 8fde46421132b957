package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/endpoint"
)

// TestEndpointNamesUnique: an endpoint's name is part of its callers'
// identities, so two different endpoints may not share one.
func TestEndpointNamesUnique(t *testing.T) {
	for name, tc := range map[string]struct {
		routes string
		want   string // "" means accepted
	}{
		"two defaults without inline paths": {`	handle /a/* {
		agenthook support {
			auth hmac key-a
		}
	}
	handle /b/* {
		agenthook support {
			auth hmac key-b
		}
	}`, "two agenthook endpoints are named \"support-sync\" (the 1st and the 2nd in the config): give one of them `name <x>`"},
		"the same explicit name": {`	agenthook /a support {
		auth none
		name shared
	}
	agenthook /b support {
		auth none
		mode async
		name shared
	}`, `two agenthook endpoints are named "shared"`},
		"inline paths tell defaults apart": {`	agenthook /a support {
		auth hmac key-a
		mode async
	}
	agenthook /b support {
		auth hmac key-b
		mode async
	}`, ""},
		"a default and a name": {`	handle /a/* {
		agenthook support {
			auth none
		}
	}
	handle /b/* {
		agenthook support {
			auth none
			name support-b
		}
	}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			env := newProvisionEnv(t)
			err := env.validate("", provisionAgent, tc.routes)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEndpointOnTwoListeners: one site with two addresses is one endpoint
// served twice (the same settings), not two endpoints with one name.
func TestEndpointOnTwoListeners(t *testing.T) {
	env := newProvisionEnv(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	storage file_system %s
	log {
		output discard
	}
	agenthook {
		storage badger %s
%s
	}
}

http://127.0.0.1:8080, http://127.0.0.1:8081 {
	handle {
		agenthook support {
			auth bearer tok
		}
	}
}
`, filepath.Join(env.dir, "certs"), env.badgerDir(), provisionAgent)
	cfg, raw := env.config(caddyfile)
	if n := strings.Count(string(raw), `"handler":"agenthook"`); n != 2 {
		t.Fatalf("the adapter wrote %d endpoints, want the same one in two servers:\n%s", n, raw)
	}
	if err := caddy.Validate(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestEndpointDefaultName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{Agent: "support"}, "support-sync"},
		{Endpoint{Agent: "support", Mode: "async"}, "support-async"},
		{Endpoint{AgentFromToken: true, Mode: "async"}, "token-async"},
	} {
		if got := tc.e.defaultName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
	// The Caddyfile adds an inline path matcher, and only that.
	for routes, want := range map[string]string{
		"agenthook /triggers/uptiq uptiq {\n\tauth none\n\tmode async\n}": `"name":"uptiq-async:/triggers/uptiq"`,
		"@m path /x\nagenthook @m uptiq {\n\tauth none\n}":                `"handler":"agenthook"}`,
		"agenthook /x uptiq {\n\tauth none\n\tname mine\n}":               `"name":"mine"`,
		"agenthook /api/webhooks/agents/* {\n\tagent_from_token\n}":       `"name":"token-sync:/api/webhooks/agents/*"`,
	} {
		out, err := adaptCaddyfile(t, "{\n\tagenthook {\n\t\tagent uptiq {\n\t\t\treverse_proxy 127.0.0.1:9\n\t\t}\n\t}\n}\n:8080 {\n"+routes+"\n}\n")
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s\nwant %s", routes, err, out, want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestIdentityPlaceholders: the hooks set Caddy placeholders on the
// request's replacer, as caddyauth does for {http.auth.user.id}.
func TestIdentityPlaceholders(t *testing.T) {
	t.Parallel()
	repl := caddy.NewReplacer()
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	h := hooks()
	h.OnIdentity(r, endpoint.Identity{Principal: "support-async:/a/hmac#1"})
	h.OnValue(r, endpoint.ValueTaskID, "task-1")
	got := repl.ReplaceAll("{http.auth.user.id} {http.agenthook.task_id}", "-")
	if got != "support-async:/a/hmac#1 task-1" {
		t.Fatalf("placeholders: %q", got)
	}
	// A request without a replacer (not served by Caddy) is left alone.
	h.OnIdentity(httptest.NewRequest(http.MethodPost, "/", nil), endpoint.Identity{Principal: "x"})
}

// TestIdentitiesKeyIDs: principals map to the KeyIDs the endpoints gave.
func TestIdentitiesKeyIDs(t *testing.T) {
	t.Parallel()
	var ids identities
	ids.add(map[string][]string{"ep/bearer#1": {"k1", "k2"}})
	if got := ids.keyIDsOf("ep/bearer#1"); len(got) != 2 {
		t.Fatalf("%q", got)
	}
	if got := ids.keyIDsOf("other/bearer#1"); got != nil {
		t.Fatalf("unknown principal: %q", got)
	}
	raw, _ := json.Marshal(Endpoint{Agent: "a"})
	if err := ids.claim("a-sync", json.RawMessage(raw)); err != nil {
		t.Fatal(err)
	}
	if err := ids.claim("a-sync", json.RawMessage(raw)); err != nil {
		t.Fatalf("the same endpoint twice: %v", err)
	}
}
