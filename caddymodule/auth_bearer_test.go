package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agenthook/agenthook/signing"
)

func TestAuthBearer(t *testing.T) {
	raw := mustAdaptAuthLine(t, "auth bearer old-token-1 new-token-2 {env.AGENTHOOK_TEST_BEARER_3}")
	// Literal tokens are hashed by the adapter; placeholders are kept.
	wantJSON(t, raw, `{"scheme": "bearer", "secrets": ["`+signing.HashToken("old-token-1")+`", "`+signing.HashToken("new-token-2")+`", "{env.AGENTHOOK_TEST_BEARER_3}"]}`)
	if strings.Contains(string(raw), "old-token-1") {
		t.Fatal("the JSON holds a token")
	}
	t.Setenv("AGENTHOOK_TEST_BEARER_3", "env-token-3")
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(strip) != 1 || strip[0] != "Authorization" {
		t.Fatalf("strip %q", strip)
	}
	// Every token of the line is the same caller, by its own credential.
	keys := map[string]bool{}
	for _, tok := range []string{"old-token-1", "new-token-2", "env-token-3"} {
		id, err := verifyWith(auth, http.Header{"Authorization": {"Bearer " + tok}}, "")
		if err != nil || id.Line != "bearer#1" || id.KeyID == "" {
			t.Fatalf("%s: %+v, %v", tok, id, err)
		}
		keys[id.KeyID] = true
	}
	if len(keys) != 3 {
		t.Fatalf("KeyIDs %v", keys)
	}
	if _, err := verifyWith(auth, http.Header{"Authorization": {"Bearer nope"}}, ""); err == nil {
		t.Fatal("a wrong token passed")
	}
	if (&AuthBearer{}).SignsBody() {
		t.Fatal("bearer signs no body")
	}
	for line, want := range map[string]string{
		"auth bearer":                "auth bearer needs at least one token",
		`auth bearer ""`:             "empty",
		"auth bearer sha256:0123abc": "64 hex digits",
	} {
		if _, err := adaptAuthLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
}
