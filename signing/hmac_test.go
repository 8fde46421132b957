package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewHMACValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HMACConfig
		mention string // the error must name this (the allowed values)
	}{
		{"no secrets", HMACConfig{}, "secret"},
		{"empty secret", HMACConfig{Secrets: []string{"Secret-A-XYZ", ""}}, "secret 1"},
		{"unknown algorithm", HMACConfig{Secrets: []string{"Secret-K-XYZ"}, Algorithm: "md5"}, "sha256, sha1, sha512"},
		{"unknown encoding", HMACConfig{Secrets: []string{"Secret-K-XYZ"}, Encoding: "base32"}, "hex, base64"},
		{"bad header name", HMACConfig{Secrets: []string{"Secret-K-XYZ"}, Header: "x signature"}, "header"},
		{"line break in prefix", HMACConfig{Secrets: []string{"Secret-K-XYZ"}, Prefix: "a\nb"}, "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHMAC(tt.cfg)
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
			assertNoLeak(t, err, tt.cfg.Secrets...)
			if _, err := NewHMACSigner(tt.cfg); err == nil {
				t.Fatal("signer accepted the same configuration")
			}
		})
	}
}

func TestNewHMACNormalisesNames(t *testing.T) {
	h, err := NewHMAC(HMACConfig{Secrets: []string{"k"}, Algorithm: "SHA512", Encoding: "Base64", Header: "X-Sig"})
	if err != nil {
		t.Fatal(err)
	}
	if h.s.size != sha512.Size || h.s.encoding != encodingBase64 || h.s.header != "X-Sig" {
		t.Fatalf("unexpected scheme %+v", h.s)
	}
}

func TestHMACVerify(t *testing.T) {
	const (
		secret  = "uptiq-private-key-0123456789abcdef"
		rotated = "uptiq-private-key-rotated"
	)
	body := []byte(`{"documentId":"doc_42","status":"EXTRACTED"}`)
	mac := func(h func() hash.Hash, key string, b []byte) []byte {
		m := hmac.New(h, []byte(key))
		m.Write(b)
		return m.Sum(nil)
	}
	hexSig := hex.EncodeToString(mac(sha256.New, secret, body))

	def := HMACConfig{Secrets: []string{secret, rotated}}
	tests := []struct {
		name   string
		cfg    HMACConfig
		header string // header name; "" means the default
		value  string // "" means the header is absent
		body   []byte // nil means body
		want   error
	}{
		{"valid", def, "", hexSig, nil, nil},
		{"uppercase hex", def, "", strings.ToUpper(hexSig), nil, nil},
		{"header name case", def, "X-SIGNATURE", hexSig, nil, nil},
		{"rotation: second secret", def, "", hex.EncodeToString(mac(sha256.New, rotated, body)), nil, nil},
		{"wrong secret", def, "", hex.EncodeToString(mac(sha256.New, "other", body)), nil, ErrInvalid},
		{"other body", def, "", hexSig, flipLastByte(body), ErrInvalid},
		{"empty body", def, "", hexSig, []byte{}, ErrInvalid},
		{"truncated", def, "", hexSig[:len(hexSig)-2], nil, ErrInvalid},
		{"odd length", def, "", hexSig[:len(hexSig)-1], nil, ErrInvalid},
		{"garbled", def, "", "zz" + hexSig[2:], nil, ErrInvalid},
		{"unexpected prefix", def, "", "sha256=" + hexSig, nil, ErrInvalid},
		{"oversized", def, "", strings.Repeat("a", maxHeaderBytes+1), nil, ErrInvalid},
		{"base64 when hex expected", def, "", base64.StdEncoding.EncodeToString(mac(sha256.New, secret, body)), nil, ErrInvalid},
		{"missing", def, "", "", nil, ErrMissing},
		{"other header", def, "X-Other", hexSig, nil, ErrMissing},

		{"custom header", HMACConfig{Secrets: []string{secret}, Header: "X-Webhook-Signature"}, "x-webhook-signature", hexSig, nil, nil},
		{"sha1", HMACConfig{Secrets: []string{secret}, Algorithm: "sha1"}, "", hex.EncodeToString(mac(sha1.New, secret, body)), nil, nil},
		{"sha512", HMACConfig{Secrets: []string{secret}, Algorithm: "sha512"}, "", hex.EncodeToString(mac(sha512.New, secret, body)), nil, nil},
		{"sha256 sig for sha512", HMACConfig{Secrets: []string{secret}, Algorithm: "sha512"}, "", hexSig, nil, ErrInvalid},

		{"base64 std", HMACConfig{Secrets: []string{secret}, Encoding: "base64"}, "", base64.StdEncoding.EncodeToString(mac(sha256.New, secret, body)), nil, nil},
		{"base64 url", HMACConfig{Secrets: []string{secret}, Encoding: "base64"}, "", base64.URLEncoding.EncodeToString(mac(sha256.New, secret, body)), nil, nil},
		{"base64 raw url", HMACConfig{Secrets: []string{secret}, Encoding: "base64"}, "", base64.RawURLEncoding.EncodeToString(mac(sha256.New, secret, body)), nil, nil},
		{"base64 garbled", HMACConfig{Secrets: []string{secret}, Encoding: "base64"}, "", "!!" + base64.StdEncoding.EncodeToString(mac(sha256.New, secret, body))[2:], nil, ErrInvalid},

		{"prefix", HMACConfig{Secrets: []string{secret}, Prefix: "sha256="}, "", "sha256=" + hexSig, nil, nil},
		{"prefix missing", HMACConfig{Secrets: []string{secret}, Prefix: "sha256="}, "", hexSig, nil, ErrInvalid},
		{"wrong prefix", HMACConfig{Secrets: []string{secret}, Prefix: "sha256="}, "", "sha1=" + hexSig, nil, ErrInvalid},
		{"prefix is case-sensitive", HMACConfig{Secrets: []string{secret}, Prefix: "sha256="}, "", "SHA256=" + hexSig, nil, ErrInvalid},
		{"prefix only", HMACConfig{Secrets: []string{secret}, Prefix: "sha256="}, "", "sha256=", nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewHMAC(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			name := tt.header
			if name == "" {
				name = DefaultHMACHeader
			}
			r := request()
			if tt.value != "" {
				r.Header.Set(name, tt.value)
			}
			b := tt.body
			if b == nil {
				b = body
			}
			res, err := v.Verify(r, b, time.Now())
			checkErr(t, err, tt.want, secret, rotated, tt.value)
			if err == nil && (res.Principal != "hmac" || res.ReplayKey != "") {
				t.Fatalf("unexpected result %+v", res)
			}
		})
	}
}

