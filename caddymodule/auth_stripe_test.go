package caddymodule

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuthStripe(t *testing.T) {
	t.Parallel()
	raw := mustAdaptAuthLine(t, "auth stripe whsec_stripe_1 {\n\ttolerance 2m\n}")
	wantJSON(t, raw, `{"scheme": "stripe", "secrets": ["whsec_stripe_1"], "tolerance": 120000000000}`)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(strip) != 1 || strip[0] != "Stripe-Signature" {
		t.Fatalf("strip %q", strip)
	}
	body := `{"id":"evt_1"}`
	sign := func(at time.Time) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		return http.Header{"Stripe-Signature": {"t=" + ts + ",v1=" + hmacHexTest("whsec_stripe_1", ts+"."+body)}}
	}
	id, err := verifyWith(auth, sign(time.Now()), body)
	if err != nil || id.Line != "stripe#1" || id.KeyID == "" {
		t.Fatalf("%+v, %v", id, err)
	}
	// The signed attempt names a message, so duplicates are recognised.
	if id.ReplayTTL == 0 {
		t.Fatal("no replay window")
	}
	if _, err := verifyWith(auth, sign(time.Now().Add(-3*time.Minute)), body); err == nil {
		t.Fatal("a signature outside the tolerance passed")
	}
	if !(&AuthStripe{}).SignsBody() {
		t.Fatal("stripe signs the body")
	}
	for line, want := range map[string]string{
		"auth stripe":                                        "auth stripe needs at least one secret",
		"auth stripe s {\n\ttolerance -1s\n}":                "is not a positive duration",
		"auth stripe s {\n\ttolerance 1s\n\ttolerance 2s\n}": "tolerance already specified",
	} {
		if _, err := adaptAuthLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
}
