package caddymodule

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestAuthBasic(t *testing.T) {
	raw := mustAdaptAuthLine(t, "auth basic Support {\n\ttd "+testBcrypt+"\n\tops {env.AGENTHOOK_TEST_OPS_HASH}\n}")
	wantJSON(t, raw, `{"scheme": "basic", "realm": "Support", "users": [{"username": "td", "password": "`+testBcrypt+`"}, {"username": "ops", "password": "{env.AGENTHOOK_TEST_OPS_HASH}"}]}`)
	t.Setenv("AGENTHOOK_TEST_OPS_HASH", testBcrypt)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(strip) != 1 || strip[0] != "Authorization" {
		t.Fatalf("strip %q", strip)
	}
	basic := func(u, p string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}}
	}
	// Each user is a caller of its own.
	td, err := verifyWith(auth, basic("td", "hunter2"), "")
	if err != nil || td.Line != "basic#1" || td.User != "td" {
		t.Fatalf("td: %+v, %v", td, err)
	}
	ops, err := verifyWith(auth, basic("ops", "hunter2"), "")
	if err != nil || ops.User != "ops" || ops.KeyID == td.KeyID {
		t.Fatalf("ops: %+v, %v", ops, err)
	}
	if _, err := verifyWith(auth, basic("td", "nope"), ""); err == nil {
		t.Fatal("a wrong password passed")
	}
	if (&AuthBasic{}).SignsBody() {
		t.Fatal("basic signs no body")
	}
	for line, want := range map[string]string{
		"auth basic":                     "auth basic needs at least one user",
		"auth basic R extra {\n\ta h\n}": "wrong argument count",
		"auth basic {\n\talice\n}":       "basic user alice needs a bcrypt or argon2id hash (make one with `caddy hash-password`)",
		"auth basic {\n\talice h1 h2\n}": "needs a bcrypt or argon2id hash",
		"auth basic {\n\ta h\n\ta h\n}":  "basic user a already specified",
	} {
		if _, err := adaptAuthLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
}