// FuzzHMACHeader feeds arbitrary x-signature values and bodies to a
// verifier with a prefix: no panic, and acceptance only of a value that,
// independently decoded, equals HMAC-SHA256(secret, body).
func FuzzHMACHeader(f *testing.F) {
	const secret = "fuzz-secret"
	v, err := NewHMAC(HMACConfig{Secrets: []string{secret}, Prefix: "sha256="})
	if err != nil {
		f.Fatal(err)
	}
	body := []byte(`{"a":1}`)
	good := "sha256=" + hmacSHA256Hex(secret, string(body))
	f.Add(good, body)
	f.Add(strings.ToUpper(good), body)
	f.Add(good[:len(good)-1], body)
	f.Add("sha256=", []byte{})
	f.Add("sha256="+strings.Repeat("0", 64), []byte("x"))
	f.Add("sha1=abc", []byte(nil))
	f.Fuzz(func(t *testing.T, value string, body []byte) {
		r := request()
		r.Header["X-Signature"] = []string{value}
		_, err := v.Verify(r, body, time.Now())
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error class: %v", err)
			}
			assertNoLeak(t, err, secret)
			if len(value) >= minLeakCheck {
				assertNoLeak(t, err, value)
			}
			return
		}
		rest, ok := strings.CutPrefix(value, "sha256=")
		if !ok {
			t.Fatalf("accepted %q without its prefix", value)
		}
		presented, err := hex.DecodeString(rest)
		if err != nil || !bytes.Equal(presented, hmacSHA256([]byte(secret), body)) {
			t.Fatalf("accepted %q, which does not verify", value)
		}
	})
}

func BenchmarkHMACVerify(b *testing.B) {
	body := bytes.Repeat([]byte(`{"k":"v"}`), 1024) // ~9 KiB
	v, err := NewHMAC(HMACConfig{Secrets: []string{"k1", "k2"}})
	if err != nil {
		b.Fatal(err)
	}
	r := request("X-Signature", hmacSHA256Hex("k2", string(body)))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r, body, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHMACPooledMACs checks that the pooled HMACs give the same answers
// used again and again, from many goroutines, with several keys: a
// reused HMAC must start from its key every time.
func TestHMACPooledMACs(t *testing.T) {
	v, err := NewHMAC(HMACConfig{Secrets: []string{"first-secret", "second-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				body := []byte(fmt.Sprintf("body %d %d", g, i))
				secret := []string{"first-secret", "second-secret", "wrong-secret"}[i%3]
				m := hmac.New(sha256.New, []byte(secret))
				m.Write(body)
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.Header.Set("X-Signature", hex.EncodeToString(m.Sum(nil)))
				res, err := v.Verify(r, body, time.Now())
				if wantOK := i%3 != 2; (err == nil) != wantOK {
					t.Errorf("secret %s, body %q: %v", secret, body, err)
					return
				}
				if err == nil && res.KeyID != v.KeyIDs()[i%3] {
					t.Errorf("secret %s: key id %s", secret, res.KeyID)
				}
			}
		})
	}
	wg.Wait()
}
