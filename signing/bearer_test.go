package signing

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewBearerValidation(t *testing.T) {
	badHash := "sha256:" + strings.Repeat("z", 64)
	tests := []struct {
		name   string
		tokens []string
		leak   string
	}{
		{"no tokens", nil, ""},
		{"empty token", []string{"a", ""}, ""},
		{"malformed hash", []string{badHash}, badHash},
		{"short hash", []string{"sha256:abcd"}, "sha256:abcd"},
		{"duplicate", []string{"tok-1", "tok-1"}, "tok-1"},
		{"duplicate as hash", []string{"tok-1", HashToken("tok-1")}, "tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBearer(tt.tokens)
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoLeak(t, err, tt.leak)
		})
	}
}

func TestBearerVerify(t *testing.T) {
	const (
		current = "tess-key-current-0123456789"
		next    = "tess-key-next-9876543210"
	)
	b, err := NewBearer([]string{current, HashToken(next)})
	if err != nil {
		t.Fatal(err)
	}
	fp := func(tok string) string { return "bearer:" + HashToken(tok)[len("sha256:"):][:12] }
	tests := []struct {
		name   string
		header string
		want   error
		who    string
	}{
		{"plaintext-configured token", "Bearer " + current, nil, fp(current)},
		{"hash-configured token (rotation)", "Bearer " + next, nil, fp(next)},
		{"lowercase scheme word", "bearer " + current, nil, fp(current)},
		{"uppercase scheme word", "BEARER " + current, nil, fp(current)},
		{"extra spaces", "Bearer   " + current + "  ", nil, fp(current)},
		{"wrong token", "Bearer " + current + "x", ErrInvalid, ""},
		{"truncated token", "Bearer " + current[:len(current)-1], ErrInvalid, ""},
		{"the hash is not the token", "Bearer " + HashToken(next), ErrInvalid, ""},
		{"no token", "Bearer ", ErrInvalid, ""},
		{"scheme word only", "Bearer", ErrInvalid, ""},
		{"oversized", "Bearer " + strings.Repeat("a", maxHeaderBytes), ErrInvalid, ""},
		{"missing", "", ErrMissing, ""},
		{"basic instead", "Basic YTpi", ErrMissing, ""},
		{"no space", "Bearer" + current, ErrMissing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			res, err := b.Verify(r, nil, time.Now())
			checkErr(t, err, tt.want, current, next, strings.TrimPrefix(tt.header, "Bearer "))
			if res.Principal != tt.who {
				t.Fatalf("Principal = %q, want %q", res.Principal, tt.who)
			}
		})
	}
}

// TestBearerKeepsOnlyHashes makes sure no plaintext token is retained.
func TestBearerKeepsOnlyHashes(t *testing.T) {
	b, err := NewBearer([]string{"plain-token"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.hashes) != 1 || b.hashes[0] != sha256.Sum256([]byte("plain-token")) {
		t.Fatal("token not stored as its SHA-256 hash")
	}
}

// FuzzBearerHeader feeds arbitrary Authorization values: no panic, and
// acceptance only of a header whose token independently hashes to a
// configured hash.
func FuzzBearerHeader(f *testing.F) {
	tokens := []string{"alpha-token", "beta-token"}
	b, err := NewBearer(tokens)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer alpha-token")
	f.Add("bearer  beta-token ")
	f.Add("Bearer " + HashToken("alpha-token"))
	f.Add("Bearer")
	f.Add("Basic alpha-token")
	f.Add("Bearer alpha-token\x00")
	f.Fuzz(func(t *testing.T, header string) {
		r := request()
		r.Header["Authorization"] = []string{header}
		res, err := b.Verify(r, nil, time.Now())
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error class: %v", err)
			}
			assertNoLeak(t, err, tokens...)
			return
		}
		scheme, rest, _ := strings.Cut(header, " ")
		token := strings.Trim(rest, " \t")
		if !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("accepted scheme %q", scheme)
		}
		sum := sha256.Sum256([]byte(token))
		if sum != sha256.Sum256([]byte(tokens[0])) && sum != sha256.Sum256([]byte(tokens[1])) {
			t.Fatalf("accepted token %q", token)
		}
		if res.Principal != "bearer:"+HashToken(token)[7:19] {
			t.Fatalf("Principal = %q", res.Principal)
		}
	})
}

func BenchmarkBearerVerify(b *testing.B) {
	tokens := make([]string, 10)
	for i := range tokens {
		tokens[i] = strings.Repeat(string(rune('a'+i)), 32)
	}
	v, err := NewBearer(tokens)
	if err != nil {
		b.Fatal(err)
	}
	r := request("Authorization", "Bearer "+tokens[9])
	for b.Loop() {
		if _, err := v.Verify(r, nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
