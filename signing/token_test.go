package signing

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestHashToken(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	want := "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %q, want %q", got, want)
	}
}

func TestIsHashedToken(t *testing.T) {
	h := HashToken("abc")
	tests := []struct {
		in   string
		want bool
	}{
		{h, true},
		{strings.ToUpper(h[:7]) + h[7:], false}, // prefix is case-sensitive
		{h[:7] + strings.ToUpper(h[7:]), true},  // hex digits are not
		{h[:len(h)-1], false},
		{h + "0", false},
		{"sha256:" + strings.Repeat("g", 64), false},
		{"abc", false},
		{"", false},
		{"sha256:", false},
	}
	for _, tt := range tests {
		if got := IsHashedToken(tt.in); got != tt.want {
			t.Errorf("IsHashedToken(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTokenSetAdd(t *testing.T) {
	s := NewTokenSet()
	if err := s.Add("docs", "tok-docs"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("docs", HashToken("tok-docs-2")); err != nil {
		t.Fatal("a second token for the same agent must be allowed:", err)
	}
	tests := []struct {
		name, agent, token string
	}{
		{"empty name", "", "x"},
		{"empty token", "sales", ""},
		{"malformed hash", "sales", "sha256:nothex"},
		{"duplicate plaintext", "sales", "tok-docs"},
		{"duplicate given as hash", "sales", HashToken("tok-docs")},
		{"duplicate hash given as plaintext", "sales", "tok-docs-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Add(tt.agent, tt.token)
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoLeak(t, err, tt.token)
		})
	}
	if s.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", s.Len())
	}
}

func TestTokenSetLookup(t *testing.T) {
	s := NewTokenSet()
	for i, agent := range []string{"docs", "sales", "support"} {
		if err := s.Add(agent, fmt.Sprintf("token-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add("sales", HashToken("rotated-sales")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		presented, want string
		ok              bool
	}{
		{"token-0", "docs", true},
		{"token-1", "sales", true},
		{"token-2", "support", true},
		{"rotated-sales", "sales", true},
		{"token-3", "", false},
		{"token-", "", false},
		{"", "", false},
		{HashToken("token-0"), "", false}, // a hash is not a token
		{strings.Repeat("x", maxHeaderBytes+1), "", false},
	}
	for _, tt := range tests {
		name, ok := s.Lookup(tt.presented)
		if name != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%.20q) = %q, %v; want %q, %v", tt.presented, name, ok, tt.want, tt.ok)
		}
	}
	if _, ok := NewTokenSet().Lookup("anything"); ok {
		t.Error("empty set matched")
	}
}

// TestTokenSetConcurrent runs Add and Lookup side by side; run with -race.
func TestTokenSetConcurrent(t *testing.T) {
	s := NewTokenSet()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				tok := fmt.Sprintf("t-%d-%d", i, j)
				if err := s.Add(fmt.Sprintf("agent-%d", i), tok); err != nil {
					t.Error(err)
					return
				}
				if name, ok := s.Lookup(tok); !ok || name != fmt.Sprintf("agent-%d", i) {
					t.Errorf("Lookup(%s) = %q, %v", tok, name, ok)
					return
				}
			}
		})
	}
	wg.Wait()
	if s.Len() != 400 {
		t.Fatalf("Len() = %d, want 400", s.Len())
	}
}

func BenchmarkTokenSetLookup(b *testing.B) {
	s := NewTokenSet()
	for i := range 100 {
		if err := s.Add(fmt.Sprintf("agent-%d", i), fmt.Sprintf("token-%032d", i)); err != nil {
			b.Fatal(err)
		}
	}
	want := fmt.Sprintf("token-%032d", 99)
	for b.Loop() {
		if _, ok := s.Lookup(want); !ok {
			b.Fatal("not found")
		}
	}
}
