package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func hmacHexTest(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestAuthHMAC(t *testing.T) {
	t.Parallel()
	raw := mustAdaptAuthLine(t, "auth hmac k1 k2 {\n\theader X-Sig\n\talgorithm sha256\n\tencoding hex\n\tprefix sha256=\n}")
	wantJSON(t, raw, `{"scheme": "hmac", "secrets": ["k1", "k2"], "header": "X-Sig", "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="}`)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(strip) != 1 || strip[0] != "X-Sig" {
		t.Fatalf("strip %q", strip)
	}
	body := `{"event":"x"}`
	ids := map[string]bool{}
	for _, k := range []string{"k1", "k2"} {
		id, err := verifyWith(auth, http.Header{"X-Sig": {"sha256=" + hmacHexTest(k, body)}}, body)
		if err != nil || id.Line != "hmac#1" {
			t.Fatalf("%s: %+v, %v", k, id, err)
		}
		ids[id.KeyID] = true
	}
	if len(ids) != 2 {
		t.Fatal("two keys, one KeyID")
	}
	// UPTIQ's shape by default.
	def, strip, err := provisionAuth(t, false, mustAdaptAuthLine(t, "auth hmac uptiq-key"))
	if err != nil || len(strip) != 1 || strip[0] != "X-Signature" {
		t.Fatalf("default: strip %q, %v", strip, err)
	}
	if _, err := verifyWith(def, http.Header{"X-Signature": {hmacHexTest("uptiq-key", body)}}, body); err != nil {
		t.Fatal(err)
	}
	if !(&AuthHMAC{}).SignsBody() {
		t.Fatal("hmac signs the body")
	}
	for line, want := range map[string]string{
		"auth hmac {\n\theader x\n}":               "auth hmac needs at least one secret",
		"auth hmac k {\n\tcolour red\n}":           "unrecognized hmac option 'colour'",
		"auth hmac k {\n\theader \"\"\n}":          "header must not be empty",
		"auth hmac k {\n\tprefix a\n\tprefix b\n}": "prefix already specified",
	} {
		if _, err := adaptAuthLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
}
