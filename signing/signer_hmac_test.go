package signing

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"
)

func TestHMACSigner(t *testing.T) {
	body := []byte(`{"event":"done"}`)
	tests := []struct {
		name       string
		cfg        HMACConfig
		wantHeader string
		wantValue  string
	}{
		{"defaults", HMACConfig{Secrets: []string{"k1", "k2"}}, "x-signature", hmacSHA256Hex("k1", string(body))},
		{"base64 and prefix", HMACConfig{Secrets: []string{"k1"}, Encoding: "base64", Prefix: "sha256=", Header: "X-Sig"},
			"X-Sig", "sha256=" + base64.StdEncoding.EncodeToString(hmacSHA256([]byte("k1"), body))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewHMACSigner(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			name, value := s.Signature(body)
			if name != tt.wantHeader || value != tt.wantValue {
				t.Fatalf("Signature = %q: %q, want %q: %q", name, value, tt.wantHeader, tt.wantValue)
			}
			// As a Signer: the same value, under the canonical name.
			var signer Signer = s
			h := signer.Sign("msg_1", time.Now(), body)
			if len(h) != 1 || h.Get(tt.wantHeader) != tt.wantValue {
				t.Fatalf("Sign = %v, want %s: %s", h, tt.wantHeader, tt.wantValue)
			}
			// Round trip through the verifier with the same configuration.
			v, _ := NewHMAC(tt.cfg)
			if _, err := v.Verify(request(name, value), body, time.Now()); err != nil {
				t.Fatal(err)
			}
		})
	}
	s, _ := NewHMACSigner(HMACConfig{Secrets: []string{"sha1-key"}, Algorithm: "sha1"})
	_, value := s.Signature(body)
	if raw, _ := hex.DecodeString(value); len(raw) != 20 {
		t.Fatalf("sha1 signature %q", value)
	}
}
