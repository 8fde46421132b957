package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: want whsec_ and 32 bytes of standard base64", a)
	}
	if _, err := NewStandardWebhooks([]string{a}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStandardWebhooksSigner([]string{a}); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateEd25519(t *testing.T) {
	private, public, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	priv, err1 := base64.StdEncoding.DecodeString(strings.TrimPrefix(private, "whsk_"))
	pub, err2 := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, "whpk_"))
	if !strings.HasPrefix(private, "whsk_") || !strings.HasPrefix(public, "whpk_") || err1 != nil || err2 != nil {
		t.Fatalf("unexpected forms %q, %q", private, public)
	}
	if len(priv) != ed25519.PrivateKeySize || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("sizes %d, %d", len(priv), len(pub))
	}
	if !bytes.Equal(ed25519.PrivateKey(priv).Public().(ed25519.PublicKey), pub) {
		t.Fatal("public key does not belong to the private key")
	}
}

func TestNewKeyFileHMAC(t *testing.T) {
	for _, kind := range []string{"", "hmac"} {
		kf, err := NewKeyFile(kind)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(kf.KeyID, "key_") || len(kf.KeyID) < 12 || kf.Algorithm != "HMAC-SHA256" ||
			kf.Header != "x-signature" || kf.Encoding != "hex" || kf.PrivateKey != "" || kf.PublicKey != "" {
			t.Fatalf("unexpected key file %+v", kf)
		}
		if time.Since(kf.CreatedAt) > time.Minute || kf.CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at %v", kf.CreatedAt)
		}

		// secret and whsec spell the same 32 random bytes.
		fromHex, err := hex.DecodeString(kf.Secret)
		if err != nil || len(fromHex) != 32 {
			t.Fatalf("secret %q is not 64 hex digits", kf.Secret)
		}
		fromB64, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(kf.Whsec, "whsec_"))
		if err != nil || !bytes.Equal(fromHex, fromB64) {
			t.Fatal("secret and whsec are not the same key")
		}

		// A UPTIQ-style sender uses the secret string itself as the key;
		// an HMAC verifier configured with the same string accepts it.
		body := []byte(`{"documentId":"doc_1"}`)
		m := hmac.New(sha256.New, []byte(kf.Secret))
		m.Write(body)
		sig := hex.EncodeToString(m.Sum(nil))
		v, err := NewHMAC(HMACConfig{Secrets: []string{kf.Secret}, Header: kf.Header, Encoding: kf.Encoding})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(request(kf.Header, sig), body, time.Now()); err != nil {
			t.Fatalf("HMAC verifier with the file's secret: %v", err)
		}
		// The whsec form is for Standard Webhooks, both ways.
		s, err := NewStandardWebhooksSigner([]string{kf.Whsec})
		if err != nil {
			t.Fatal(err)
		}
		sw, _ := NewStandardWebhooks([]string{kf.Whsec}, 0)
		r := request()
		for k, vals := range s.Sign("msg_1", time.Now(), body) {
			r.Header[k] = vals
		}
		if _, err := sw.Verify(r, body, time.Now()); err != nil {
			t.Fatal(err)
		}

		// The JSON has exactly the promised fields.
		assertJSONKeys(t, kf, "key_id", "algorithm", "secret", "whsec", "header", "encoding", "created_at")
	}
}

func TestNewKeyFileEd25519(t *testing.T) {
	kf, err := NewKeyFile("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if kf.Algorithm != "Ed25519" || kf.Secret != "" || kf.Whsec != "" {
		t.Fatalf("unexpected key file %+v", kf)
	}
	s, err := NewStandardWebhooksSigner([]string{kf.PrivateKey})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewStandardWebhooks([]string{kf.PublicKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := request()
	now := time.Now()
	for k, vals := range s.Sign("msg_1", now, []byte("{}")) {
		r.Header[k] = vals
	}
	if _, err := v.Verify(r, []byte("{}"), now); err != nil {
		t.Fatal(err)
	}
	assertJSONKeys(t, kf, "key_id", "algorithm", "private_key", "public_key", "created_at")
}

func TestNewKeyFileUnknownKind(t *testing.T) {
	_, err := NewKeyFile("rsa")
	if err == nil || !strings.Contains(err.Error(), "hmac, ed25519") {
		t.Fatalf("err = %v, want one naming the allowed kinds", err)
	}
}

func assertJSONKeys(t *testing.T, kf KeyFile, want ...string) {
	t.Helper()
	raw, err := json.Marshal(kf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("JSON keys %v, want %v", got, want)
	}
	created, _ := m["created_at"].(string)
	if _, err := time.Parse(time.RFC3339, created); err != nil || strings.Contains(created, ".") {
		t.Fatalf("created_at %q is not whole-second RFC 3339", created)
	}
}

func TestEd25519PublicKey(t *testing.T) {
	priv, pub, err := GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Ed25519PublicKey(priv)
	if err != nil || got != pub {
		t.Fatalf("Ed25519PublicKey = %q, %v; want %q", got, err, pub)
	}
	// The 32-byte seed form gives the same key.
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(priv, "whsk_"))
	if got, err := Ed25519PublicKey("whsk_" + base64.StdEncoding.EncodeToString(raw[:32])); err != nil || got != pub {
		t.Fatalf("seed form: %q, %v", got, err)
	}
	for _, bad := range []string{"whsec_abc", "whsk_!!", "whsk_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := Ed25519PublicKey(bad); err == nil || strings.Contains(err.Error(), bad) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
