package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestStandardWebhooksSignerPublishedVector(t *testing.T) {
	s, err := NewStandardWebhooksSigner([]string{swSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Sign(swMsgID, time.Unix(swTimestamp, 0), []byte(swPayload))
	want := http.Header{
		"Webhook-Id":        {swMsgID},
		"Webhook-Timestamp": {"1614265330"},
		"Webhook-Signature": {swSignature},
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(h) != 3 {
		t.Errorf("unexpected headers %v", h)
	}
}

// TestStandardWebhooksSignerOfficialLibrary has the official library
// verify what we sign, including a rotation: with two secrets, a receiver
// configured with either one accepts the request.
func TestStandardWebhooksSignerOfficialLibrary(t *testing.T) {
	oldSecret, _ := GenerateSecret()
	newSecret, _ := GenerateSecret()
	body := []byte(`{"type":"task.succeeded","task_id":"t_1","result":{"text":"héllo"}}`)

	tests := []struct {
		name    string
		signers []string
		sigs    int
	}{
		{"one secret", []string{swSecret}, 1},
		{"rotation", []string{oldSecret, newSecret}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewStandardWebhooksSigner(tt.signers)
			if err != nil {
				t.Fatal(err)
			}
			h := s.Sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", time.Now(), body)
			if n := len(strings.Fields(h.Get("webhook-signature"))); n != tt.sigs {
				t.Fatalf("%d signatures, want %d", n, tt.sigs)
			}
			for i, secret := range tt.signers {
				if err := mustLibrary(t, secret).Verify(body, h); err != nil {
					t.Fatalf("official library with secret %d: %v", i, err)
				}
			}
			stranger, _ := GenerateSecret()
			wh, _ := standardwebhooks.NewWebhook(stranger)
			if err := wh.Verify(body, h); err == nil {
				t.Fatal("official library accepted a signature under a stranger's secret")
			}
			if err := mustLibrary(t, tt.signers[0]).Verify(append(body, ' '), h); err == nil {
				t.Fatal("official library accepted another body")
			}
		})
	}
}

func mustLibrary(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// TestStandardWebhooksSignerEd25519 checks v1a signatures with
// crypto/ed25519 directly and with our own verifier configured with the
// whpk_ key.
func TestStandardWebhooksSignerEd25519(t *testing.T) {
	whsk, whpkKey, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	whsec, _ := GenerateSecret()
	s, err := NewStandardWebhooksSigner([]string{whsec, whsk})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"a":1}`)
	h := s.Sign("msg_abc", now, body)

	entries := strings.Split(h.Get("webhook-signature"), " ")
	if len(entries) != 2 || !strings.HasPrefix(entries[0], "v1,") || !strings.HasPrefix(entries[1], "v1a,") {
		t.Fatalf("signature header %q: want v1 then v1a", h.Get("webhook-signature"))
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(whpkKey, "whpk_"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(entries[1], "v1a,"))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, []byte("msg_abc.1700000000."+string(body)), sig) {
		t.Fatal("crypto/ed25519 rejects the v1a signature")
	}

	// Our verifier, with only the public key: must accept on v1a alone.
	v, err := NewStandardWebhooks([]string{whpkKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	for k, vals := range h {
		r.Header[k] = vals
	}
	if _, err := v.Verify(r, body, now); err != nil {
		t.Fatalf("own verifier: %v", err)
	}
	if _, err := v.Verify(r, flipLastByte(body), now); err == nil {
		t.Fatal("own verifier accepted another body")
	}

	// The official library only knows v1 and must still accept the
	// mixed header through the v1 entry.
	if err := mustLibrary(t, whsec).VerifyIgnoringTimestamp(body, h); err != nil {
		t.Fatalf("official library on a mixed header: %v", err)
	}
}

func TestStandardWebhooksSignerKeyForms(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	full := ed25519.NewKeyFromSeed(seed)
	fromSeed, err := NewStandardWebhooksSigner([]string{"whsk_" + base64.StdEncoding.EncodeToString(seed)})
	if err != nil {
		t.Fatal(err)
	}
	fromFull, err := NewStandardWebhooksSigner([]string{"whsk_" + base64.StdEncoding.EncodeToString(full)})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1, 0)
	// ed25519 is deterministic: the two forms must sign identically.
	if a, b := fromSeed.SignatureHeader("m", ts, nil), fromFull.SignatureHeader("m", ts, nil); a != b {
		t.Fatalf("seed form signs %q, full form %q", a, b)
	}

	inconsistent := bytes.Clone(full)
	inconsistent[63] ^= 1
	short := make([]byte, 16)
	for name, secrets := range map[string][]string{
		"none":             nil,
		"whpk":             {whpk(full)},
		"no prefix":        {base64.StdEncoding.EncodeToString(seed)},
		"bad base64":       {"whsk_%%%"},
		"wrong size":       {"whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 48))},
		"inconsistent key": {"whsk_" + base64.StdEncoding.EncodeToString(inconsistent)},
		"short whsec":      {"whsec_" + base64.StdEncoding.EncodeToString(short)},
	} {
		_, err := NewStandardWebhooksSigner(secrets)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		assertNoLeak(t, err, base64.StdEncoding.EncodeToString(seed))
	}
}

func BenchmarkStandardWebhooksSign(b *testing.B) {
	s, err := NewStandardWebhooksSigner([]string{swSecret})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 4096)
	ts := time.Unix(swTimestamp, 0)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = s.Sign(swMsgID, ts, body)
	}
}
