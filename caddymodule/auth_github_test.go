package caddymodule

import (
	"net/http"
	"slices"
	"testing"
)

func TestAuthGitHub(t *testing.T) {
	t.Parallel()
	raw := mustAdaptAuthLine(t, "auth github gh-old gh-new")
	wantJSON(t, raw, `{"scheme": "github", "secrets": ["gh-old", "gh-new"]}`)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(strip, []string{"X-Hub-Signature-256", "X-Hub-Signature"}) {
		t.Fatalf("strip %q", strip)
	}
	body := `{"action":"opened"}`
	for _, secret := range []string{"gh-old", "gh-new"} {
		h := http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHexTest(secret, body)}}
		if id, err := verifyWith(auth, h, body); err != nil || id.Line != "github#1" {
			t.Fatalf("%s: %+v, %v", secret, id, err)
		}
	}
	if _, err := verifyWith(auth, http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHexTest("other", body)}}, body); err == nil {
		t.Fatal("a wrong signature passed")
	}
	if !(&AuthGitHub{}).SignsBody() {
		t.Fatal("github signs the body")
	}
	if _, err := adaptAuthLine("auth github"); err == nil {
		t.Fatal("auth github without a secret was accepted")
	}
}
