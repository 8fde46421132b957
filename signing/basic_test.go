package signing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testCost keeps bcrypt fast in tests; production hashes use 14.
const testCost = bcrypt.MinCost

func basicHeader(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

// newTestBasic is NewBasic with its own slots (two, so that tests running
// one check at a time never wait) and its own cache, so that no test sees
// another's cached checks.
func newTestBasic(t testing.TB, users ...BasicUser) *Basic {
	t.Helper()
	slots, err := NewHashSlots(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewPasswordCache(16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBasicWithOptions("", users, BasicOptions{Slots: slots, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := HashPassword(pw, testCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewBasicValidation(t *testing.T) {
	good := mustHash(t, "pw")
	md5crypt := "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"
	tests := []struct {
		name  string
		realm string
		users []BasicUser
		leak  string // must not appear in the error
	}{
		{"no users", "", nil, ""},
		{"empty username", "", []BasicUser{{"", good}}, ""},
		{"colon in username", "", []BasicUser{{"a:b", good}}, ""},
		{"duplicate", "", []BasicUser{{"ann", good}, {"ann", good}}, ""},
		{"plaintext password", "", []BasicUser{{"ann", "hunter2-plaintext"}}, "hunter2-plaintext"},
		{"md5-crypt", "", []BasicUser{{"ann", md5crypt}}, md5crypt},
		{"argon2id with a 4-byte salt", "", []BasicUser{{"ann", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}}, "c2FsdA$aGFzaA"},
		{"argon2i", "", []BasicUser{{"ann", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}, "aGFzaGhhc2hoYXNoaGFzaA"},
		{"truncated bcrypt", "", []BasicUser{{"ann", good[:40]}}, good[:40]},
		{"garbled bcrypt cost", "", []BasicUser{{"ann", "$2a$x9" + good[6:]}}, good[7:]},
		{"quote in realm", `a"b`, []BasicUser{{"ann", good}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBasic(tt.realm, tt.users)
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoLeak(t, err, tt.leak)
		})
	}
}

func TestNewBasicAcceptsAllBcryptVariants(t *testing.T) {
	h := mustHash(t, "pw") // $2a$
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		variant := prefix + h[4:]
		b, err := NewBasic("", []BasicUser{{"ann", variant}})
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if _, err := b.Verify(request("Authorization", basicHeader("ann:pw")), nil, time.Now()); err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
	}
}

func TestBasicVerify(t *testing.T) {
	b := newTestBasic(t,
		BasicUser{"ann", mustHash(t, "correct horse")},
		BasicUser{"bob", mustHash(t, "pass:with:colons")},
	)
	tests := []struct {
		name   string
		header string // "" means no Authorization header
		want   error
		who    string
	}{
		{"known user, right password", basicHeader("ann:correct horse"), nil, "basic:ann"},
		{"lowercase scheme word", "basic " + base64.StdEncoding.EncodeToString([]byte("ann:correct horse")), nil, "basic:ann"},
		{"password with colons", basicHeader("bob:pass:with:colons"), nil, "basic:bob"},
		{"known user, wrong password", basicHeader("ann:wrong"), ErrInvalid, ""},
		{"known user, empty password", basicHeader("ann:"), ErrInvalid, ""},
		{"password of another user", basicHeader("ann:pass:with:colons"), ErrInvalid, ""},
		{"unknown user", basicHeader("eve:correct horse"), ErrInvalid, ""},
		{"username case matters", basicHeader("Ann:correct horse"), ErrInvalid, ""},
		{"malformed base64", "Basic !!!not-base64!!!", ErrInvalid, ""},
		{"unpadded base64", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("ann:correct horse")), ErrInvalid, ""},
		{"no colon", basicHeader("ann"), ErrInvalid, ""},
		{"NUL alias of the password", basicHeader("ann:correct horse\x00correct horse"), ErrInvalid, ""},
		{"empty username", basicHeader(":correct horse"), ErrInvalid, ""},
		{"scheme word only", "Basic", ErrInvalid, ""},
		{"oversized", "Basic " + strings.Repeat("A", maxHeaderBytes), ErrInvalid, ""},
		{"missing header", "", ErrMissing, ""},
		{"bearer instead", "Bearer abc", ErrMissing, ""},
		{"unknown scheme", "Digest username=ann", ErrMissing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			res, err := b.Verify(r, nil, time.Now())
			checkErr(t, err, tt.want, "correct horse", "pass:with:colons")
			if res.Principal != tt.who {
				t.Fatalf("Principal = %q, want %q", res.Principal, tt.who)
			}
			if user := strings.TrimPrefix(tt.who, "basic:"); res.User != user {
				t.Fatalf("User = %q, want %q", res.User, user)
			}
			if (res.KeyID != "") != (tt.who != "") {
				t.Fatalf("KeyID = %q with Principal %q", res.KeyID, res.Principal)
			}
			if res.ReplayKey != "" {
				t.Fatalf("unexpected ReplayKey %q", res.ReplayKey)
			}
		})
	}
}

// TestBasicUnknownUserComparesFakeHash checks the timing defence without
// timing anything: the unknown-user path must run a bcrypt comparison
// against the fake hash, whose cost is that of the configured hashes.
func TestBasicUnknownUserComparesFakeHash(t *testing.T) {
	realHash := mustHash(t, "pw")
	b := newTestBasic(t, BasicUser{"ann", realHash})
	if cost, err := bcrypt.Cost(b.fake.raw); err != nil || cost != testCost {
		t.Fatalf("fake hash cost = %d, %v; want %d", cost, err, testCost)
	}

	var compared [][]byte
	b.compare = func(h *passwordHash, pw []byte) bool {
		compared = append(compared, h.raw)
		return h.matches(pw)
	}

	tests := []struct {
		header   string
		wantHash []byte
	}{
		{basicHeader("eve:pw"), b.fake.raw},
		{basicHeader("ann:nope"), []byte(realHash)},
		{basicHeader("ann:pw"), []byte(realHash)},
	}
	for _, tt := range tests {
		compared = nil
		_, _ = b.Verify(request("Authorization", tt.header), nil, time.Now())
		if len(compared) != 1 || !bytes.Equal(compared[0], tt.wantHash) {
			t.Fatalf("%s: compared against %q, want exactly one comparison against %q", tt.header, compared, tt.wantHash)
		}
	}

	// Even if the fake password were somehow guessed, an unknown user
	// must not get in, and must not be cached as if it had.
	b.compare = func(*passwordHash, []byte) bool { return true }
	for range 2 {
		if _, err := b.Verify(request("Authorization", basicHeader("eve:anything")), nil, time.Now()); !errors.Is(err, ErrInvalid) {
			t.Fatalf("unknown user accepted: %v", err)
		}
	}
}

func TestBasicFakeHashUsesHighestCost(t *testing.T) {
	cheap := mustHash(t, "pw")
	dearer, err := HashPassword("pw", testCost+1)
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBasic(t, BasicUser{"a", cheap}, BasicUser{"b", dearer})
	if cost, _ := bcrypt.Cost(b.fake.raw); cost != testCost+1 {
		t.Fatalf("fake hash cost = %d, want %d", cost, testCost+1)
	}
	again := newTestBasic(t, BasicUser{"c", dearer})
	if !bytes.Equal(again.fake.raw, b.fake.raw) {
		t.Fatal("fake hash of the same cost was generated twice instead of reused")
	}
}

func TestBasicChallenge(t *testing.T) {
	h := mustHash(t, "pw")
	b, _ := NewBasic("", []BasicUser{{"ann", h}})
	if got, want := b.Challenge(), `Basic realm="agenthook"`; got != want {
		t.Errorf("Challenge() = %q, want %q", got, want)
	}
	b, _ = NewBasic("support prompts", []BasicUser{{"ann", h}})
	if got, want := b.Challenge(), `Basic realm="support prompts"`; got != want {
		t.Errorf("Challenge() = %q, want %q", got, want)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret", testCost)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$04$") || bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")) != nil {
		t.Fatalf("unexpected hash %q", h)
	}
	for _, tt := range []struct {
		pw   string
		cost int
	}{
		{"", testCost},
		{"pw", 3},
		{"pw", 32},
		{strings.Repeat("x", 73), testCost},
		{"pw\x00", testCost},
	} {
		if _, err := HashPassword(tt.pw, tt.cost); err == nil {
			t.Errorf("HashPassword(%d bytes, %d) succeeded", len(tt.pw), tt.cost)
		} else {
			assertNoLeak(t, err, tt.pw)
		}
	}
}

// FuzzBasicHeader feeds arbitrary Authorization values. Verify must never
// panic, and must only succeed for a header that independently decodes to
// the configured user and a password bcrypt accepts.
func FuzzBasicHeader(f *testing.F) {
	hash := mustHash(f, "s3cret")
	b := newTestBasic(f, BasicUser{"alice", hash})
	f.Add(basicHeader("alice:s3cret"))
	f.Add(basicHeader("alice:wrong"))
	f.Add(basicHeader("bob:s3cret"))
	f.Add("Basic ")
	f.Add("Basic YWxpY2U=")
	f.Add("basic\tYWxpY2U6czNjcmV0")
	f.Add("Bearer x")
	f.Add("Basic ====")
	f.Fuzz(func(t *testing.T, header string) {
		r := request()
		r.Header["Authorization"] = []string{header}
		res, err := b.Verify(r, nil, time.Now())
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// Independent check of what was accepted.
		scheme, rest, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "basic") {
			t.Fatalf("accepted scheme %q", scheme)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.Trim(rest, " \t"))
		if err != nil {
			t.Fatalf("accepted undecodable credentials: %v", err)
		}
		user, pw, ok := strings.Cut(string(raw), ":")
		if !ok || user != "alice" || res.Principal != "basic:alice" || res.User != "alice" {
			t.Fatalf("accepted user %q as %q", user, res.Principal)
		}
		if strings.IndexByte(pw, 0) >= 0 || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil {
			t.Fatalf("accepted a password bcrypt rejects")
		}
	})
}

// BenchmarkBasicVerify measures a cached check: what every request after
// the first costs.
func BenchmarkBasicVerify(b *testing.B) {
	v := newTestBasic(b, BasicUser{"ann", mustHash(b, "pw")})
	r := request("Authorization", basicHeader("ann:pw"))
	for b.Loop() {
		if _, err := v.Verify(r, nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
