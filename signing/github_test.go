package signing

import (
	"strings"
	"testing"
	"time"
)

// The example from GitHub's "Validating webhook deliveries" documentation.
const (
	githubDocSecret    = "It's a Secret to Everybody"
	githubDocPayload   = "Hello, World!"
	githubDocSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestGitHubVerify(t *testing.T) {
	const rotated = "new secret, to everybody too"
	g, err := NewGitHub([]string{githubDocSecret, rotated})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(githubDocPayload)
	hexDoc := strings.TrimPrefix(githubDocSignature, "sha256=")
	tests := []struct {
		name   string
		header string // "" means X-Hub-Signature-256
		value  string // "" means absent
		body   []byte
		want   error
	}{
		{"published vector", "", githubDocSignature, body, nil},
		{"uppercase hex", "", "sha256=" + strings.ToUpper(hexDoc), body, nil},
		{"rotation: second secret", "", "sha256=" + hmacSHA256Hex(rotated, githubDocPayload), body, nil},
		{"wrong secret", "", "sha256=" + hmacSHA256Hex("It's a secret to everybody", githubDocPayload), body, ErrInvalid},
		{"other body", "", githubDocSignature, flipLastByte(body), ErrInvalid},
		{"truncated", "", githubDocSignature[:len(githubDocSignature)-4], body, ErrInvalid},
		{"garbled", "", "sha256=" + strings.Repeat("x", 64), body, ErrInvalid},
		{"no prefix", "", hexDoc, body, ErrInvalid},
		{"wrong prefix", "", "sha1=" + hexDoc, body, ErrInvalid},
		{"uppercase prefix", "", "SHA256=" + hexDoc, body, ErrInvalid},
		{"missing", "", "", body, ErrMissing},
		{"legacy sha1 header only", "X-Hub-Signature", "sha1=0000000000000000000000000000000000000000", body, ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.header
			if name == "" {
				name = "X-Hub-Signature-256"
			}
			r := request()
			if tt.value != "" {
				r.Header.Set(name, tt.value)
			}
			res, err := g.Verify(r, tt.body, time.Now())
			checkErr(t, err, tt.want, githubDocSecret, rotated, hexDoc)
			if err == nil && (res.Principal != "github" || res.ReplayKey != "") {
				t.Fatalf("unexpected result %+v", res)
			}
		})
	}
}

func TestNewGitHubValidation(t *testing.T) {
	for _, secrets := range [][]string{nil, {}, {"a", ""}} {
		if _, err := NewGitHub(secrets); err == nil {
			t.Errorf("NewGitHub(%q) succeeded", secrets)
		}
	}
}

// TestGitHubSignerRoundTrip signs the GitHub way with HMACSigner.
func TestGitHubSignerRoundTrip(t *testing.T) {
	s, err := NewHMACSigner(HMACConfig{Secrets: []string{githubDocSecret}, Header: "X-Hub-Signature-256", Prefix: "sha256="})
	if err != nil {
		t.Fatal(err)
	}
	name, value := s.Signature([]byte(githubDocPayload))
	if name != "X-Hub-Signature-256" || value != githubDocSignature {
		t.Fatalf("Sign = %q: %q, want the published signature", name, value)
	}
}

func BenchmarkGitHubVerify(b *testing.B) {
	g, err := NewGitHub([]string{githubDocSecret})
	if err != nil {
		b.Fatal(err)
	}
	r := request("X-Hub-Signature-256", githubDocSignature)
	body := []byte(githubDocPayload)
	for b.Loop() {
		if _, err := g.Verify(r, body, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
