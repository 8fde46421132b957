package caddymodule

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestAuthStandardWebhooks(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	raw := mustAdaptAuthLine(t, "auth standard_webhooks "+secret+" {\n\ttolerance 1m\n}")
	wantJSON(t, raw, `{"scheme": "standard_webhooks", "secrets": ["`+secret+`"], "tolerance": 60000000000}`)
	auth, strip, err := provisionAuth(t, false, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(strip, []string{"Webhook-Signature", "Svix-Signature"}) {
		t.Fatalf("strip %q", strip)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"type":"invoice.paid"}`
	now := time.Now()
	sig, err := wh.Sign("msg_1", now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Webhook-Signature": {sig}}
	id, err := verifyWith(auth, h, body)
	if err != nil || id.Line != "standard_webhooks#1" || id.KeyID == "" {
		t.Fatalf("%+v, %v", id, err)
	}
	if id.ReplayTTL < 2*time.Minute {
		t.Fatalf("replay window %v, want at least twice the tolerance", id.ReplayTTL)
	}
	if !(&AuthStandardWebhooks{}).SignsBody() {
		t.Fatal("standard_webhooks signs the body")
	}
	if _, err := adaptAuthLine("auth standard_webhooks " + secret + " {\n\theader x\n}"); err == nil || !strings.Contains(err.Error(), "unrecognized auth standard_webhooks option 'header'") {
		t.Fatalf("unknown option: %v", err)
	}
	if _, _, err := provisionAuth(t, false, mustAdaptAuthLine(t, "auth standard_webhooks whsec_c2hvcnQ=")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
